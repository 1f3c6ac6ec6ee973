package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.ModelSource;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The latent → RGB preview map: fitted to a decoder, it must recover a linear one exactly and track a real one. */
class LatentRgbMapTest {
    @Test
    void aLinearDecoderIsRecoveredExactly() {
        // a "decoder" that paints each latent pixel's 2x2 block with rgb = z . W + b
        double[][] want = {{0.3, -0.1, 0.2}, {0.0, 0.5, -0.4}, {-0.2, 0.1, 0.6}, {0.25, 0.25, 0.0}, {0.1, -0.2, 0.05}};
        int channels = 4;
        int f = 2;
        LatentRgbMap.Decoder linear = (z, h, w) -> {
            float[] img = new float[h * f * w * f * 3];
            for (int y = 0; y < h * f; y++) {
                for (int x = 0; x < w * f; x++) {
                    int p = (y / f) * w + x / f;
                    for (int c = 0; c < 3; c++) {
                        double v = want[channels][c];
                        for (int k = 0; k < channels; k++) {
                            v += z[p * channels + k] * want[k][c];
                        }
                        img[(y * w * f + x) * 3 + c] = (float) v;
                    }
                }
            }
            return img;
        };
        LatentRgbMap map = LatentRgbMap.fit(linear, channels, f, 16, 7);
        for (int r = 0; r < want.length; r++) {
            assertArrayEquals(want[r], map.rows()[r], 1e-5, "row " + r);
        }
        // and the preview applies it: z = (1, 0, 0, 0) -> rgb = row 0 + bias, mapped to 0..255 by (v + 1) / 2
        byte[] rgb = map.rgb8(new float[] {1, 0, 0, 0}, 1, 1);
        assertEquals(Math.round((0.3 + 0.1 + 1) / 2 * 255), rgb[0] & 0xff);
        assertEquals(Math.round((-0.1 - 0.2 + 1) / 2 * 255), rgb[1] & 0xff);
        assertEquals(Math.round((0.2 + 0.05 + 1) / 2 * 255), rgb[2] & 0xff);
        assertArrayEquals(map.flat(), LatentRgbMap.ofFlat(map.flat()).flat());
    }

    @Test
    void theDemoModelsMapPreviewsItsOwnDecoderBetterThanSd1Factors() {
        try (ModelSource source = ModelSource.open(ModelSource.DEMO, null);
             AutoencoderKL vae = source.vae(Precision.FP32, true, false)) {
            LatentRgbMap fitted = LatentRgbMap.fit(vae);
            // A1111's fixed SD 1.x factors, as the orchestrator used for every model before
            LatentRgbMap sd1 = new LatentRgbMap(new double[][] {{0.298, 0.207, 0.208}, {0.187, 0.286, 0.173},
                    {-0.158, 0.189, 0.264}, {-0.184, -0.271, -0.473}, {0, 0, 0}});
            // a latent the fit did not see
            int side = 8;
            int f = vae.config().downscale();
            float[] z = new float[side * side * 4];
            Random random = new Random(99);
            for (int i = 0; i < z.length; i++) {
                z[i] = (float) random.nextGaussian();
            }
            float[] image = vae.decode(z, 1, side, side);
            double errFitted = previewError(fitted.rgb8(z, side, side), image, side, f);
            double errSd1 = previewError(sd1.rgb8(z, side, side), image, side, f);
            System.out.printf("demo VAE preview error (mean |RGB8 - block mean|): fitted %.1f, SD 1.x factors %.1f%n",
                    errFitted, errSd1);
            assertTrue(errFitted < 0.5 * errSd1, errFitted + " vs " + errSd1);
            assertTrue(errFitted < 40, "fitted preview error " + errFitted);
        }
    }

    /** Mean absolute difference, in RGB8 levels, between the preview and the decoded image's block means. */
    private static double previewError(byte[] preview, float[] image, int side, int f) {
        double sum = 0;
        int width = side * f;
        for (int py = 0; py < side; py++) {
            for (int px = 0; px < side; px++) {
                for (int c = 0; c < 3; c++) {
                    double mean = 0;
                    for (int dy = 0; dy < f; dy++) {
                        for (int dx = 0; dx < f; dx++) {
                            mean += image[((py * f + dy) * width + px * f + dx) * 3 + c];
                        }
                    }
                    mean /= f * f;
                    double level = Math.max(0, Math.min(1, (mean + 1) / 2)) * 255;
                    sum += Math.abs(level - (preview[(py * side + px) * 3 + c] & 0xff));
                }
            }
        }
        return sum / (side * side * 3);
    }
}
