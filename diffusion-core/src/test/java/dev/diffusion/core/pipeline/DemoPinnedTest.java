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
 * <p>Where the numbers come from: printed by this test's code (first at commit 97b7af4, main: "Merge branch
 * 'key-tree'"; printed again for the retrained demo model, the code unchanged), whose networks pass the
 * stable-diffusion.cpp parity tests on the full-size random SD 1.5 checkpoint, on an
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
                new float[] {0.700972915f, -0.478916854f, -0.0114368647f, -0.173279479f, -0.722086906f, 1.61945975f,
                    -0.586998880f, -1.64139318f, 0.835964024f, 1.67376661f},
                -0.00179294394772, 0.627780810216);
    }

    @Test
    void unetCall() {
        assertSlice("demo U-Net ε [2, 8, 8, 4]", unetOutput(), 2 * 8 * 8 * 4,
                new float[] {0.298924178f, 0.285916984f, 0.380383074f, 0.0910805985f, 0.107997939f, -1.75075722f,
                    1.37307298f, 0.387127787f, -1.17041063f, 2.36633134f},
                0.356363660938, 0.790004735716);
    }

    @Test
    void vaeDecode() {
        assertSlice("demo VAE decode [1, 32, 32, 3]", decoded(), decodedLength(),
                new float[] {-0.000369862653f, -0.416079193f, -0.0734762475f, -0.0464681461f, -0.450274199f, -0.582410872f,
                    0.0100645982f, -0.182214379f, -0.879760861f, -0.0514770970f},
                -0.120308015334, 0.184506657883);
    }

    @Test
    void vaeDecodeOfTheZeroLatent() {
        assertSlice("demo VAE decode of 0 [1, 32, 32, 3]", decodedZeroLatent(), decodedLength(),
                new float[] {-0.112375982f, -0.0820327327f, -0.418195903f, -0.0847061872f, 0.361280054f, -0.126052693f,
                    -0.790184438f, -0.0557806827f, -0.295675457f, -0.0823476538f},
                -0.172081110678, 0.222016780480);
    }

    @Test
    void fourStepImage() {
        GeneratedImage image = image();
        assertSlice("demo final latent [1, 16, 16, 4]", image.latent(), 16 * 16 * 4,
                new float[] {-0.373214304f, -0.903976321f, -1.86262369f, 0.491919726f, -2.43723416f, -0.190299794f,
                    -0.318010211f, -1.91258252f, -1.09840798f, -1.12281942f},
                -1.01236698910, 1.07012989026);
        // {y, x, r, g, b}: the (slightly tinted) corners, the shape on the left, the white background
        assertPixels("demo image", image.rgb(), 64, new int[][] {
            {0, 0, 241, 220, 215}, {0, 63, 236, 233, 239}, {63, 0, 219, 216, 236}, {63, 63, 248, 245, 255},
            {32, 16, 235, 106, 52}, {28, 12, 227, 194, 177}, {36, 20, 239, 91, 21}, {30, 22, 236, 94, 22},
            {16, 48, 255, 255, 255}, {48, 40, 255, 255, 255}, {32, 32, 255, 255, 255}, {8, 8, 255, 255, 255}});
        assertArrayEquals(new double[] {253.6707, 246.1687, 242.5874}, channelMeans(image.rgb()), 0.1, "channel means");
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
