package dev.diffusion.core.pipeline;

import dev.diffusion.core.image.GenerationParameters;

/**
 * One finished image: 8-bit RGB pixels, the PNG with its {@code parameters} chunk, and the raw
 * final latent (NHWC) and decoded image (NHWC, decoder range ≈[−1, 1]) for tests and previews.
 */
public record GeneratedImage(int index, long seed, int width, int height, byte[] rgb, byte[] png,
                             GenerationParameters parameters, float[] latent, float[] decoded) {}
