package dev.diffusion.core.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.weights.SafeTensorsWriter;
import dev.diffusion.core.weights.TensorDtype;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./sd generate --lora-dir} on the demo model: weight 0 gives the image without the LoRA bit for bit, weight 1
 * another one; the PNG keeps the prompt as typed and names the LoRA's hash; unmatched tensors are warned about by
 * name; a tag without {@code --lora-dir}, or naming a missing LoRA, is refused in one line.
 */
class LoraGenerateTest {
    private static CliOutcome run(String... argv) {
        return CliOutcome.run(argv);
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * 0.3);
        }
        return v;
    }

    @Test
    void weightZeroIsTheImageWithoutTheLora(@TempDir Path dir) throws Exception {
        Random r = new Random(1);
        String unet = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_v";
        String te = "lora_te_text_model_encoder_layers_1_mlp_fc2";
        new SafeTensorsWriter(TensorDtype.F16)
                .add(unet + ".lora_up.weight", new long[] {64, 4}, random(r, 256))
                .add(unet + ".lora_down.weight", new long[] {4, 64}, random(r, 256))
                .add(unet + ".alpha", new long[] {}, new float[] {4})
                .add(te + ".lora_up.weight", new long[] {64, 4}, random(r, 256))
                .add(te + ".lora_down.weight", new long[] {4, 128}, random(r, 512))
                .add("lora_unet_not_a_layer.lora_up.weight", new long[] {64, 4}, random(r, 256))
                .write(dir.resolve("shapes.safetensors"));
        String model = ModelSource.demoFolder().toString();
        String[] common = {"generate", "--model", model, "--steps", "3", "--seed", "5", "--quiet", "--lora-dir", dir.toString()};
        CliOutcome plain = run(concat(common, "--prompt", "a red circle on the left", "--out", dir.resolve("plain.png").toString()));
        assertEquals(0, plain.code(), plain.err());
        CliOutcome zero = run(concat(common, "--prompt", "a red circle <lora:shapes:0> on the left", "--out",
                dir.resolve("zero.png").toString()));
        assertEquals(0, zero.code(), zero.err());
        CliOutcome one = run(concat(common, "--prompt", "a red circle <lora:shapes:1> on the left", "--out",
                dir.resolve("one.png").toString()));
        assertEquals(0, one.code(), one.err());
        assertTrue(one.err().contains("warning: LoRA shapes: 1 tensors match no layer of the model and are not applied: "
                + "lora_unet_not_a_layer.lora_up.weight"), one.err());

        Png.Image p = Png.decode(Files.readAllBytes(dir.resolve("plain.png")));
        Png.Image z = Png.decode(Files.readAllBytes(dir.resolve("zero.png")));
        Png.Image o = Png.decode(Files.readAllBytes(dir.resolve("one.png")));
        assertArrayEquals(p.rgb(), z.rgb(), "weight 0 must give the image without the LoRA bit for bit");
        assertFalse(java.util.Arrays.equals(p.rgb(), o.rgb()), "weight 1 must change the image");
        GenerationParameters params = GenerationParameters.parse(o.text().get("parameters"));
        assertEquals("a red circle <lora:shapes:1> on the left", params.prompt());
        assertTrue(params.settings().get("Lora hashes").matches("shapes: [0-9a-f]{12}"), params.settings().toString());
        assertTrue(o.text().get("parameters").contains("Lora hashes: \"shapes: "), o.text().get("parameters"));

        CliOutcome noDir = run("generate", "--model", model, "--prompt", "x <lora:shapes:1>", "--out", dir.resolve("x.png").toString());
        assertEquals(2, noDir.code());
        assertEquals("sd: --prompt names LoRA shapes but no --lora-dir is given", noDir.err().strip());
        CliOutcome missing = run(concat(common, "--prompt", "x <lora:nope:1>", "--out", dir.resolve("x.png").toString()));
        assertEquals(1, missing.code(), missing.err());
        assertTrue(missing.err().contains("no LoRA named nope in ") && missing.err().contains("(have: shapes)"), missing.err());
        assertFalse(missing.err().contains("Exception"), missing.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
