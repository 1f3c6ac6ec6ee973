package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.diffusion.core.clip.ClipTextConfig;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.core.vae.VaeConfig;
import dev.diffusion.core.weights.CompVisKeys.DiffusersKey;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The conversion on the real SD 1.5 key list (1131 tensors), both ways. */
class CompVisKeysTest {
    private static KeyListWeights checkpoint;
    private static final CompVisKeys KEYS = CompVisKeys.sd1();

    @BeforeAll
    static void readKeys() throws Exception {
        checkpoint = KeyListWeights.sd15();
        assertEquals(1131, checkpoint.keys().size());
    }

    @Test
    void everyKeyConvertsAndConvertsBack() {
        int converted = 0;
        for (String key : checkpoint.keys()) {
            Optional<DiffusersKey> d = KEYS.toDiffusers(key);
            if (key.endsWith("position_ids")) {
                assertTrue(d.isEmpty(), key);
                continue;
            }
            assertTrue(d.isPresent(), "converts: " + key);
            assertEquals(key, KEYS.toCompVis(d.get().component(), d.get().key()), "back from " + d.get());
            long[] shape = checkpoint.info(key).shape();
            assertArrayEquals(shape, CompVisKeys.toCompVisShape(d.get(), CompVisKeys.toDiffusersShape(d.get(), shape)), key);
            converted++;
        }
        assertEquals(1130, converted);
    }

    // The diffusers view of the real checkpoint (1131 CompVis keys) against the module tree: the networks built
    // for the SD 1.x configs over RandomWeights declare every key and shape they read (no values are drawn).
    // Equal maps mean the mapping and the modules agree, key for key and shape for shape.

    @Test
    void unetKeysAreExactlyTheModuleTreesSd15Set() {
        Map<String, String> moduleTree = toMap(TinyStableDiffusion.unet(UNetConfig.sd15(), 0));
        assertEquals(686, moduleTree.size());
        assertEquals(moduleTree, toMap(KEYS.diffusersView(checkpoint, ModelComponent.UNET)));
    }

    @Test
    void textEncoderKeysAreExactlyTheModuleTreesSd15Set() {
        Map<String, String> moduleTree = toMap(TinyStableDiffusion.textEncoder(ClipTextConfig.sd15(), 0));
        assertEquals(196, moduleTree.size());
        assertEquals(moduleTree, toMap(KEYS.diffusersView(checkpoint, ModelComponent.TEXT_ENCODER)));
    }

    @Test
    void vaeKeysAndAttentionShapes() {
        Weights vae = KEYS.diffusersView(checkpoint, ModelComponent.VAE);
        assertEquals(248, vae.keys().size());
        assertEquals(toMap(TinyStableDiffusion.vae(VaeConfig.sd15(), 0)), toMap(vae), "the module tree's keys and shapes");
        for (String part : new String[] {"encoder", "decoder"}) {
            for (String proj : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) {
                String key = part + ".mid_block.attentions.0." + proj + ".weight";
                assertArrayEquals(new long[] {512, 512}, vae.info(key).shape(), key);
                assertArrayEquals(new long[] {512}, vae.info(part + ".mid_block.attentions.0." + proj + ".bias").shape());
            }
        }
        // the decoder's levels are numbered in opposite orders
        assertEquals(Optional.of(new DiffusersKey(ModelComponent.VAE, "decoder.up_blocks.3.resnets.0.conv_shortcut.weight")),
                KEYS.toDiffusers("first_stage_model.decoder.up.0.block.0.nin_shortcut.weight"));
        assertEquals(Optional.of(new DiffusersKey(ModelComponent.VAE, "decoder.up_blocks.0.upsamplers.0.conv.bias")),
                KEYS.toDiffusers("first_stage_model.decoder.up.3.upsample.conv.bias"));
        assertArrayEquals(new long[] {128, 256, 1, 1},
                vae.info("decoder.up_blocks.3.resnets.0.conv_shortcut.weight").shape());
    }

    @Test
    void textEncoderKeysWithAndWithoutTheTextModelLevel() {
        Weights clip = KEYS.diffusersView(checkpoint, ModelComponent.TEXT_ENCODER);
        assertEquals(196, clip.keys().size());
        assertTrue(clip.keys().stream().allMatch(k -> k.startsWith("text_model.")));
        assertTrue(clip.contains("text_model.embeddings.token_embedding.weight"));
        assertTrue(clip.contains("text_model.final_layer_norm.bias"));
        assertTrue(clip.contains("text_model.encoder.layers.11.mlp.fc2.weight"));
        assertEquals(Optional.of(new DiffusersKey(ModelComponent.TEXT_ENCODER, "text_model.embeddings.position_embedding.weight")),
                KEYS.toDiffusers("cond_stage_model.transformer.embeddings.position_embedding.weight"));
        assertEquals(Optional.empty(), KEYS.toDiffusers("cond_stage_model.transformer.embeddings.position_ids"));
    }

    @Test
    void unetSpotChecks() {
        String[][] pairs = {
            {"time_embed.0.weight", "time_embedding.linear_1.weight"},
            {"time_embed.2.bias", "time_embedding.linear_2.bias"},
            {"input_blocks.0.0.weight", "conv_in.weight"},
            {"input_blocks.1.0.in_layers.0.weight", "down_blocks.0.resnets.0.norm1.weight"},
            {"input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight", "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight"},
            {"input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"},
            {"input_blocks.4.0.skip_connection.bias", "down_blocks.1.resnets.0.conv_shortcut.bias"},
            {"input_blocks.11.0.out_layers.3.weight", "down_blocks.3.resnets.1.conv2.weight"},
            {"middle_block.0.emb_layers.1.weight", "mid_block.resnets.0.time_emb_proj.weight"},
            {"middle_block.1.proj_in.weight", "mid_block.attentions.0.proj_in.weight"},
            {"middle_block.2.in_layers.2.bias", "mid_block.resnets.1.conv1.bias"},
            {"output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"},
            {"output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"},
            {"output_blocks.3.1.norm.weight", "up_blocks.1.attentions.0.norm.weight"},
            {"output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight", "up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight"},
            {"out.0.weight", "conv_norm_out.weight"},
            {"out.2.bias", "conv_out.bias"},
        };
        for (String[] p : pairs) {
            assertEquals(Optional.of(new DiffusersKey(ModelComponent.UNET, p[1])), KEYS.toDiffusers("model.diffusion_model." + p[0]));
            assertEquals("model.diffusion_model." + p[0], KEYS.toCompVis(ModelComponent.UNET, p[1]));
        }
    }

    @Test
    void oldDiffusersVaeAttentionNames() {
        assertEquals("decoder.mid_block.attentions.0.to_q.weight", CompVisKeys.currentVaeName("decoder.mid_block.attentions.0.query.weight"));
        assertEquals("encoder.mid_block.attentions.0.to_out.0.bias", CompVisKeys.currentVaeName("encoder.mid_block.attentions.0.proj_attn.bias"));
        assertEquals("encoder.mid_block.attentions.0.group_norm.bias", CompVisKeys.currentVaeName("encoder.mid_block.attentions.0.group_norm.bias"));
        MapWeights old = new MapWeights()
                .put("decoder.mid_block.attentions.0.key.weight", new long[] {2, 2, 1, 1}, new float[] {1, 2, 3, 4})
                .put("decoder.conv_in.bias", new long[] {1}, new float[] {5});
        Weights current = CompVisKeys.currentVaeNames(old);
        assertArrayEquals(new long[] {2, 2}, current.info("decoder.mid_block.attentions.0.to_k.weight").shape());
        assertArrayEquals(new float[] {1, 2, 3, 4}, current.floats("decoder.mid_block.attentions.0.to_k.weight"));
        assertEquals("first_stage_model.decoder.mid.attn_1.v.bias",
                KEYS.toCompVis(ModelComponent.VAE, "decoder.mid_block.attentions.0.value.bias"));
    }

    @Test
    void keysOutsideTheNetworksAreSkippedAndStrangeOnesRefused() {
        assertEquals(Optional.empty(), KEYS.toDiffusers("alphas_cumprod"));
        assertEquals(Optional.empty(), KEYS.toDiffusers("model_ema.decay"));
        WeightsException e = assertThrows(WeightsException.class,
                () -> KEYS.toDiffusers("model.diffusion_model.input_blocks.12.0.in_layers.0.weight"));
        assertTrue(e.getMessage().contains("input_blocks.12.0"), e.getMessage());
        assertThrows(WeightsException.class, () -> KEYS.toDiffusers("model.diffusion_model.label_emb.0.0.weight"));
        assertThrows(WeightsException.class, () -> KEYS.toCompVis(ModelComponent.UNET, "down_blocks.3.downsamplers.0.conv.weight"));
        assertThrows(WeightsException.class, () -> KEYS.toCompVis(ModelComponent.UNET, "up_blocks.0.attentions.0.norm.weight"));
        assertThrows(WeightsException.class, () -> KEYS.toCompVis(ModelComponent.VAE, "decoder.up_blocks.4.resnets.0.conv1.weight"));
    }

    @Test
    void indexArithmeticFollowsTheConfig() throws Exception {
        var config = new ObjectMapper().readTree("{\"layers_per_block\":1,\"block_out_channels\":[32,64],"
                + "\"up_block_types\":[\"UpBlock2D\",\"CrossAttnUpBlock2D\"]}");
        CompVisKeys tiny = CompVisKeys.fromConfigs(Optional.of(config),
                Optional.of(new ObjectMapper().readTree("{\"block_out_channels\":[8,16]}")));
        assertEquals("model.diffusion_model.input_blocks.2.0.op.weight", tiny.toCompVis(ModelComponent.UNET, "down_blocks.0.downsamplers.0.conv.weight"));
        assertEquals("model.diffusion_model.input_blocks.3.1.norm.weight", tiny.toCompVis(ModelComponent.UNET, "down_blocks.1.attentions.0.norm.weight"));
        assertEquals("model.diffusion_model.output_blocks.1.1.conv.weight", tiny.toCompVis(ModelComponent.UNET, "up_blocks.0.upsamplers.0.conv.weight"));
        assertEquals("model.diffusion_model.output_blocks.3.1.norm.bias", tiny.toCompVis(ModelComponent.UNET, "up_blocks.1.attentions.1.norm.bias"));
        assertEquals("first_stage_model.decoder.up.0.block.2.conv1.weight", tiny.toCompVis(ModelComponent.VAE, "decoder.up_blocks.1.resnets.2.conv1.weight"));
        for (String d : new String[] {"down_blocks.0.downsamplers.0.conv.weight", "up_blocks.0.upsamplers.0.conv.weight",
                "up_blocks.1.resnets.1.conv_shortcut.bias", "down_blocks.1.resnets.0.time_emb_proj.weight"}) {
            assertEquals(Optional.of(new DiffusersKey(ModelComponent.UNET, d)), tiny.toDiffusers(tiny.toCompVis(ModelComponent.UNET, d)));
        }
    }

    /** Key → shape, sorted. */
    private static Map<String, String> toMap(Weights w) {
        Map<String, String> m = new TreeMap<>();
        w.keys().forEach(k -> m.put(k, Arrays.toString(w.info(k).shape())));
        return m;
    }
}
