package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.core.pipeline.LoraRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA files on the bundled demo model (diffusers folder; 1 layer per block, so its CompVis numbering differs from
 * SD 1.x's): the merged weight against W + m·(alpha/rank)·up·down computed here, element by element; the kohya
 * names in both spellings and the PEFT names giving the same weights; unmatched tensors named; SDXL, SD 2.x and
 * pickle files refused; names that could leave the LoRA folder refused.
 */
class LoraTest {
    private static StableDiffusionModel demo;
    private static Lora.Targets targets;
    @TempDir
    Path dir;

    @BeforeAll
    static void open() {
        demo = StableDiffusionModel.open(ModelSource.demoFolder());
        targets = new Lora.Targets(demo.unet(), demo.textEncoder(), CompVisKeys.fromConfigs(demo.unetConfig(), demo.vaeConfig()));
    }

    @AfterAll
    static void close() {
        demo.close();
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * 0.1);
        }
        return v;
    }

    /** W + scale · up[out, rank] · down[rank, inner], written as the definition reads (sum over r innermost). */
    private static float[] expected(float[] w, float[] up, float[] down, int rank, double scale) {
        int out = up.length / rank;
        int inner = down.length / rank;
        float[] e = w.clone();
        for (int o = 0; o < out; o++) {
            for (int j = 0; j < inner; j++) {
                double s = 0;
                for (int r = 0; r < rank; r++) {
                    s += up[o * rank + r] * down[r * inner + j];
                }
                e[o * inner + j] = (float) (w[o * inner + j] + scale * s);
            }
        }
        return e;
    }

    private static void assertClose(float[] want, float[] got) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5f * (1 + Math.abs(want[i])), "element " + i);
        }
    }

    // down_blocks.1.attentions.0 of the demo U-Net (1 layer per block) is CompVis input_blocks.3.1
    private static final String TO_K = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight";
    private static final String PROJ_IN = "down_blocks.1.attentions.0.proj_in.weight"; // 1x1 conv [64, 64, 1, 1]
    private static final String CONV = "down_blocks.1.resnets.0.conv1.weight";        // 3x3 conv [64, 32, 3, 3]
    private static final String Q_PROJ = "text_model.encoder.layers.0.self_attn.q_proj.weight";

    @Test
    void kohyaLoraMergesAsTheFormulaSaysInBothNamings() {
        Random r = new Random(3);
        int rank = 4;
        float[] kUp = random(r, 64 * rank), kDown = random(r, rank * 64);
        float[] pUp = random(r, 64 * rank), pDown = random(r, rank * 64);
        float[] cUp = random(r, 64 * rank), cDown = random(r, rank * 32 * 9);
        float[] qUp = random(r, 64 * rank), qDown = random(r, rank * 64);
        Path file = dir.resolve("mix.safetensors");
        new SafeTensorsWriter(TensorDtype.F32)
                // CompVis spelling
                .add("lora_unet_input_blocks_3_1_transformer_blocks_0_attn2_to_k.lora_up.weight", new long[] {64, rank}, kUp)
                .add("lora_unet_input_blocks_3_1_transformer_blocks_0_attn2_to_k.lora_down.weight", new long[] {rank, 64}, kDown)
                .add("lora_unet_input_blocks_3_1_transformer_blocks_0_attn2_to_k.alpha", new long[] {}, new float[] {2})
                // diffusers spelling, 1x1 conv as 4-D
                .add("lora_unet_down_blocks_1_attentions_0_proj_in.lora_up.weight", new long[] {64, rank, 1, 1}, pUp)
                .add("lora_unet_down_blocks_1_attentions_0_proj_in.lora_down.weight", new long[] {rank, 64, 1, 1}, pDown)
                // 3x3 conv (LoCon), no alpha: scale 1
                .add("lora_unet_down_blocks_1_resnets_0_conv1.lora_up.weight", new long[] {64, rank, 1, 1}, cUp)
                .add("lora_unet_down_blocks_1_resnets_0_conv1.lora_down.weight", new long[] {rank, 32, 3, 3}, cDown)
                .add("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", new long[] {64, rank}, qUp)
                .add("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", new long[] {rank, 64}, qDown)
                .add("lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha", new long[] {}, new float[] {8})
                .add("lora_unet_no_such_block_to_q.lora_up.weight", new long[] {64, rank}, kUp)
                .add("lora_unet_no_such_block_to_q.lora_down.weight", new long[] {rank, 64}, kDown)
                .add("some_other_tensor", new long[] {2}, new float[] {1, 2})
                .write(file);
        Lora lora = Lora.open(file, "mix", targets);
        assertEquals(4, lora.patches().size());
        assertEquals(List.of("lora_unet_no_such_block_to_q.lora_down.weight", "lora_unet_no_such_block_to_q.lora_up.weight",
                "some_other_tensor"), lora.unmatchedKeys());
        assertTrue(lora.unmatchedWarning().contains("some_other_tensor"), lora.unmatchedWarning());

        LoraSet set = new LoraSet(List.of(new LoraSet.Applied(lora, 0.7)));
        Weights unet = set.apply(ModelComponent.UNET, demo.unet());
        Weights text = set.apply(ModelComponent.TEXT_ENCODER, demo.textEncoder());
        assertClose(expected(demo.unet().floats(TO_K), kUp, kDown, rank, 0.7 * 2 / rank), unet.floats(TO_K));
        assertClose(expected(demo.unet().floats(PROJ_IN), pUp, pDown, rank, 0.7), unet.floats(PROJ_IN));
        assertClose(expected(demo.unet().floats(CONV), cUp, cDown, rank, 0.7), unet.floats(CONV));
        assertClose(expected(demo.textEncoder().floats(Q_PROJ), qUp, qDown, rank, 0.7 * 8 / rank), text.floats(Q_PROJ));
        // untouched weights are the base's; weight 0 is the base bit for bit
        String other = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.weight";
        assertArrayEquals(demo.unet().floats(other), unet.floats(other));
        Weights zero = new LoraSet(List.of(new LoraSet.Applied(lora, 0))).apply(ModelComponent.UNET, demo.unet());
        assertArrayEquals(demo.unet().floats(TO_K), zero.floats(TO_K));

        // the same update in the diffusers/PEFT layout: the same weights
        Path peft = dir.resolve("peft.safetensors");
        new SafeTensorsWriter(TensorDtype.F32)
                .add("unet." + TO_K.replace(".weight", ".lora_B.weight"), new long[] {64, rank}, kUp)
                .add("unet." + TO_K.replace(".weight", ".lora_A.weight"), new long[] {rank, 64}, kDown)
                .add("unet." + TO_K.replace(".weight", ".alpha"), new long[] {}, new float[] {2})
                .add("text_encoder." + Q_PROJ.replace(".weight", ".lora_B.weight"), new long[] {64, rank}, qUp)
                .add("text_encoder." + Q_PROJ.replace(".weight", ".lora_A.weight"), new long[] {rank, 64}, qDown)
                .write(peft);
        Lora p = Lora.open(peft, "peft", targets);
        assertEquals(List.of(), p.unmatchedKeys());
        LoraSet peftSet = new LoraSet(List.of(new LoraSet.Applied(p, 0.7)));
        assertArrayEquals(unet.floats(TO_K), peftSet.apply(ModelComponent.UNET, demo.unet()).floats(TO_K));
        assertClose(expected(demo.textEncoder().floats(Q_PROJ), qUp, qDown, rank, 0.7),
                peftSet.apply(ModelComponent.TEXT_ENCODER, demo.textEncoder()).floats(Q_PROJ));
    }

    @Test
    void otherArchitecturesAndPicklesAreRefusedWithTheReason() throws Exception {
        Path xl = dir.resolve("xl.safetensors");
        new SafeTensorsWriter(TensorDtype.F32)
                .add("lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", new long[] {768, 1}, new float[768])
                .write(xl);
        WeightsException e = assertThrows(WeightsException.class, () -> Lora.open(xl, "xl", targets));
        assertTrue(e.getMessage().contains("Stable Diffusion XL"), e.getMessage());

        Path sd2 = dir.resolve("sd2.safetensors"); // cross-attention reading 1024-wide OpenCLIP states
        new SafeTensorsWriter(TensorDtype.F32)
                .add("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight", new long[] {64, 1}, new float[64])
                .add("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight", new long[] {1, 1024}, new float[1024])
                .write(sd2);
        e = assertThrows(WeightsException.class, () -> Lora.open(sd2, "sd2", targets));
        assertTrue(e.getMessage().contains("Stable Diffusion 2.x") && e.getMessage().contains("attn2_to_k"), e.getMessage());

        Path meta = dir.resolve("meta.safetensors");
        new SafeTensorsWriter(TensorDtype.F32).metadata("ss_base_model_version", "sdxl_base_v1-0")
                .add("lora_unet_x.lora_up.weight", new long[] {1, 1}, new float[1]).write(meta);
        assertTrue(assertThrows(WeightsException.class, () -> Lora.open(meta, "meta", targets)).getMessage().contains("XL"));

        Path nothing = dir.resolve("embedding.safetensors");
        new SafeTensorsWriter(TensorDtype.F32).add("emb_params", new long[] {2, 768}, new float[1536]).write(nothing);
        e = assertThrows(WeightsException.class, () -> Lora.open(nothing, "embedding", targets));
        assertTrue(e.getMessage().contains("emb_params"), e.getMessage());

        Files.write(dir.resolve("evil.ckpt"), new byte[] {(byte) 0x80, 2});
        LoraDirectory loras = new LoraDirectory(dir);
        assertTrue(assertThrows(WeightsException.class, () -> loras.resolve("evil")).getMessage().contains("pickle"));
        assertEquals(dir.toAbsolutePath().normalize().resolve("xl.safetensors"), loras.resolve("xl"));
        assertTrue(assertThrows(WeightsException.class, () -> loras.resolve("missing")).getMessage().contains("have: "));
    }

    @Test
    void namesThatCouldLeaveTheFolderAreRefused() {
        for (String name : List.of("../x", "a/b", "..\\x", ".hidden", "/etc/passwd", "")) {
            InvalidRequestException e = assertThrows(InvalidRequestException.class,
                    () -> LoraRef.extract("a cat <lora:" + name + ":1>"), name);
            assertEquals("prompt", e.field());
        }
        assertThrows(InvalidRequestException.class, () -> new LoraRef("../x", 1));
        assertThrows(InvalidRequestException.class, () -> LoraRef.extract("<lora:a:lots>"));
        assertThrows(InvalidRequestException.class, () -> LoraRef.extract("<lora:a:11>"));
        // A1111 raises on an empty weight; its third field (the U-Net's own weight) is read only when it is the same
        assertThrows(InvalidRequestException.class, () -> LoraRef.extract("<lora:a:>"));
        assertEquals(List.of(new LoraRef("a", 0.5)), LoraRef.extract("<lora:a:0.5:0.5>").loras());
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> LoraRef.extract("x <lora:a:1:2>"));
        assertTrue(e.getMessage().contains("another weight"), e.getMessage());
        assertThrows(InvalidRequestException.class, () -> LoraRef.extract("<lora:a:1:unet=2>"));
    }

    @Test
    void tagsAreStrippedAndTheirWeightsParsedAsA1111AndSdCppDo() {
        LoraRef.Extracted x = LoraRef.extract("a photo of a cat <lora:randlora:0.8>");
        assertEquals("a photo of a cat ", x.prompt()); // sd.cpp leaves the space: the same tokens
        assertEquals(List.of(new LoraRef("randlora", 0.8)), x.loras());
        x = LoraRef.extract("<lora:a> x <lora:b:-0.5> y <lora:a:0.25> <hypernet:h:1>");
        assertEquals(" x  y  <hypernet:h:1>", x.prompt());
        assertEquals(List.of(new LoraRef("a", 1.25), new LoraRef("b", -0.5)), x.loras()); // same name: weights add
        assertEquals(Map.of(), Map.of());
    }
}
