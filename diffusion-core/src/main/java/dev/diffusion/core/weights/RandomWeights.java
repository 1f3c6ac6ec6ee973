package dev.diffusion.core.weights;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tensorflow.Graph;

/**
 * Seeded random weights for any network, shaped by what the network asks for: a network built
 * on this source {@linkplain #declare declares} each key, shape and kind as it goes, and gets
 * values a {@link Distribution} draws for (seed, key) — so the same key always gets the same
 * values, whatever order the network asks in and whichever other keys exist. This is how tiny
 * models are made (tests, {@link TinyStableDiffusion}, the built-in {@code tiny-random} model,
 * the trainer's starting weights): the network code is the only list of keys, and
 * {@link #declaredBy} runs it into a throwaway graph to learn them; {@link #snapshot} turns what
 * was declared into a {@link MapWeights} to write as files.
 */
public final class RandomWeights implements Weights {

    /** What a tensor is to the network, as {@link Nn} asks for it. */
    public enum Kind {
        /** A linear or convolution weight ({@link Nn#linearWeight}, {@link Nn#convWeight}); fan-in = elements / shape[0]. */
        MATRIX,
        /** A bias. */
        BIAS,
        /** A norm's scale (a one-dimensional weight that is not a bias). */
        SCALE,
        /** Any other stored tensor (token and position embeddings). */
        EMBEDDING
    }

    /** Draws a tensor's values; must depend on (seed, key, kind, shape) only. */
    @FunctionalInterface
    public interface Distribution {
        float[] draw(long seed, String key, Kind kind, long[] shape);
    }

    private final long seed;
    private final Distribution distribution;
    private final Map<String, Declared> declared = new LinkedHashMap<>();

    private record Declared(long[] shape, Kind kind) {}

    public RandomWeights(long seed, Distribution distribution) {
        this.seed = seed;
        this.distribution = distribution;
    }

    /**
     * The convention of {@code make_random_sd15.py} (and of the built-in {@code tiny-random} model):
     * matrices and embeddings N(0, std²), biases 0, norm scales 1.
     */
    public static Distribution normal(double std) {
        return (seed, key, kind, shape) -> {
            float[] v = new float[elements(shape)];
            switch (kind) {
                case SCALE -> java.util.Arrays.fill(v, 1f);
                case BIAS -> { }
                default -> {
                    SplittableRandom r = stream(seed, key);
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (gaussian(r) * std);
                    }
                }
            }
            return v;
        };
    }

    /**
     * Scaled so that activations keep their size through any depth, with every bias and norm
     * parameter away from its neutral value (so a swapped or ignored one shows): matrices
     * N(0, 1/fan_in), biases and embeddings N(0, spread²), norm scales 1 + N(0, spread²).
     * ({@link TinyStableDiffusion}'s models use spread 0.02; its per-key stream,
     * {@code java.util.Random(seed·1000003 + key.hashCode())}, is kept so they stay what they were.)
     */
    public static Distribution fanIn(double spread) {
        return (seed, key, kind, shape) -> {
            int n = elements(shape);
            double std = kind == Kind.MATRIX ? 1 / Math.sqrt((double) (n / shape[0])) : spread;
            double mean = kind == Kind.SCALE ? 1 : 0;
            Random random = new Random(seed * 1_000_003L + key.hashCode());
            float[] v = new float[n];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (mean + std * random.nextGaussian());
            }
            return v;
        };
    }

    /** Called by the graph builder before it reads {@code key}; {@code matrix}: a linear or convolution weight. */
    public void declare(String key, long[] shape, boolean matrix) {
        Kind kind = matrix ? Kind.MATRIX : key.endsWith(".bias") ? Kind.BIAS : shape.length == 1 ? Kind.SCALE : Kind.EMBEDDING;
        declared.put(key, new Declared(shape.clone(), kind));
    }

    /**
     * Runs {@code build} (which builds one or more networks on the given {@link Nn}) into a
     * throwaway graph over these weights: every key, shape and kind the networks ask for is
     * declared; no session is made and no value drawn.
     */
    public RandomWeights declaredBy(Consumer<Nn> build) {
        try (Graph g = dev.diffusion.core.nn.TfNetwork.newGraph()) {
            build.accept(new Nn(g, this, Precision.FP32));
        }
        return this;
    }

    @Override
    public Set<String> keys() {
        return Collections.unmodifiableSet(declared.keySet());
    }

    @Override
    public TensorInfo info(String key) {
        return new TensorInfo(key, "F32", get(key).shape().clone());
    }

    @Override
    public float[] floats(String key) {
        Declared d = get(key);
        return distribution.draw(seed, key, d.kind(), d.shape().clone());
    }

    /** Everything declared so far, with its values, in the order it was declared. */
    public MapWeights snapshot() {
        MapWeights out = new MapWeights();
        for (Map.Entry<String, Declared> e : declared.entrySet()) {
            out.put(e.getKey(), e.getValue().shape(), floats(e.getKey()));
        }
        return out;
    }

    private Declared get(String key) {
        Declared d = declared.get(key);
        if (d == null) {
            throw new WeightsException("random weights: " + key + " was never declared");
        }
        return d;
    }

    /** The per-key stream of {@link #normal}: seeded by (seed, key) only. */
    public static SplittableRandom stream(long seed, String key) {
        return new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ key.hashCode());
    }

    /** A standard normal draw (Box–Muller; SplittableRandom has no nextGaussian on Java 17). */
    public static double gaussian(SplittableRandom r) {
        double u1 = 1.0 - r.nextDouble();
        double u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    public static int elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return Math.toIntExact(n);
    }
}
