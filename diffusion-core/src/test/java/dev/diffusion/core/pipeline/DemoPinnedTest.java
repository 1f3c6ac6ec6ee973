package dev.diffusion.core.pipeline;

import static dev.diffusion.core.testing.PinnedSlice.assertPixels;
import static dev.diffusion.core.testing.PinnedSlice.assertSlice;
import static dev.diffusion.core.testing.PinnedSlice.channelMeans;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Pinned numbers of the bundled {@code demo} model (models/demo, trained by this project: 64×64 images, a 4×
 * VAE), which need nothing outside the repository. Inputs: {@link PinnedModelNumbers}.
 *
 * <p>Where the numbers come from: printed by this test's code at commit 97b7af4 (main: "Merge branch 'key-tree'"),
 * whose networks pass the stable-diffusion.cpp parity tests on the full-size random SD 1.5 checkpoint, on an
 * x86-64 AMD EPYC (AVX-512), TensorFlow Java 1.1.0 CPU with oneDNN, 2 threads; one thread gave the same bits,
 * oneDNN off moved a pinned value v by at most 1.5e-6·(|v| + mean|v|) (the tolerance is 1e-4·(|v| + mean|v|)) and
 * no pixel. Checked by hand: the
 * invariants of {@link PinnedModelNumbers}, and the image is what the prompt asks for (below).
 */
class DemoPinnedTest extends PinnedModelNumbers {
    @Override
    String model() {
        return ModelSource.DEMO;
    }

    @Test
    void textEmbeddings() {
        assertSlice("demo text embeddings [2, 77, 64]", embeddings(), 2 * 77 * 64,
                new float[] {0.571153343f, -0.731179357f, 0.283174127f, -0.0511062741f, -1.17364812f, 2.27912021f,
                    -0.962291360f, -1.93844378f, 1.34304512f, 0.669588208f},
                -0.00183109041921, 0.754492187710);
    }

    @Test
    void unetCall() {
        assertSlice("demo U-Net ε [2, 8, 8, 4]", unetOutput(), 2 * 8 * 8 * 4,
                new float[] {0.298059255f, 0.315344095f, 0.808911920f, 0.537011981f, 0.250480890f, -2.06498837f,
                    1.73079729f, 0.417674243f, -1.42711604f, 1.82807434f},
                0.305391744345, 0.739160443942);
    }

    @Test
    void vaeDecode() {
        assertSlice("demo VAE decode [1, 32, 32, 3]", decoded(), decodedLength(),
                new float[] {-0.399128944f, -0.125573754f, -0.302159160f, -0.191122472f, -0.0683805346f, -0.613851845f,
                    -0.0271020234f, -0.222099721f, -0.600762486f, -0.185187310f},
                -0.111739985146, 0.171719217477);
    }

    @Test
    void vaeDecodeOfTheZeroLatent() {
        assertSlice("demo VAE decode of 0 [1, 32, 32, 3]", decodedZeroLatent(), decodedLength(),
                new float[] {0.0935007185f, 0.169888705f, 0.0498646572f, -0.0100554358f, -0.0570412129f, 0.0241171047f,
                    -0.0622656643f, -0.230120853f, -0.0203743801f, -0.00828034431f},
                -0.0456313191028, 0.0915037653567);
    }

    @Test
    void fourStepImage() {
        GeneratedImage image = image();
        assertSlice("demo final latent [1, 16, 16, 4]", image.latent(), 16 * 16 * 4,
                new float[] {-0.190482050f, -1.55209541f, -3.03368068f, -0.517109632f, -2.15570211f, -0.194410414f,
                    -0.558051944f, -2.40483570f, -1.63294208f, -1.66698980f},
                -1.44626809386, 1.50084748360);
        // {y, x, r, g, b}: the (slightly tinted) corners, the shape on the left, the white background
        assertPixels("demo image", image.rgb(), 64, new int[][] {
            {0, 0, 236, 209, 212}, {0, 63, 224, 221, 233}, {63, 0, 213, 207, 224}, {63, 63, 234, 224, 245},
            {32, 16, 240, 165, 100}, {28, 12, 235, 145, 72}, {36, 20, 254, 186, 97}, {30, 22, 237, 149, 55},
            {16, 48, 255, 255, 255}, {48, 40, 255, 255, 255}, {32, 32, 255, 255, 255}, {8, 8, 255, 255, 255}});
        assertArrayEquals(new double[] {253.9854, 248.1011, 241.3938}, channelMeans(image.rgb()), 0.1, "channel means");
    }

    /**
     * The prompt is "a red circle on the left on a white background": after only 4 steps the shape is an orange-red
     * blob, but it is on the left, vertically centred, red-dominated, and the right half is white.
     */
    @Test
    void fourStepImageShowsTheShapeOnTheLeftOnWhite() {
        byte[] rgb = image().rgb();
        int side = 64;
        double[] right = new double[3];
        double[] shape = new double[3];
        double sumX = 0;
        double sumY = 0;
        int n = 0;
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                int o = (y * side + x) * 3;
                int[] px = {rgb[o] & 0xff, rgb[o + 1] & 0xff, rgb[o + 2] & 0xff};
                for (int c = 0; c < 3; c++) {
                    if (x >= side / 2) {
                        right[c] += px[c] / (side * side / 2.0);
                    }
                }
                if (Math.min(px[0], Math.min(px[1], px[2])) < 200) {
                    n++;
                    sumX += x;
                    sumY += y;
                    for (int c = 0; c < 3; c++) {
                        shape[c] += px[c];
                    }
                }
            }
        }
        for (int c = 0; c < 3; c++) {
            assertTrue(right[c] > 250, "right half channel " + c + " mean " + right[c]);
        }
        assertTrue(n > 100, "shape pixels: " + n);
        assertTrue(sumX / n < 24, "shape centroid x " + sumX / n);
        assertEquals(32, sumY / n, 8, "shape centroid y");
        assertTrue(shape[0] / n > shape[2] / n + 100, "shape colour R " + shape[0] / n + " B " + shape[2] / n);
    }
}
