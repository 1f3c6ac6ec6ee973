package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The full-size random SD 1.5 checkpoint (2.1 GB, fp16, CompVis layout). Generate it with
 * {@code python3 ../shared/tools/make_random_sd15.py -o target/sd15_random_f16.safetensors} (the tests do it themselves)}.
 */
class Sd15CheckpointTest {

    @Test
    void opensConvertsAndLoadsQuickly() {
        Path checkpoint = dev.diffusion.core.testing.Fixtures.sd15Checkpoint();
        long openStart = System.nanoTime();
        try (StableDiffusionModel model = StableDiffusionModel.open(checkpoint)) {
            long openMillis = (System.nanoTime() - openStart) / 1_000_000;
            assertEquals(686, model.unet().keys().size());
            assertEquals(248, model.vae().keys().size());
            assertEquals(196, model.textEncoder().keys().size());
            assertEquals("sd15_random_f16", model.name());
            assertEquals(2_132_626_470L, model.weightBytes());
            assertTrue(model.unetConfig().isEmpty());

            assertEquals(TinyStableDiffusion.unet(dev.diffusion.core.unet.UNetConfig.sd15(), 0).keys(), model.unet().keys());
            assertArrayEquals(new long[] {512, 512}, model.vae().info("decoder.mid_block.attentions.0.to_v.weight").shape());
            assertEquals("F16", model.unet().info("conv_in.weight").dtype());

            float[] groupNorm = model.unet().floats("down_blocks.1.resnets.0.norm1.weight");
            float[] layerNorm = model.textEncoder().floats("text_model.final_layer_norm.weight");
            float[] bias = model.vae().floats("decoder.mid_block.attentions.0.to_q.bias");
            assertEquals(320, groupNorm.length);
            for (float v : groupNorm) {
                assertEquals(1.0f, v);
            }
            for (float v : layerNorm) {
                assertEquals(1.0f, v);
            }
            for (float v : bias) {
                assertEquals(0.0f, v);
            }
            float[] tokens = model.textEncoder().floats("text_model.embeddings.token_embedding.weight");
            assertEquals(49408L * 768, tokens.length);
            double sumSquares = 0;
            for (float v : tokens) {
                sumSquares += v * v;
            }
            double std = Math.sqrt(sumSquares / tokens.length);
            assertEquals(0.02, std, 0.001, "weights ~ N(0, 0.02^2)");

            long start = System.nanoTime();
            long values = 0;
            double checksum = 0;
            for (Weights part : new Weights[] {model.unet(), model.vae(), model.textEncoder()}) {
                for (String key : part.keys()) {
                    float[] v = part.floats(key);
                    values += v.length;
                    checksum += v[v.length / 2];
                }
            }
            long millis = (System.nanoTime() - start) / 1_000_000;
            System.out.printf("SD 1.5 fp16 checkpoint: opened in %d ms; %,d values (%d tensors) to float32 in %d ms (checksum %.6f)%n",
                    openMillis, values, 1130, millis, checksum);
            assertEquals(1_066_235_307L, values);
        }
    }
}
