package dev.diffusion.core.weights;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** Weights held in memory: tests build tiny models with it; {@link #prefixed} views a sub-tree. */
public final class MapWeights implements Weights {
    private final Map<String, float[]> values = new LinkedHashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    public MapWeights put(String key, long[] shape, float[] data) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != data.length) {
            throw new WeightsException("tensor " + key + ": shape holds " + n + " values but " + data.length + " were given");
        }
        values.put(key, data);
        shapes.put(key, shape.clone());
        return this;
    }

    /** Copies every tensor of {@code other} (read as floats) into this map, replacing any of the same key. */
    public MapWeights putAll(Weights other) {
        for (String key : other.keys()) {
            put(key, other.info(key).shape(), other.floats(key));
        }
        return this;
    }

    @Override
    public Set<String> keys() {
        return Collections.unmodifiableSet(values.keySet());
    }

    @Override
    public TensorInfo info(String key) {
        long[] shape = shapes.get(key);
        if (shape == null) {
            throw new WeightsException("no tensor named " + key);
        }
        return new TensorInfo(key, "F32", shape.clone());
    }

    @Override
    public float[] floats(String key) {
        float[] v = values.get(key);
        if (v == null) {
            throw new WeightsException("no tensor named " + key);
        }
        return v;
    }
}
