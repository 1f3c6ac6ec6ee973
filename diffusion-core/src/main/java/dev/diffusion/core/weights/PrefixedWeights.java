package dev.diffusion.core.weights;

import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Set;

/** The sub-tree of another source under a key prefix, with the prefix stripped. */
final class PrefixedWeights implements Weights {
    private final Weights source;
    private final String prefix;
    private final Set<String> keys;

    PrefixedWeights(Weights source, String prefix) {
        this.source = source;
        this.prefix = prefix;
        Set<String> stripped = new LinkedHashSet<>();
        for (String key : source.keys()) {
            if (key.startsWith(prefix)) {
                stripped.add(key.substring(prefix.length()));
            }
        }
        this.keys = Collections.unmodifiableSet(stripped);
    }

    @Override
    public Set<String> keys() {
        return keys;
    }

    @Override
    public boolean contains(String key) {
        return keys.contains(key);
    }

    @Override
    public TensorInfo info(String key) {
        TensorInfo inner = source.info(sourceKey(key));
        return new TensorInfo(key, inner.dtype(), inner.shape());
    }

    @Override
    public float[] floats(String key) {
        return source.floats(sourceKey(key));
    }

    @Override
    public void readChunks(String key, ChunkSink sink) {
        source.readChunks(sourceKey(key), sink);
    }

    private String sourceKey(String key) {
        if (!keys.contains(key)) {
            throw new WeightsException("no tensor named " + key + " (under prefix " + prefix + ")");
        }
        return prefix + key;
    }
}
