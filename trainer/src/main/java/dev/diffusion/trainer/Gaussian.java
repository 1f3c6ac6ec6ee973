package dev.diffusion.trainer;

import java.util.SplittableRandom;

/** Seeded standard normal draws (Box–Muller; SplittableRandom has no nextGaussian on Java 17). */
final class Gaussian {
    private Gaussian() {}

    static float[] fill(SplittableRandom rng, float[] out) {
        for (int i = 0; i < out.length; i += 2) {
            double u1 = 1.0 - rng.nextDouble();
            double u2 = rng.nextDouble();
            double r = Math.sqrt(-2 * Math.log(u1));
            out[i] = (float) (r * Math.cos(2 * Math.PI * u2));
            if (i + 1 < out.length) {
                out[i + 1] = (float) (r * Math.sin(2 * Math.PI * u2));
            }
        }
        return out;
    }
}
