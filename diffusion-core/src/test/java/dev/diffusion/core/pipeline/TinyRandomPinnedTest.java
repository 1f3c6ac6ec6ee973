package dev.diffusion.core.pipeline;

import static dev.diffusion.core.testing.PinnedSlice.assertPixels;
import static dev.diffusion.core.testing.PinnedSlice.assertSlice;
import static dev.diffusion.core.testing.PinnedSlice.channelMeans;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.vae.AutoencoderKL;
import org.junit.jupiter.api.Test;

/**
 * Pinned numbers of the built-in {@code tiny-random} model (seeded random weights, no files), which need nothing
 * outside the repository. Inputs: {@link PinnedModelNumbers}.
 *
 * <p>Where the numbers come from: printed by this test's code at commit 97b7af4 (main: "Merge branch 'key-tree'"),
 * whose networks pass the stable-diffusion.cpp parity tests on the full-size random SD 1.5 checkpoint
 * (ClipStableDiffusionCppParityTest, UNetSdCppParityTest, AutoencoderKLParityTest, StableDiffusionCppParityTest),
 * on an x86-64 AMD EPYC (AVX-512), TensorFlow Java 1.1.0 CPU with oneDNN, 2 threads. One thread gave the same
 * bits; oneDNN off ({@code TF_ENABLE_ONEDNN_OPTS=0}) moved a pinned value v by at most 9e-6·(|v| + mean|v|) (the
 * tolerance is 1e-4·(|v| + mean|v|)) and a few pixels by one level. Checked by hand against what a wrong
 * implementation would break:
 * the invariants of {@link PinnedModelNumbers}, plus the two below that this model's weights make exact
 * (biases 0 and norm scales 1, {@code RandomWeights.normal}).
 */
class TinyRandomPinnedTest extends PinnedModelNumbers {
    @Override
    String model() {
        return ModelSource.TINY_RANDOM;
    }

    @Test
    void textEmbeddings() {
        assertSlice("tiny-random text embeddings [2, 77, 32]", embeddings(), 2 * 77 * 32,
                new float[] {1.10676086f, 1.07874453f, 0.318235427f, 0.0589496680f, 0.0137941735f, -0.782255054f,
                    0.551959634f, -2.82246280f, -0.191018999f, -1.09349191f},
                -1.27562537733e-09, 0.787685066751);
    }

    /**
     * The final layer norm has scale 1 and shift 0 here, so every token's row has mean 0 and variance
     * σ²/(σ² + 1e-5) ≈ 1: a missing or misplaced final norm, or a wrong epsilon, breaks it.
     */
    @Test
    void everyEmbeddingRowIsNormalised() {
        float[] e = embeddings();
        for (int r = 0; r < 2 * contextLength; r++) {
            double mean = 0;
            for (int i = 0; i < hidden; i++) {
                mean += e[r * hidden + i];
            }
            mean /= hidden;
            double var = 0;
            for (int i = 0; i < hidden; i++) {
                var += Math.pow(e[r * hidden + i] - mean, 2);
            }
            var /= hidden;
            assertEquals(0.0, mean, 1e-6, "row " + r + " mean");
            // σ²/(σ² + ε) lies just below 1 for any row whose input is not nearly constant
            assertTrue(var > 0.999 && var < 1 + 1e-5, "row " + r + " variance " + var);
        }
    }

    @Test
    void unetCall() {
        assertSlice("tiny-random U-Net ε [2, 8, 8, 4]", unetOutput(), 2 * 8 * 8 * 4,
                new float[] {-0.430673510f, 1.22169626f, 1.45185590f, 3.06808805f, -0.467942774f, 1.03443146f,
                    -0.477344483f, 0.668117881f, 0.687409520f, 0.343846112f},
                0.201008598585, 0.719351035815);
    }

    @Test
    void vaeDecode() {
        assertSlice("tiny-random VAE decode [1, 64, 64, 3]", decoded(), decodedLength(),
                new float[] {0.114517696f, 2.38560557f, -0.0306755994f, -1.10419905f, 0.468212277f, 3.81878567f,
                    -1.51364791f, -1.14032078f, 0.250332862f, -0.599947810f},
                -0.0296525189016, 1.07932152215);
    }

    /**
     * With every bias 0 the decoder maps the zero latent to exactly 0 (each conv of 0 is 0, GroupNorm of 0 is 0,
     * attention of zero values is 0, SiLU(0) = 0): mid-grey 128 everywhere. A bias read from the wrong key, an
     * epsilon added outside the square root or a constant offset in the output conversion shows here.
     */
    @Test
    void zeroLatentDecodesToExactlyZero() {
        float[] zero = decodedZeroLatent();
        assertArrayEquals(new float[decodedLength()], zero);
        byte[] rgb = AutoencoderKL.toRgb8(zero);
        for (byte b : rgb) {
            assertEquals(128, b & 0xff);
        }
    }

    @Test
    void fourStepImage() {
        GeneratedImage image = image();
        assertSlice("tiny-random final latent [1, 8, 8, 4]", image.latent(), 8 * 8 * 4,
                new float[] {-0.0832305551f, -35.3270836f, -22.8921280f, 21.5186291f, 9.03608799f, -2.28793859f,
                    9.10041618f, -38.6194153f, -41.2564278f, -13.2490444f},
                -8.16413286509, 19.9839582624);
        // {y, x, r, g, b}: the corners, saturated and mid-range pixels
        assertPixels("tiny-random image", image.rgb(), 64, new int[][] {
            {0, 0, 178, 136, 133}, {0, 63, 184, 123, 173}, {63, 0, 240, 84, 128}, {63, 63, 122, 95, 81},
            {32, 16, 255, 0, 0}, {28, 12, 34, 3, 0}, {36, 20, 172, 57, 0}, {30, 22, 0, 47, 0},
            {16, 48, 54, 117, 0}, {48, 40, 44, 178, 0}, {32, 32, 86, 155, 101}, {8, 8, 255, 255, 255}});
        assertArrayEquals(new double[] {147.6528, 117.0859, 74.6489}, channelMeans(image.rgb()), 0.1, "channel means");
    }
}
