package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.RandomWeights;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ConvAndResampleTest {
    @Test
    void upsampleNearestRepeatsEachPixelAsATwoByTwoBlock() {
        // 1x2x2x2 NHWC: channel 0 = [[1, 2], [3, 4]], channel 1 = 10x that
        float[] x = {1, 10, 2, 20, 3, 30, 4, 40};
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {1, 2, 2, 2}, x,
                nn -> in -> Resample.upsampleNearest2x(nn, in));
        // channel 0 rows: [1 1 2 2], [1 1 2 2], [3 3 4 4], [3 3 4 4]; channel 1 the same times 10, interleaved (NHWC)
        float[] expected = {
            1, 10, 1, 10, 2, 20, 2, 20,
            1, 10, 1, 10, 2, 20, 2, 20,
            3, 30, 3, 30, 4, 40, 4, 40,
            3, 30, 3, 30, 4, 40, 4, 40};
        assertArrayEquals(expected, y, 0f);
    }

    @Test
    void upsampleNearestToASizeReadsRowFloorOfOutRowTimesInOverOut() {
        // 1x3x2x1: [[1, 2], [3, 4], [5, 6]] to 5x3 (F.interpolate(size=(5, 3), mode="nearest")): rows read input rows
        // floor(i * 3 / 5) = 0, 0, 1, 1, 2 and columns floor(j * 2 / 3) = 0, 0, 1
        float[] x = {1, 2, 3, 4, 5, 6};
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {1, 3, 2, 1}, x,
                nn -> in -> Resample.upsampleNearestTo(nn, in,
                        nn.tf.zeros(nn.tf.constant(new long[] {1, 5, 3, 7}), org.tensorflow.types.TFloat32.class)));
        assertArrayEquals(new float[] {1, 1, 2, 1, 1, 2, 3, 3, 4, 3, 3, 4, 5, 5, 6}, y, 0f);
        // to twice the size it is the 2x upsampling; to one less, the 2x upsampling without its last row and column
        float[] twice = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {1, 3, 2, 1}, x,
                nn -> in -> Resample.upsampleNearestTo(nn, in,
                        nn.tf.zeros(nn.tf.constant(new long[] {1, 6, 4, 1}), org.tensorflow.types.TFloat32.class)));
        assertArrayEquals(new float[] {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4, 5, 5, 6, 6, 5, 5, 6, 6}, twice, 0f);
        float[] oneLess = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {1, 3, 2, 1}, x,
                nn -> in -> Resample.upsampleNearestTo(nn, in,
                        nn.tf.zeros(nn.tf.constant(new long[] {1, 5, 3, 1}), org.tensorflow.types.TFloat32.class)));
        assertArrayEquals(new float[] {1, 1, 2, 1, 1, 2, 3, 3, 4, 3, 3, 4, 5, 5, 6}, oneLess, 0f);
    }

    @Test
    void strideOneSameConvIsACrossCorrelationWithZeroPadding() {
        // input 3x3, 1 channel:   1 2 3 / 4 5 6 / 7 8 9
        // PyTorch's conv is a cross-correlation: y[i][j] = Σ_ab k[a][b]·x[i+a-1][j+b-1], zeros outside.
        // filter 0: k[0][1] = 1 (pixel above), k[2][2] = 2 (pixel below-right), bias 0
        //   (0,0) 0 + 2·5 = 10   (0,1) 0 + 2·6 = 12   (0,2) 0 + 0 = 0
        //   (1,0) 1 + 2·8 = 17   (1,1) 2 + 2·9 = 20   (1,2) 3 + 0 = 3
        //   (2,0) 4              (2,1) 5              (2,2) 6
        // filter 1: k[1][0] = 3 (pixel to the left), bias 0.5
        //   (0,·) 0.5, 3.5, 6.5   (1,·) 0.5, 12.5, 15.5   (2,·) 0.5, 21.5, 24.5
        // A flipped kernel (true convolution) or a transposed one would move every number.
        MapWeights w = new MapWeights()
                .put("c.weight", new long[] {2, 1, 3, 3}, new float[] {
                    0, 1, 0, 0, 0, 0, 0, 0, 2,
                    0, 0, 0, 3, 0, 0, 0, 0, 0})
                .put("c.bias", new long[] {2}, new float[] {0, 0.5f});
        float[] x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        float[] expected = {
            10, 0.5f, 12, 3.5f, 0, 6.5f,
            17, 0.5f, 20, 12.5f, 3, 15.5f,
            4, 0.5f, 5, 21.5f, 6, 24.5f};
        for (Precision p : Precision.values()) {
            float[] y = NnTestSupport.run(w, p, new long[] {1, 3, 3, 1}, x, nn -> new Conv2d(nn, "c", 1, 2, 3, 1, 1)::apply);
            // small integers are exact in bf16 too
            assertArrayEquals(expected, y, 1e-5f, p.name());
        }
    }

    @Test
    void convSumsOverInputChannels() {
        // 1x1 kernel, 2 inputs -> 1 output, weight [[[[2]], [[-1]]]]: y = 2·x0 - x1 per pixel.
        // pixels (x0, x1): (1, 5), (3, 1) -> -3, 5
        MapWeights w = new MapWeights()
                .put("c.weight", new long[] {1, 2, 1, 1}, new float[] {2, -1})
                .put("c.bias", new long[] {1}, new float[] {0});
        float[] y = NnTestSupport.run(w, Precision.FP32, new long[] {1, 1, 2, 2}, new float[] {1, 5, 3, 1},
                nn -> new Conv2d(nn, "c", 2, 1, 1, 1, 0)::apply);
        assertArrayEquals(new float[] {-3, 5}, y, 1e-6f);
    }

    @Test
    void downsamplePadsRightAndBottomWithPaddingZeroAndSymmetricallyWithPaddingOne() {
        // a 3x3 kernel of ones, stride 2, on a 4x4 ramp 0..15:
        // padding 0 (diffusers: F.pad(x, (0, 1, 0, 1)), then no padding; the VAE encoder, downsample_padding 0):
        //   windows rows/cols {0..2, 2..4}: 0+1+2+4+5+6+8+9+10 = 45, 2+3+6+7+10+11 = 39, 8+9+10+12+13+14 = 66,
        //   10+11+14+15 = 50
        // padding 1 (symmetric; the SD 1.x U-Net): windows rows/cols {-1..1, 1..3}: 0+1+4+5 = 10,
        //   1+2+3+5+6+7 = 24, 4+5+8+9+12+13 = 51, 5+6+7+9+10+11+13+14+15 = 90
        // (no padding at all would give one window, 45: the shape check alone would catch that one)
        RandomWeights.Distribution onesNoBias = (seed, key, kind, shape) -> {
            float[] v = new float[RandomWeights.elements(shape)];
            if (kind == RandomWeights.Kind.MATRIX) {
                Arrays.fill(v, 1f);
            }
            return v;
        };
        float[] x = new float[16];
        for (int i = 0; i < 16; i++) {
            x[i] = i;
        }
        for (Precision p : Precision.values()) { // small integers are exact in bf16 too
            float[] padZero = NnTestSupport.run(new RandomWeights(0, onesNoBias), p, new long[] {1, 4, 4, 1}, x,
                    nn -> new Downsample2D(nn, "d", 1, 0)::apply);
            assertArrayEquals(new float[] {45, 39, 66, 50}, padZero, 1e-5f, p.name());
            float[] padOne = NnTestSupport.run(new RandomWeights(0, onesNoBias), p, new long[] {1, 4, 4, 1}, x,
                    nn -> new Downsample2D(nn, "d", 1, 1)::apply);
            assertArrayEquals(new float[] {10, 24, 51, 90}, padOne, 1e-5f, p.name());
        }
        assertThrows(IllegalArgumentException.class,
                () -> NnTestSupport.run(new RandomWeights(0, onesNoBias), Precision.FP32, new long[] {1, 4, 4, 1}, x,
                        nn -> new Downsample2D(nn, "d", 1, 2)::apply));
    }
}
