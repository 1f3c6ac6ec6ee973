package dev.diffusion.core.unet;

import dev.diffusion.core.weights.TensorInfo;
import dev.diffusion.core.weights.Weights;
import java.util.LinkedHashSet;
import java.util.Set;

/** Passes through to a source and remembers every key the network asked for. */
final class RecordingWeights implements Weights {
    final Weights source;
    final Set<String> asked = new LinkedHashSet<>();

    RecordingWeights(Weights source) {
        this.source = source;
    }

    @Override
    public Set<String> keys() {
        return source.keys();
    }

    @Override
    public TensorInfo info(String key) {
        asked.add(key);
        return source.info(key);
    }

    @Override
    public float[] floats(String key) {
        asked.add(key);
        return source.floats(key);
    }
}
