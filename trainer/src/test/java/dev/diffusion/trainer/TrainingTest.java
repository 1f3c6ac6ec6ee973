package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.tokenizer.ClipTokenizer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** A few dozen Adam steps on the tiny sizes lower the loss on a fixed batch (same pixels, noise and timesteps). */
class TrainingTest {

    @Test
    void vaeTrainingLowersTheReconstructionLoss() {
        try (VaeTraining vae = new VaeTraining(ModelSizes.TINY, 11, 2e-3f, 0.99)) {
            float[] fixed = vae.drawBatch(new SplittableRandom(3), 8);
            float before = vae.loss(fixed, 8, new SplittableRandom(4));
            SplittableRandom rng = new SplittableRandom(5);
            for (int i = 0; i < 30; i++) {
                vae.step(vae.drawBatch(rng, 8), 8, rng);
            }
            float after = vae.loss(fixed, 8, new SplittableRandom(4));
            assertTrue(after < 0.6 * before, "VAE loss " + before + " -> " + after);
        }
    }

    @Test
    void diffusionTrainingLowersTheNoisePredictionLoss() {
        ClipTokenizer tokenizer = DemoModelTrainer.learnTokenizer(1);
        int size = 16;
        int batch = 16;
        // stand-in latents: each scene's pixels averaged over 4x4 blocks, RGB + one zero channel
        SplittableRandom data = new SplittableRandom(2);
        float[] latents = new float[batch * size * size * 4];
        String[] captions = new String[batch];
        for (int b = 0; b < batch; b++) {
            Scene s = Scene.random(data, 64);
            captions[b] = Captions.training(s, data);
            byte[] rgb = s.render();
            for (int y = 0; y < 64; y++) {
                for (int x = 0; x < 64; x++) {
                    for (int c = 0; c < 3; c++) {
                        latents[((b * size + y / 4) * size + x / 4) * 4 + c] += ((rgb[(y * 64 + x) * 3 + c] & 0xff) / 127.5f - 1) / 16;
                    }
                }
            }
        }
        try (DiffusionTraining diffusion = new DiffusionTraining(ModelSizes.TINY, tokenizer, 12, 2e-3f, 0.99)) {
            float before = diffusion.loss(latents, captions, size, new SplittableRandom(6));
            SplittableRandom rng = new SplittableRandom(7);
            for (int i = 0; i < 40; i++) {
                diffusion.step(latents, captions, size, rng);
            }
            float after = diffusion.loss(latents, captions, size, new SplittableRandom(6));
            assertTrue(after < 0.8 * before, "diffusion loss " + before + " -> " + after);
        }
    }

    @Test
    void lossWeightIsMinSnrWhenCleanAndOneOverSnrWhenNoisy() {
        // SNR = ᾱ/(1−ᾱ), γ = 5, cap 20: SNR 1 → 1; 3 → 1; 9 → 5/9; 99 → 5/99; 1/9 → 9; 1/99 → 99, capped to 20
        assertEquals(1.0, DiffusionTraining.lossWeight(0.5), 1e-12);
        assertEquals(1.0, DiffusionTraining.lossWeight(0.75), 1e-12);
        assertEquals(5.0 / 9.0, DiffusionTraining.lossWeight(0.9), 1e-12);
        assertEquals(5.0 / 99.0, DiffusionTraining.lossWeight(0.99), 1e-12);
        assertEquals(9.0, DiffusionTraining.lossWeight(0.1), 1e-9);
        assertEquals(20.0, DiffusionTraining.lossWeight(0.01), 1e-12);
    }

    @Test
    void shapePixelsWeighElevenTimesTheBackground() {
        // a red square of half-extent 10 centred on pixel (32, 32) of a gray 64x64 image: the square covers
        // x, y in [23, 41] exactly (0.9·10 = 9 pixels each side), so pixel 32 is inside and the corner outside
        Scene s = new Scene(Scene.Shape.SQUARE, Scene.Colour.RED, Scene.Position.CENTER, Scene.Background.GRAY,
                32, 32, 10, 64);
        float[] pixels = new float[64 * 64 * 3];
        Scene.toUnit(s.render(), pixels, 0);
        try (VaeTraining vae = new VaeTraining(ModelSizes.TINY, 1, 1e-3f, 0.99)) {
            float[] w = vae.pixelWeights(pixels, 1);
            assertEquals(1f, w[0], 1e-6f);
            assertEquals(1f + VaeTraining.SHAPE_WEIGHT, w[32 * 64 + 32], 1e-6f);
            assertEquals(1f + VaeTraining.SHAPE_WEIGHT, w[24 * 64 + 24], 1e-6f);
            assertEquals(1f, w[22 * 64 + 32], 1e-6f); // one row above the square's top edge (23)
        }
    }

    @Test
    void snapshotsReadTheAveragesWithoutDisturbingTraining() {
        ClipTokenizer tokenizer = DemoModelTrainer.learnTokenizer(1);
        SplittableRandom data = new SplittableRandom(3);
        float[] latents = Gaussian.fill(data, new float[4 * 16 * 16 * 4]);
        String[] captions = {"a red circle", "a blue square", "green triangle, left", "a yellow circle on black"};
        try (DiffusionTraining diffusion = new DiffusionTraining(ModelSizes.TINY, tokenizer, 12, 2e-3f, 0.5)) {
            SplittableRandom rng = new SplittableRandom(7);
            for (int i = 0; i < 5; i++) {
                diffusion.step(latents, captions, 16, rng);
            }
            var current = diffusion.weights();
            var averaged = diffusion.averagedWeights();
            var after = diffusion.weights();
            String key = "conv_in.weight";
            assertArrayEquals(current.floats(key), after.floats(key), "training weights changed by a snapshot");
            assertTrue(!java.util.Arrays.equals(current.floats(key), averaged.floats(key)),
                    "the averages should lag the weights after 5 steps");
            diffusion.useAveragedWeights();
            assertArrayEquals(averaged.floats(key), diffusion.weights().floats(key));
        }
    }
}
