package dev.diffusion.core.weights;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The LoRAs one generation applies, each with its multiplier, merged into a network's weights as they are read:
 * W' = W + Σ multiplier · (alpha / rank) · up · down (A1111, ComfyUI, kohya and sd.cpp's merged mode alike). A LoRA
 * at multiplier 0 is left out, so weight 0 gives the unpatched weights bit for bit.
 */
public record LoraSet(List<Applied> loras) {
    public static final LoraSet NONE = new LoraSet(List.of());

    public record Applied(Lora lora, double multiplier) {}

    public LoraSet {
        loras = List.copyOf(loras);
    }

    public boolean isEmpty() {
        return loras.stream().allMatch(a -> a.multiplier() == 0);
    }

    /** {@code base} with this set's patches of {@code component} merged in; {@code base} itself when none applies. */
    public Weights apply(ModelComponent component, Weights base) {
        Map<String, List<Scaled>> byKey = new LinkedHashMap<>();
        for (Applied a : loras) {
            if (a.multiplier() == 0) {
                continue;
            }
            for (Lora.Patch p : a.lora().patches()) {
                if (p.component() == component) {
                    byKey.computeIfAbsent(p.weightKey(), k -> new ArrayList<>()).add(new Scaled(p, a.multiplier() * p.scale()));
                }
            }
        }
        return byKey.isEmpty() ? base : new Merged(base, byKey);
    }

    private record Scaled(Lora.Patch patch, double scale) {}

    /** ΔW = scale · up · down, accumulated into {@code w} (row-major [out, inner]). */
    static void addDelta(float[] w, Lora.Patch p, float scale) {
        int out = p.out();
        int inner = p.inner();
        int rank = p.rank();
        float[] up = p.up();
        float[] down = p.down();
        float[] row = new float[inner];
        for (int o = 0; o < out; o++) {
            java.util.Arrays.fill(row, 0f);
            for (int r = 0; r < rank; r++) {
                float u = up[o * rank + r];
                int base = r * inner;
                for (int j = 0; j < inner; j++) {
                    row[j] += u * down[base + j];
                }
            }
            int at = o * inner;
            for (int j = 0; j < inner; j++) {
                w[at + j] += scale * row[j];
            }
        }
    }

    private static final class Merged implements Weights {
        private final Weights base;
        private final Map<String, List<Scaled>> patches;

        Merged(Weights base, Map<String, List<Scaled>> patches) {
            this.base = base;
            this.patches = patches;
        }

        @Override
        public Set<String> keys() {
            return base.keys();
        }

        @Override
        public boolean contains(String key) {
            return base.contains(key);
        }

        @Override
        public TensorInfo info(String key) {
            return base.info(key);
        }

        @Override
        public float[] floats(String key) {
            float[] w = base.floats(key).clone(); // a MapWeights hands out its own array
            List<Scaled> list = patches.get(key);
            if (list != null) {
                for (Scaled s : list) {
                    addDelta(w, s.patch(), (float) s.scale());
                }
            }
            return w;
        }

        @Override
        public void readChunks(String key, ChunkSink sink) {
            if (!patches.containsKey(key)) {
                base.readChunks(key, sink);
                return;
            }
            float[] w = floats(key);
            sink.accept(w, w.length);
        }
    }
}
