package dev.diffusion.core.weights;

import dev.diffusion.core.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Names, dtypes and shapes of a checkpoint without its data (from a {@code keys.txt} listing):
 * reading values fails, which proves that views built on it convert names only.
 */
final class KeyListWeights implements Weights {
    final Map<String, TensorInfo> infos = new LinkedHashMap<>();

    /** The random SD 1.5 checkpoint's listing (1131 tensors), found by {@link Fixtures#sd15KeyList()}. */
    static KeyListWeights sd15() throws IOException {
        return read(Fixtures.sd15KeyList());
    }

    static KeyListWeights read(Path listing) throws IOException {
        KeyListWeights w = new KeyListWeights();
        for (String line : Files.readAllLines(listing)) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split("\t");
            String dims = f[2].replaceAll("[\\[\\] ]", "");
            long[] shape = dims.isEmpty() ? new long[0] : Arrays.stream(dims.split(",")).mapToLong(Long::parseLong).toArray();
            w.infos.put(f[0], new TensorInfo(f[0], f[1], shape));
        }
        return w;
    }

    @Override
    public Set<String> keys() {
        return infos.keySet();
    }

    @Override
    public TensorInfo info(String key) {
        TensorInfo i = infos.get(key);
        if (i == null) {
            throw new WeightsException("no tensor named " + key);
        }
        return i;
    }

    @Override
    public float[] floats(String key) {
        throw new AssertionError("values of " + key + " were read: views must be lazy");
    }
}
