package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.TensorInfo;
import dev.diffusion.core.weights.Weights;
import dev.diffusion.core.weights.WeightsException;
import java.util.Arrays;
import java.util.Set;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;

/** What a trainer needs from {@link Nn}: the weight variables by key, and the weights read back in checkpoint layout. */
class NnTrainingAccessTest {

    @Test
    void readWeightsUndoesTheHeldTranspositions() {
        float[] linear = new float[3 * 2];
        float[] conv = new float[4 * 2 * 3 * 3];
        float[] bias = {0.5f, -1.5f, 2.5f};
        for (int i = 0; i < linear.length; i++) {
            linear[i] = i + 1;
        }
        for (int i = 0; i < conv.length; i++) {
            conv[i] = i * 0.25f - 3;
        }
        MapWeights w = new MapWeights().put("fc.weight", new long[] {3, 2}, linear).put("fc.bias", new long[] {3}, bias)
                .put("conv.weight", new long[] {4, 2, 3, 3}, conv);
        try (Graph g = new Graph()) {
            Nn nn = new Nn(g, w, Precision.FP32);
            new Linear(nn, "fc", 2, 3, true);
            nn.convWeight("conv.weight", 4, 2, 3, 3);
            List<Nn.Parameter> params = nn.parameters();
            assertEquals(List.of("fc.weight", "fc.bias", "conv.weight"), params.stream().map(Nn.Parameter::key).toList());
            assertEquals(2, params.get(0).variable().shape().get(0)); // held as [in, out]
            try (Session s = new Session(g)) {
                nn.loadWeights(s, 1 << 20);
                MapWeights back = nn.readWeights(s);
                assertArrayEquals(linear, back.floats("fc.weight"));
                assertArrayEquals(bias, back.floats("fc.bias"));
                assertArrayEquals(conv, back.floats("conv.weight"));
                assertArrayEquals(new long[] {4, 2, 3, 3}, back.info("conv.weight").shape());
            }
        }
    }

    /**
     * Loading in many small batches (the next read while the previous is assigned) gives every variable its own
     * values, and a source that yields too few values for a later weight fails the load naming that weight.
     */
    @Test
    void batchedLoadKeepsEveryWeightAndReportsAShortTensor() {
        MapWeights w = new MapWeights();
        for (int k = 0; k < 12; k++) {
            float[] v = new float[5 * 3];
            for (int i = 0; i < v.length; i++) {
                v[i] = k * 100 + i;
            }
            w.put("fc" + k + ".weight", new long[] {5, 3}, v).put("fc" + k + ".bias", new long[] {5}, Arrays.copyOf(v, 5));
        }
        try (Graph g = new Graph()) {
            Nn nn = new Nn(g, w, Precision.FP32);
            for (int k = 0; k < 12; k++) {
                new Linear(nn, "fc" + k, 3, 5, true);
            }
            try (Session s = new Session(g)) {
                nn.loadWeights(s, 64); // about one weight per batch: 24 batches, read ahead one at a time
                MapWeights back = nn.readWeights(s);
                for (int k = 0; k < 12; k++) {
                    assertArrayEquals(w.floats("fc" + k + ".weight"), back.floats("fc" + k + ".weight"), "fc" + k);
                    assertArrayEquals(w.floats("fc" + k + ".bias"), back.floats("fc" + k + ".bias"), "fc" + k);
                }
            }
        }
        Weights shortOne = new Weights() {
            public Set<String> keys() {
                return w.keys();
            }

            public TensorInfo info(String key) {
                return w.info(key);
            }

            public float[] floats(String key) {
                float[] v = w.floats(key);
                return key.equals("fc9.weight") ? Arrays.copyOf(v, v.length - 1) : v;
            }
        };
        try (Graph g = new Graph()) {
            Nn nn = new Nn(g, shortOne, Precision.FP32);
            for (int k = 0; k < 12; k++) {
                new Linear(nn, "fc" + k, 3, 5, true);
            }
            try (Session s = new Session(g)) {
                WeightsException e = assertThrows(WeightsException.class, () -> nn.loadWeights(s, 64));
                assertTrue(e.getMessage().contains("fc9.weight has 14 values, expected 15"), e.getMessage());
            }
        }
    }
}
