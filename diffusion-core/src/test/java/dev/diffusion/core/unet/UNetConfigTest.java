package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class UNetConfigTest {
    /** runwayml/stable-diffusion-v1-5 unet/config.json as published (diffusers 0.6 era). */
    static final String SD15_JSON = """
            {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0", "act_fn": "silu",
             "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
             "cross_attention_dim": 768,
             "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
             "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
             "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
            """;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void sd15ConfigJsonGivesTheDefaults() throws Exception {
        UNetConfig c = UNetConfig.fromJson(JSON.readTree(SD15_JSON));
        assertEquals(UNetConfig.sd15(), c);
        assertArrayEquals(new int[] {8, 8, 8, 8}, c.attentionHeads(), "attention_head_dim is the head count in SD 1.x");
        assertEquals(1280, c.timeEmbeddingDim());
        assertEquals(UNetConfig.sd15(), UNetConfig.fromJson(JSON.readTree("{}")));
    }

    @Test
    void numAttentionHeadsOverridesAndListsAreReadPerBlock() throws Exception {
        ObjectNode n = (ObjectNode) JSON.readTree(SD15_JSON);
        n.putArray("attention_head_dim").add(5).add(10).add(20).add(20); // SD 2.x style: head dims, ignored below
        n.putArray("num_attention_heads").add(4).add(8).add(16).add(16);
        n.put("use_linear_projection", true);
        n.put("cross_attention_dim", 1024);
        UNetConfig c = UNetConfig.fromJson(n);
        assertArrayEquals(new int[] {4, 8, 16, 16}, c.attentionHeads());
        assertTrue(c.useLinearProjection());
        assertEquals(1024, c.crossAttentionDim());
    }

    @Test
    void unsupportedOptionsAreRefusedByName() throws Exception {
        for (String[] kv : new String[][] {
                {"class_embed_type", "\"timestep\""}, {"addition_embed_type", "\"text_time\""},
                {"time_cond_proj_dim", "256"}, {"resnet_time_scale_shift", "\"scale_shift\""},
                {"only_cross_attention", "true"}, {"act_fn", "\"gelu\""}, {"mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\""}}) {
            ObjectNode n = (ObjectNode) JSON.readTree(SD15_JSON);
            n.set(kv[0], JSON.readTree(kv[1]));
            var e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson(n));
            assertTrue(e.getMessage().contains(kv[0]), e.getMessage());
        }
        ObjectNode n = (ObjectNode) JSON.readTree(SD15_JSON);
        n.putArray("down_block_types").add("AttnDownBlock2D").add("DownBlock2D").add("DownBlock2D").add("DownBlock2D");
        var e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson(n));
        assertTrue(e.getMessage().contains("AttnDownBlock2D"), e.getMessage());
    }

    @Test
    void builderStartsFromSd15AndExpandsOneValueToEveryBlock() {
        assertEquals(UNetConfig.sd15(), UNetConfig.builder().build());
        UNetConfig c = UNetConfig.builder().blockOutChannels(32, 64).layersPerBlock(1)
                .downBlockTypes(UNetConfig.CROSS_ATTN_DOWN, UNetConfig.DOWN).upBlockTypes(UNetConfig.UP, UNetConfig.CROSS_ATTN_UP)
                .attentionHeads(2).normNumGroups(8).build();
        assertArrayEquals(new int[] {2, 2}, c.attentionHeads());
        assertArrayEquals(new int[] {1, 1}, c.transformerLayersPerBlock());
        assertEquals(128, c.timeEmbeddingDim(), "4 × block_out_channels[0] unless set");
        assertEquals(768, c.crossAttentionDim());
        assertEquals(1, c.downsamplePadding());
        assertEquals(256, c.toBuilder().blockOutChannels(64, 64).build().timeEmbeddingDim(), "still derived");
        assertEquals(100, c.toBuilder().timeEmbeddingDim(100).build().timeEmbeddingDim());
    }

    @Test
    void toJsonReadsBackToTheSameConfig() throws Exception {
        UNetConfig odd = UNetConfig.builder().inChannels(9).outChannels(3).blockOutChannels(32, 64, 64).layersPerBlock(1)
                .downBlockTypes(UNetConfig.DOWN, UNetConfig.CROSS_ATTN_DOWN, UNetConfig.CROSS_ATTN_DOWN)
                .upBlockTypes(UNetConfig.CROSS_ATTN_UP, UNetConfig.CROSS_ATTN_UP, UNetConfig.UP)
                .crossAttentionDim(48).attentionHeads(2, 4, 8).transformerLayersPerBlock(1, 2, 1).normNumGroups(16)
                .normEps(1e-6).flipSinToCos(false).freqShift(1).useLinearProjection(true).downsamplePadding(0)
                .timeEmbeddingDim(96).build();
        for (UNetConfig c : new UNetConfig[] {UNetConfig.sd15(), odd}) {
            assertEquals(c, UNetConfig.fromJson(JSON.readTree(c.toJson().toString())));
        }
        assertEquals(0, UNetConfig.sd15().toJson().path("freq_shift").asInt());
        assertTrue(UNetConfig.sd15().toJson().path("freq_shift").isIntegralNumber(), "an integer, as diffusers writes it");
    }

    @Test
    void downsamplePaddingOtherThanZeroOrOneIsRefused() throws Exception {
        ObjectNode n = (ObjectNode) JSON.readTree(SD15_JSON);
        n.put("downsample_padding", 0);
        assertEquals(0, UNetConfig.fromJson(n).downsamplePadding());
        n.put("downsample_padding", 2);
        var e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson(n));
        assertTrue(e.getMessage().contains("downsample_padding"), e.getMessage());
    }

    /**
     * Attention's memory, by hand: SD 1.5 attends at latent levels 0–2 and in the mid block, 8 heads each; at 64×64
     * latents (512²) level 0 has 4096 tokens, so a CFG pair's scores are 2·8·4096·4096 floats = 1 GiB (the softmax
     * overwrites them in place). Sliced at 512 MiB: 512 Mi / (2·8·4096·4 bytes per query row) = 2048 rows at a time.
     */
    @Test
    void attentionMemoryIsScoresAndSoftmaxAtTheLargestLevel() {
        UNetConfig sd15 = UNetConfig.sd15();
        assertEquals(1L << 30, sd15.attentionBytes(2, 64, 64, 0));
        assertEquals(512L << 20, sd15.attentionBytes(2, 64, 64, 512L << 20));
        assertEquals(512L << 20, sd15.attentionBytes(1, 64, 64, 0)); // linear in the batch
        assertEquals(16L << 30, sd15.attentionBytes(2, 128, 128, 0)); // fourth power of the side: 1024² is 16 × 512²
        // at least 1/64 of the rows per slice, whatever the budget: 4096 / 64 = 64 rows
        assertEquals(64L * 2 * 8 * 4096 * 4, sd15.attentionBytes(2, 64, 64, 1));
        // a model that attends from level 1 on (the demo model's layout): 4 heads over (128/2)² tokens at 128×128 latents
        UNetConfig fromLevel1 = UNetConfig.builder().blockOutChannels(32, 64, 64, 64).attentionHeads(4, 4, 4, 4)
                .transformerLayersPerBlock(1, 1, 1, 1).normNumGroups(8).crossAttentionDim(64)
                .downBlockTypes(UNetConfig.DOWN, UNetConfig.CROSS_ATTN_DOWN, UNetConfig.CROSS_ATTN_DOWN, UNetConfig.CROSS_ATTN_DOWN)
                .upBlockTypes(UNetConfig.CROSS_ATTN_UP, UNetConfig.CROSS_ATTN_UP, UNetConfig.CROSS_ATTN_UP, UNetConfig.UP)
                .build();
        long tokens = 64 * 64;
        assertEquals(2 * 4 * tokens * tokens * 4, fromLevel1.attentionBytes(2, 128, 128, 0));
    }
}
