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

    public SamplingLoop(Sampler sampler, SigmaSchedule schedule, PredictionType predictionType) {
        this.sampler = sampler;
        this.schedule = schedule;
        this.predictionType = predictionType;
    }

    /** Sampler and schedule for a sampler and step count, from the model's scheduler config. */
    public static SamplingLoop of(SamplerSpec spec, int steps, SchedulerConfig config) {
        NoiseSchedule table = NoiseSchedule.of(config);
        return new SamplingLoop(Sampler.create(spec.kind()), SigmaSchedule.forSampler(spec, config, table, steps),
                config.predictionType());
    }

    /** The same loop entered at step {@code first} of its schedule (img2img: the steps that strength leaves). */
    public SamplingLoop fromStep(int first) {
        return new SamplingLoop(sampler, schedule.fromStep(first), predictionType);
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

    /** The U-Net timestep of the state's next step. */
    public double timestep(SamplerState state) {
        return schedule.timestep(checkNotDone(state));
    }

    public double sigma(SamplerState state) {
        return schedule.sigma(checkNotDone(state));
    }

    /** The U-Net input for the next step: x * c_in, a new array. */
    public float[] modelInput(SamplerState state) {
        double cIn = PredictionType.cIn(schedule.sigma(checkNotDone(state)));
        float[] x = state.x();
        float[] in = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            in[i] = (float) (x[i] * cIn);
        }
        return in;
    }

    /** Applies one step given the (guided) model output for {@link #modelInput}; returns the denoised estimate. */
    public float[] advance(SamplerState state, float[] modelOutput) {
        int i = checkNotDone(state);
        double sigma = schedule.sigma(i);
        float[] denoised = predictionType.denoised(state.x(), modelOutput, sigma);
        sampler.step(state.x(), denoised, sigma, schedule.sigma(i + 1), state);
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
