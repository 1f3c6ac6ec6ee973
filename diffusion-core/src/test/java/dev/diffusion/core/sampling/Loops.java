package dev.diffusion.core.sampling;

import java.util.Arrays;

/** The production loop ({@link GuidedSampling}) driven by test stand-ins for the U-Net. */
final class Loops {
    private Loops() {}

    /** A stand-in for the U-Net on the whole batch: scaled latents and the step's timestep → ε (or v). */
    @FunctionalInterface
    interface Eps {
        float[] predict(float[] scaledLatents, double timestep);
    }

    /** A stand-in for the U-Net on the [uncond, cond] pair: returns {uncond, cond}. */
    @FunctionalInterface
    interface Pair {
        float[][] predict(float[] scaledLatents, double timestep);
    }

    static SamplingLoop of(String sampler, int steps, SchedulerConfig config) {
        return SamplingLoop.of(SamplerSpec.parse(sampler), steps, config);
    }

    static float[] run(SamplingLoop loop, Eps model, SamplerState state) {
        return run(loop, model, state, GuidedSampling.Observer.NONE);
    }

    /** Unguided (cfg 1): one U-Net call per step on the latents as they are. */
    static float[] run(SamplingLoop loop, Eps model, SamplerState state, GuidedSampling.Observer observer) {
        return new GuidedSampling(loop, (latents, shape, timesteps, context) -> model.predict(latents, timesteps[0]),
                new float[2], 1.0).run(state, observer);
    }

    /** Guided: the pair's first half is the latents the stand-in sees; its two outputs go back as one batch. */
    static float[] runGuided(SamplingLoop loop, Pair model, double cfg, SamplerState state, GuidedSampling.Observer observer) {
        return new GuidedSampling(loop, (latents, shape, timesteps, context) -> {
            float[][] p = model.predict(Arrays.copyOf(latents, latents.length / 2), timesteps[0]);
            float[] both = Arrays.copyOf(p[0], p[0].length + p[1].length);
            System.arraycopy(p[1], 0, both, p[0].length, p[1].length);
            return both;
        }, new float[2], cfg).run(state, observer);
    }
}
