package dev.diffusion.core.weights;

import java.util.Collections;
import java.util.Map;
import java.util.Set;

/** Tensors of other sources under new names (and possibly new shapes of the same size); reads are delegated. */
final class RenamedWeights implements Weights {
    private final Map<String, Weights> owners;
    private final Weights soleOwner;
    private final Map<String, String> sourceKeys;
    private final Map<String, long[]> shapes;

    RenamedWeights(Weights source, Map<String, String> sourceKeys, Map<String, long[]> shapes) {
        this(null, source, sourceKeys, shapes);
    }

    RenamedWeights(Map<String, Weights> owners, Map<String, String> sourceKeys, Map<String, long[]> shapes) {
        this(owners, null, sourceKeys, shapes);
    }

    private RenamedWeights(Map<String, Weights> owners, Weights soleOwner, Map<String, String> sourceKeys,
                           Map<String, long[]> shapes) {
        this.owners = owners;
        this.soleOwner = soleOwner;
        this.sourceKeys = Collections.unmodifiableMap(sourceKeys);
        this.shapes = shapes;
    }

    @Override
    public Set<String> keys() {
        return sourceKeys.keySet();
    }

    @Override
    public boolean contains(String key) {
        return sourceKeys.containsKey(key);
    }

    @Override
    public TensorInfo info(String key) {
        String source = sourceKey(key);
        return new TensorInfo(key, owner(key).info(source).dtype(), shapes.get(key).clone());
    }

    @Override
    public float[] floats(String key) {
        return owner(key).floats(sourceKey(key));
    }

    @Override
    public void readChunks(String key, ChunkSink sink) {
        owner(key).readChunks(sourceKey(key), sink);
    }

    /** The key this tensor has in its source. */
    String sourceKey(String key) {
        String source = sourceKeys.get(key);
        if (source == null) {
            String where = soleOwner instanceof SafeTensorsFile f ? f.path() + ": " : "";
            throw new WeightsException(where + "no tensor named " + key + " (diffusers name)");
        }
        return source;
    }

    private Weights owner(String key) {
        return soleOwner != null ? soleOwner : owners.get(key);
    }
}
