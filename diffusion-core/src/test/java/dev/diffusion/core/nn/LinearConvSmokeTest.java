package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.diffusion.core.weights.MapWeights;
import org.junit.jupiter.api.Test;

class LinearConvSmokeTest {
    @Test
    void linearIsXTimesWTransposedPlusBias() {
        MapWeights w = new MapWeights()
                .put("fc.weight", new long[] {3, 2}, new float[] {1, 2, 3, 4, 5, 6})
                .put("fc.bias", new long[] {3}, new float[] {0.5f, 0, -1});
        for (Precision p : Precision.values()) {
            float[] y = NnTestSupport.run(w, p, new long[] {1, 2, 2}, new float[] {1, 1, 2, -1},
                    nn -> new Linear(nn, "fc", 2, 3, true)::apply);
            // row 1: [1+2+.5, 3+4, 5+6-1]; row 2: [2-2+.5, 6-4, 10-6-1]
            assertArrayEquals(new float[] {3.5f, 7, 10, 0.5f, 2, 3}, y, 1e-6f, p.name());
        }
    }

    @Test
    void strideTwoConvPadsSymmetricallyLikePyTorch() {
        // 1 input and 1 output channel, 3x3 kernel of ones, padding 1, stride 2 on a 4x4 ramp 0..15.
        float[] k = new float[9];
        java.util.Arrays.fill(k, 1f);
        MapWeights w = new MapWeights()
                .put("c.weight", new long[] {1, 1, 3, 3}, k)
                .put("c.bias", new long[] {1}, new float[] {0});
        float[] x = new float[16];
        for (int i = 0; i < 16; i++) {
            x[i] = i;
        }
        float[] y = NnTestSupport.run(w, Precision.FP32, new long[] {1, 4, 4, 1}, x,
                nn -> new Conv2d(nn, "c", 1, 1, 3, 2, 1)::apply);
        // windows centred at (0,0),(0,2),(2,0),(2,2) with zero padding:
        // (0,0): 0+1+4+5=10; (0,2): 1+2+3+5+6+7=24; (2,0): 4+5+8+9+12+13=51; (2,2): 5+6+7+9+10+11+13+14+15=90
        assertArrayEquals(new float[] {10, 24, 51, 90}, y, 1e-5f);
    }
}
