package dev.diffusion.trainer;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.RandomWeights;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tensorflow.Graph;

/**
 * Starting weights for training, shaped by what the networks ask for: the networks are first
 * built into a throwaway graph over {@link RandomWeights} (which records every key and shape),
 * then each key gets PyTorch's default initialisation — linear and convolution weights uniform in
 * ±1/√fan_in (kaiming_uniform with a = √5, as {@code nn.Linear}/{@code nn.Conv2d} do), biases 0,
 * norm scales 1, embeddings N(0, 0.02²) as transformers' CLIP does. Seeded per key.
 */
final class InitialWeights {
    private InitialWeights() {}

    static MapWeights of(Consumer<Nn> build, long seed) {
        RandomWeights shapes = new RandomWeights(0, 0);
        try (Graph g = TfNetwork.newGraph()) {
            build.accept(new Nn(g, shapes, Precision.FP32));
        }
        MapWeights out = new MapWeights();
        for (String key : shapes.keys()) {
            long[] shape = shapes.info(key).shape();
            out.put(key, shape, values(key, shape, seed));
        }
        return out;
    }

    static float[] values(String key, long[] shape, long seed) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[Math.toIntExact(n)];
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ key.hashCode());
        if (key.endsWith(".bias")) {
            return v;
        }
        if (key.endsWith("_embedding.weight")) {
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.02 * gaussian(rng));
            }
            return v;
        }
        if (shape.length == 1) { // GroupNorm / LayerNorm scale
            java.util.Arrays.fill(v, 1f);
            return v;
        }
        long fanIn = n / shape[0];
        double bound = 1.0 / Math.sqrt(fanIn);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        }
        return v;
    }

    private static double gaussian(SplittableRandom r) {
        double u1 = 1.0 - r.nextDouble();
        double u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
