package dev.diffusion.core.sampling;

/**
 * Drives a sampler over a schedule. Immutable and shareable across jobs; each job's progress is its
 * {@link SamplerState}: {@link #start} (or {@link #startFrom} for img2img), then per step {@link #timestep} and
 * {@link #modelInput} give the U-Net's inputs and {@link #advance} takes its (guided) output; {@link #output} at the
 * end. {@link GuidedSampling} is the loop over these.
 */
public final class SamplingLoop {
    private final Sampler sampler;
    private final SigmaSchedule schedule;
    private final PredictionType predictionType;
    /** Turns a sigma off the schedule (a two-stage sampler's intermediate point) into a U-Net timestep; may be null. */
    private final NoiseSchedule table;

    public SamplingLoop(Sampler sampler, SigmaSchedule schedule, PredictionType predictionType) {
        this(sampler, schedule, predictionType, null);
    }

    public SamplingLoop(Sampler sampler, SigmaSchedule schedule, PredictionType predictionType, NoiseSchedule table) {
        this.sampler = sampler;
        this.schedule = schedule;
        this.predictionType = predictionType;
        this.table = table;
    }

    /** Sampler and schedule for a sampler and step count, from the model's scheduler config. */
    public static SamplingLoop of(SamplerSpec spec, int steps, SchedulerConfig config) {
        NoiseSchedule table = NoiseSchedule.of(config);
        return new SamplingLoop(Sampler.create(spec.kind()), SigmaSchedule.forSampler(spec, config, table, steps),
                config.predictionType(), table);
    }

    /** The same loop entered at step {@code first} of its schedule (img2img: the steps that strength leaves). */
    public SamplingLoop fromStep(int first) {
        return new SamplingLoop(sampler, schedule.fromStep(first), predictionType, table);
    }

    public Sampler sampler() {
        return sampler;
    }

    public SigmaSchedule schedule() {
        return schedule;
    }

    public PredictionType predictionType() {
        return predictionType;
    }

    /**
     * A new job: per-image streams seeded seed + i; the first draw (offset 0 for Philox) times the
     * schedule's initial sigma is the starting latent; ancestral steps continue the same streams.
     */
    public SamplerState start(RngKind rng, long seed, LatentShape shape) {
        SamplerState state = SamplerState.create(rng, seed, shape);
        float[] x = state.nextNoise();
        float scale = (float) schedule.initNoiseSigma();
        for (int i = 0; i < x.length; i++) {
            x[i] *= scale;
        }
        state.setX(x);
        return state;
    }

    /**
     * img2img: the init image's latent plus the seed's first noise draw at the schedule's first sigma (x = z + σ·n,
     * k-diffusion's "noise to strength"); ancestral steps continue the same streams.
     */
    public SamplerState startFrom(RngKind rng, long seed, LatentShape shape, float[] initLatent) {
        SamplerState state = SamplerState.create(rng, seed, shape);
        float[] noise = state.nextNoise();
        float sigma = (float) schedule.initNoiseSigma();
        float[] x = new float[noise.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = initLatent[i] + sigma * noise[i];
        }
        state.setX(x);
        return state;
    }

    public boolean done(SamplerState state) {
        return state.stepIndex() >= schedule.steps();
    }

    /**
     * The U-Net timestep of the state's next model evaluation: its step's, or for the second evaluation of a
     * {@link TwoStageSampler}'s step the timestep of that evaluation's sigma (the next step's when it is on the
     * schedule, else k-diffusion's log-sigma interpolation of the training table).
     */
    public double timestep(SamplerState state) {
        int i = checkNotDone(state);
        double stage = state.stageSigma();
        if (Double.isNaN(stage)) {
            return schedule.timestep(i);
        }
        if (stage == schedule.sigma(i + 1)) {
            return schedule.timestep(i + 1);
        }
        if (table == null) {
            throw new IllegalStateException(sampler.name() + " needs the noise table to time sigma " + stage);
        }
        return table.sigmaToT(stage);
    }

    /** The sigma of the state's next model evaluation (see {@link #timestep}). */
    public double sigma(SamplerState state) {
        int i = checkNotDone(state);
        double stage = state.stageSigma();
        return Double.isNaN(stage) ? schedule.sigma(i) : stage;
    }

    /** The U-Net input for the next model evaluation: x * c_in, a new array. */
    public float[] modelInput(SamplerState state) {
        double cIn = PredictionType.cIn(sigma(state));
        float[] x = state.x();
        float[] in = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            in[i] = (float) (x[i] * cIn);
        }
        return in;
    }

    /**
     * Takes the (guided) model output for {@link #modelInput} and moves the sampler on: one step, or for a
     * {@link TwoStageSampler} one of its two evaluations (the state's step index advances when the step is done).
     * Returns the denoised estimate of this evaluation.
     */
    public float[] advance(SamplerState state, float[] modelOutput) {
        int i = checkNotDone(state);
        double sigma = schedule.sigma(i);
        double sigmaNext = schedule.sigma(i + 1);
        double stage = state.stageSigma();
        float[] denoised = predictionType.denoised(state.x(), modelOutput, Double.isNaN(stage) ? sigma : stage);
        state.applyMask(denoised); // inpainting: A1111's CFGDenoiser blends the denoised estimate
        if (sampler instanceof TwoStageSampler two) {
            if (Double.isNaN(stage)) {
                double next = two.firstStage(state.x(), denoised, sigma, sigmaNext, state);
                if (!Double.isNaN(next)) {
                    state.beginStage(next);
                    return denoised;
                }
            } else {
                two.secondStage(state.x(), denoised, sigma, stage, sigmaNext, state);
                state.endStage();
            }
        } else {
            sampler.step(state.x(), denoised, sigma, sigmaNext, state);
        }
        state.advanceStep();
        return denoised;
    }

    /**
     * The final latent in the model's own (variance-preserving) scale, x / sqrt(sigma_end^2 + 1): the
     * latent itself when sampling ends at sigma 0, the diffusers DDIM output when it ends at sigma_0.
     */
    public float[] output(SamplerState state) {
        double scale = PredictionType.cIn(schedule.sigma(schedule.steps()));
        float[] x = state.x();
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) (x[i] * scale);
        }
        state.applyMask(out); // inpainting: and the final samples
        return out;
    }

    private int checkNotDone(SamplerState state) {
        int i = state.stepIndex();
        if (i >= schedule.steps()) {
            throw new IllegalStateException("sampling already finished (" + schedule.steps() + " steps)");
        }
        return i;
    }
}
