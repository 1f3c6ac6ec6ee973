package dev.diffusion.core.weights;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Seeded random weights for any network, shaped by what the network asks for: a network built
 * on this source {@linkplain #declare declares} each key and shape as it goes, and gets values
 * drawn from a stream seeded by (seed, key) — so the same key always gets the same values,
 * whatever order the network asks in. Weights ~ N(0, std²), biases 0, norm scales 1 (the
 * convention of {@code make_random_sd15.py}). Tests build tiny models with it; {@link #snapshot}
 * turns what was drawn into a {@link MapWeights} to write as files.
 */
public final class RandomWeights implements Weights {
    private final long seed;
    private final double std;
    private final Map<String, long[]> declared = new LinkedHashMap<>();

    public RandomWeights(long seed, double std) {
        this.seed = seed;
        this.std = std;
    }

    /** Called by the graph builder before it reads {@code key}. */
    public void declare(String key, long[] shape) {
        declared.put(key, shape.clone());
    }

    @Override
    public Set<String> keys() {
        return Collections.unmodifiableSet(declared.keySet());
    }

    @Override
    public TensorInfo info(String key) {
        long[] shape = declared.get(key);
        if (shape == null) {
            throw new WeightsException("random weights: " + key + " was never declared");
        }
        return new TensorInfo(key, "F32", shape.clone());
    }

    @Override
    public float[] floats(String key) {
        TensorInfo info = info(key);
        float[] v = new float[Math.toIntExact(info.elementCount())];
        boolean isNorm = key.endsWith(".weight") && info.shape().length == 1 && key.contains("norm");
        if (isNorm) {
            java.util.Arrays.fill(v, 1f);
        } else if (!key.endsWith(".bias")) {
            SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ key.hashCode());
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (gaussian(r) * std);
            }
        }
        return v;
    }

    /** Everything declared so far, with its values. */
    public MapWeights snapshot() {
        MapWeights out = new MapWeights();
        for (Map.Entry<String, long[]> e : declared.entrySet()) {
            out.put(e.getKey(), e.getValue(), floats(e.getKey()));
        }
        return out;
    }

    private static double gaussian(SplittableRandom r) {
        // Box–Muller; SplittableRandom has no nextGaussian on Java 17
        double u1 = 1.0 - r.nextDouble();
        double u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
