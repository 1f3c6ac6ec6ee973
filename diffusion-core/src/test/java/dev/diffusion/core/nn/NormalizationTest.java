package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.diffusion.core.weights.MapWeights;
import org.junit.jupiter.api.Test;

class NormalizationTest {
    @Test
    void groupNormNormalisesContiguousChannelGroupsOverSpaceWithBiasedVariance() {
        // NHWC input 1x1x2x4 (W = 2 pixels, C = 4 channels), 2 groups: channels {0,1} and {2,3}.
        //   pixel 0: [1, 2,  2, 5]
        //   pixel 1: [3, 6,  7, 10]
        // group 0 = {1, 2, 3, 6}: mean 3, deviations -2 -1 0 3, biased var (4+1+0+9)/4 = 3.5,
        //   + eps 0.5 = 4, std 2 -> pixel 0 ch 0,1: -1, -0.5; pixel 1 ch 0,1: 0, 1.5
        // group 1 = {2, 5, 7, 10}: mean 6, deviations -4 -1 1 4, var (16+1+1+16)/4 = 8.5,
        //   + eps 0.5 = 9, std 3 -> pixel 0 ch 2,3: -4/3, -1/3; pixel 1 ch 2,3: 1/3, 4/3
        // gamma [2, -1, 0.5, 3], beta [0.1, 0.2, -0.3, 1]:
        //   pixel 0: [-2+0.1, 0.5+0.2, -2/3-0.3, -1+1] = [-1.9, 0.7, -0.966667, 0]
        //   pixel 1: [0+0.1, -1.5+0.2, 1/6-0.3, 4+1]  = [0.1, -1.3, -0.133333, 5]
        // (unbiased variance, per-channel stats, interleaved groups or a dropped eps all give other numbers)
        MapWeights w = new MapWeights()
                .put("gn.weight", new long[] {4}, new float[] {2, -1, 0.5f, 3})
                .put("gn.bias", new long[] {4}, new float[] {0.1f, 0.2f, -0.3f, 1});
        for (Precision p : Precision.values()) {
            float[] y = NnTestSupport.run(w, p, new long[] {1, 1, 2, 4}, new float[] {1, 2, 2, 5, 3, 6, 7, 10},
                    nn -> new GroupNorm(nn, "gn", 2, 4, 0.5)::apply);
            assertArrayEquals(new float[] {-1.9f, 0.7f, -0.9666667f, 0, 0.1f, -1.3f, -0.1333333f, 5}, y, 1e-5f, p.name());
        }
    }

    @Test
    void groupNormStatisticsArePerSample() {
        // batch of 2, 1 group of 2 channels, 1x1 pixels: sample 0 = [0, 2] (mean 1, var 1), sample 1 = [10, 30]
        // (mean 20, var 100); eps 0, gamma 1, beta 0 -> [-1, 1] and [-1, 1]. Pooling the batch would give other values.
        MapWeights w = new MapWeights()
                .put("gn.weight", new long[] {2}, new float[] {1, 1})
                .put("gn.bias", new long[] {2}, new float[] {0, 0});
        float[] y = NnTestSupport.run(w, Precision.FP32, new long[] {2, 1, 1, 2}, new float[] {0, 2, 10, 30},
                nn -> new GroupNorm(nn, "gn", 1, 2, 0)::apply);
        assertArrayEquals(new float[] {-1, 1, -1, 1}, y, 1e-6f);
    }

    @Test
    void layerNormNormalisesEachRowOverTheLastAxis() {
        // row 0 = [1, 2, 3, 6]: mean 3, biased var (4+1+0+9)/4 = 3.5, + eps 0.5 = 4, std 2
        //   -> [-1, -0.5, 0, 1.5]; gamma [1, 2, 3, 4] -> [-1, -1, 0, 6]; beta [0.5, 0, 0, -1] -> [-0.5, -1, 0, 5]
        // row 1 = [10, 10, 10, 10]: var 0, normalised 0 (eps keeps it finite) -> beta = [0.5, 0, 0, -1]
        MapWeights w = new MapWeights()
                .put("ln.weight", new long[] {4}, new float[] {1, 2, 3, 4})
                .put("ln.bias", new long[] {4}, new float[] {0.5f, 0, 0, -1});
        float[] y = NnTestSupport.run(w, Precision.FP32, new long[] {1, 2, 4}, new float[] {1, 2, 3, 6, 10, 10, 10, 10},
                nn -> new LayerNorm(nn, "ln", 4, 0.5)::apply);
        assertArrayEquals(new float[] {-0.5f, -1, 0, 5, 0.5f, 0, 0, -1}, y, 1e-6f);
    }
}
