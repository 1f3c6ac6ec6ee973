package dev.diffusion.core.testing;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.RandomWeights;
import dev.diffusion.core.weights.Weights;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Seeded weights for the modules a test builds, keyed by the module tree itself (no key lists in
 * tests): {@code build} constructs the layers on an {@link Nn} and {@link RandomWeights} records what
 * they ask for. Values where every tensor matters: matrices N(0, 1/fan_in) so activations keep their
 * scale through the depth, biases and embeddings N(0, 0.1²) and norm scales 1 + N(0, 0.1²), so that a
 * swapped or ignored scale or bias shows.
 */
public final class TestWeights {
    public static final double SPREAD = 0.1;

    private TestWeights() {}

    public static MapWeights random(long seed, Consumer<Nn> build) {
        return random(seed, SPREAD, build);
    }

    public static MapWeights random(long seed, double spread, Consumer<Nn> build) {
        return new RandomWeights(seed, RandomWeights.fanIn(spread)).declaredBy(build).snapshot();
    }

    /** A float input with every dimension free. */
    public static Placeholder<TFloat32> input(Nn nn, int rank) {
        long[] dims = new long[rank];
        Arrays.fill(dims, -1);
        return nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(dims)));
    }

    /** Token ids [batch, length]. */
    public static Placeholder<TInt32> tokenIds(Nn nn, int length) {
        return nn.tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, length)));
    }

    /**
     * Pins a key list without copying it: the first 16 hex digits of the SHA-256 of the sorted lines
     * {@code key [shape]} (shape as {@link Arrays#toString(long[])}), each ending in a newline.
     */
    public static String fingerprint(Weights w) {
        TreeMap<String, String> sorted = new TreeMap<>();
        w.keys().forEach(k -> sorted.put(k, Arrays.toString(w.info(k).shape())));
        StringBuilder text = new StringBuilder();
        sorted.forEach((k, shape) -> text.append(k).append(' ').append(shape).append('\n'));
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Elements of the tensors whose keys start with one of {@code prefixes} (all tensors when none are given). */
    public static long elements(Weights w, String... prefixes) {
        long n = 0;
        for (String k : w.keys()) {
            if (prefixes.length == 0 || Arrays.stream(prefixes).anyMatch(k::startsWith)) {
                n += RandomWeights.elements(w.info(k).shape());
            }
        }
        return n;
    }
}
