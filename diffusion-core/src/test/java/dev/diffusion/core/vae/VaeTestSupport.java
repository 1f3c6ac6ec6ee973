package dev.diffusion.core.vae;

import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.MapWeights;
import java.util.Random;

/** Tiny random VAEs and their inputs (the real checkpoint and the sd.cpp fixtures: {@link dev.diffusion.core.testing.Fixtures}). */
final class VaeTestSupport {
    private VaeTestSupport() {}

    /**
     * Seeded random weights ({@link TestWeights}, spread 0.2) for every key an AutoencoderKL of this config reads: the
     * encoder (with {@code quant_conv}) and the decoder (with {@code post_quant_conv}) declare them.
     */
    static MapWeights randomWeights(VaeConfig cfg, long seed) {
        return TestWeights.random(seed, 0.2, nn -> {
            AutoencoderKL.buildEncoder(nn, cfg, TestWeights.input(nn, 4));
            AutoencoderKL.buildDecoder(nn, cfg, TestWeights.input(nn, 4));
        });
    }

    static float[] gauss(Random rnd, int n, double std, double mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + std * rnd.nextGaussian());
        }
        return v;
    }
}
