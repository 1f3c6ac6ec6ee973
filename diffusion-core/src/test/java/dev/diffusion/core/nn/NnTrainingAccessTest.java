package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion.core.weights.MapWeights;
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
}
