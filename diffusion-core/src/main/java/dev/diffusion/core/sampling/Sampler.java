package dev.diffusion.core.sampling;

/**
 * One sampler step, k-diffusion style: with the model's denoised estimate at {@code sigma}, move
 * {@code x} (variance-exploding scale) to {@code sigmaNext}, in place. Everything that persists between
 * steps (previous denoised, noise stream) is in the job's {@link SamplerState}; samplers are stateless
 * and shared.
 */
public interface Sampler {

    /** The canonical name (as {@link SamplerSpec#parse} gives it). */
    String name();

    void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state);
}
