package dev.diffusion.core.sampling;

/**
 * Drives a sampler over a schedule. Immutable and shareable across jobs; each job's progress is its
 * {@link SamplerState}. Two ways to use it:
 * <ul>
 * <li>in process: {@link #start} then {@link #run}, which calls the predictor once per step;</li>
 * <li>step by step (orchestrator, remote U-Net): {@link #timestep} and {@link #modelInput} give the
 * U-Net's inputs, {@link #advance} takes its (guided) output; {@link #output} at the end.</li>
 * </ul>
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

    /** Sampler and schedule for a user's sampler name and step count, from the model's scheduler config. */
    public static SamplingLoop of(String samplerName, int steps, SchedulerConfig config) {
        SamplerSpec spec = SamplerSpec.parse(samplerName);
        NoiseSchedule table = NoiseSchedule.of(config);
        return new SamplingLoop(spec.kind().create(), SigmaSchedule.forSampler(spec, config, table, steps),
                config.predictionType());
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

    /** Runs the remaining steps; returns {@link #output}. */
    public float[] run(NoisePredictor model, SamplerState state, StepCallback callback) {
        int total = schedule.steps();
        while (!done(state)) {
            float[] out = model.predict(modelInput(state), timestep(state));
            float[] denoised = advance(state, out);
            callback.onStep(state.stepIndex(), total, state.x(), denoised);
        }
        return output(state);
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
