package dev.diffusion.trainer;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.RandomWeights;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Starting weights for training, shaped by what the networks ask for: the networks are built into
 * a throwaway graph over {@link RandomWeights} (which records every key, shape and kind), and each
 * key gets PyTorch's default initialisation — linear and convolution weights uniform in
 * ±1/√fan_in (kaiming_uniform with a = √5, as {@code nn.Linear}/{@code nn.Conv2d} do), biases 0,
 * norm scales 1, embeddings N(0, 0.02²) as transformers' CLIP does. Seeded per key.
 */
final class InitialWeights {
    private InitialWeights() {}

    static MapWeights of(Consumer<Nn> build, long seed) {
        return new RandomWeights(seed, InitialWeights::values).declaredBy(build).snapshot();
    }

    static float[] values(long seed, String key, RandomWeights.Kind kind, long[] shape) {
        float[] v = new float[RandomWeights.elements(shape)];
        SplittableRandom rng = RandomWeights.stream(seed, key);
        switch (kind) {
            case BIAS -> { }
            case SCALE -> Arrays.fill(v, 1f);
            case EMBEDDING -> {
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (0.02 * RandomWeights.gaussian(rng));
                }
            }
            case MATRIX -> {
                double bound = 1.0 / Math.sqrt(v.length / shape[0]);
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
                }
            }
        }
        return v;
    }
}
