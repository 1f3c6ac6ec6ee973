package dev.diffusion.core.sampling;

/**
 * The network as samplers call it: given the scaled latents x * c_in (the whole batch, in the
 * pipeline's layout) and the U-Net timestep (fractional for Karras sigmas), the predicted noise (or v),
 * same length. Classifier-free guidance happens inside: see {@link Guidance#classifierFree}.
 */
@FunctionalInterface
public interface NoisePredictor {
    float[] predict(float[] scaledLatents, double timestep);
}
