package dev.diffusion.trainer;

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
}
