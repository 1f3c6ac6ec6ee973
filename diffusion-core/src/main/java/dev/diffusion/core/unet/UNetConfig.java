package dev.diffusion.core.unet;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The parts of a diffusers {@code unet/config.json} (UNet2DConditionModel) that SD 1.x-style U-Nets use.
 *
 * <p>{@code attentionHeads} holds the number of attention HEADS per down block. SD 1.x configs
 * write it as {@code attention_head_dim}; diffusers reads that number as the head count when
 * {@code num_attention_heads} is absent (a naming quirk documented in unet_2d_condition.py), and
 * so do we. {@code transformerLayersPerBlock} is per down block too; the up path uses both lists reversed.
 *
 * @param timeEmbeddingDim width of the time embedding MLP, 4 × blockOutChannels[0] unless {@code time_embedding_dim} says
 */
public record UNetConfig(
        int inChannels,
        int outChannels,
        int[] blockOutChannels,
        int layersPerBlock,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        int crossAttentionDim,
        int[] attentionHeads,
        int[] transformerLayersPerBlock,
        int normNumGroups,
        double normEps,
        boolean flipSinToCos,
        double freqShift,
        boolean useLinearProjection,
        int downsamplePadding,
        int timeEmbeddingDim) {

    public static final String CROSS_ATTN_DOWN = "CrossAttnDownBlock2D";
    public static final String DOWN = "DownBlock2D";
    public static final String CROSS_ATTN_UP = "CrossAttnUpBlock2D";
    public static final String UP = "UpBlock2D";
    public static final String MID = "UNetMidBlock2DCrossAttn";

    public UNetConfig {
        int n = blockOutChannels.length;
        if (n < 1) {
            throw new IllegalArgumentException("block_out_channels must not be empty");
        }
        if (downBlockTypes.size() != n || upBlockTypes.size() != n) {
            throw new IllegalArgumentException("down_block_types (" + downBlockTypes.size() + ") and up_block_types ("
                    + upBlockTypes.size() + ") must both have one entry per block_out_channels (" + n + ")");
        }
        if (attentionHeads.length != n || transformerLayersPerBlock.length != n) {
            throw new IllegalArgumentException("attention heads and transformer_layers_per_block need one entry per block");
        }
        for (String t : downBlockTypes) {
            if (!t.equals(CROSS_ATTN_DOWN) && !t.equals(DOWN)) {
                throw new IllegalArgumentException("unsupported down block type " + t + " (supported: " + CROSS_ATTN_DOWN + ", " + DOWN + ")");
            }
        }
        for (String t : upBlockTypes) {
            if (!t.equals(CROSS_ATTN_UP) && !t.equals(UP)) {
                throw new IllegalArgumentException("unsupported up block type " + t + " (supported: " + CROSS_ATTN_UP + ", " + UP + ")");
            }
        }
        for (int i = 0; i < n; i++) {
            if (blockOutChannels[i] % normNumGroups != 0) {
                throw new IllegalArgumentException("block_out_channels[" + i + "] = " + blockOutChannels[i]
                        + " is not divisible by norm_num_groups = " + normNumGroups);
            }
            if (blockOutChannels[i] % attentionHeads[i] != 0) {
                throw new IllegalArgumentException("block_out_channels[" + i + "] = " + blockOutChannels[i]
                        + " is not divisible by its " + attentionHeads[i] + " attention heads");
            }
        }
        if (layersPerBlock < 1 || inChannels < 1 || outChannels < 1 || crossAttentionDim < 1 || timeEmbeddingDim < 1) {
            throw new IllegalArgumentException("layers_per_block, in/out_channels, cross_attention_dim and the time embedding dim must be positive");
        }
        blockOutChannels = blockOutChannels.clone();
        attentionHeads = attentionHeads.clone();
        transformerLayersPerBlock = transformerLayersPerBlock.clone();
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
    }

    /** Stable Diffusion 1.x (the CompVis v1 U-Net, 860 M parameters). */
    public static UNetConfig sd15() {
        return new UNetConfig(4, 4, new int[] {320, 640, 1280, 1280}, 2,
                List.of(CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, DOWN),
                List.of(UP, CROSS_ATTN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP),
                768, new int[] {8, 8, 8, 8}, new int[] {1, 1, 1, 1}, 32, 1e-5, true, 0, false, 1, 4 * 320);
    }

    /** Options that change the network in ways this implementation does not build; any non-default value is refused. */
    private static final List<String> MUST_BE_NULL = List.of(
            "class_embed_type", "num_class_embeds", "addition_embed_type", "addition_time_embed_dim",
            "encoder_hid_dim", "encoder_hid_dim_type", "time_cond_proj_dim", "timestep_post_act",
            "time_embedding_act_fn", "projection_class_embeddings_input_dim", "cross_attention_norm");

    private static final Set<String> MUST_BE_FALSE = Set.of(
            "only_cross_attention", "dual_cross_attention", "center_input_sample", "resnet_skip_time_act",
            "mid_block_only_cross_attention", "class_embeddings_concat");

    /** Parses a diffusers {@code unet/config.json}; absent keys take the diffusers defaults, which are SD 1.x's. */
    public static UNetConfig fromJson(JsonNode json) {
        String cls = text(json, "_class_name", "UNet2DConditionModel");
        if (!cls.equals("UNet2DConditionModel")) {
            throw new IllegalArgumentException("unet config: _class_name " + cls + " is not UNet2DConditionModel");
        }
        for (String key : MUST_BE_NULL) {
            JsonNode v = json.get(key);
            if (v != null && !v.isNull() && !(key.equals("time_embedding_act_fn") && v.asText().equals("silu"))) {
                throw new IllegalArgumentException("unet config: " + key + " = " + v + " is not supported (SD 1.x U-Nets have none)");
            }
        }
        for (String key : MUST_BE_FALSE) {
            JsonNode v = json.get(key);
            if (v != null && !v.isNull() && v.asBoolean()) {
                throw new IllegalArgumentException("unet config: " + key + " = true is not supported");
            }
        }
        requireText(json, "act_fn", "silu");
        requireText(json, "time_embedding_type", "positional");
        requireText(json, "resnet_time_scale_shift", "default");
        requireText(json, "mid_block_type", MID);
        requireText(json, "attention_type", "default");
        requireNumber(json, "mid_block_scale_factor", 1);
        requireNumber(json, "conv_in_kernel", 3);
        requireNumber(json, "conv_out_kernel", 3);
        requireNumber(json, "resnet_out_scale_factor", 1);
        JsonNode reverse = json.get("reverse_transformer_layers_per_block");
        if (reverse != null && !reverse.isNull()) {
            throw new IllegalArgumentException("unet config: reverse_transformer_layers_per_block is not supported");
        }

        UNetConfig d = sd15();
        int[] blockOut = json.has("block_out_channels") ? ints(json.get("block_out_channels")) : d.blockOutChannels;
        int n = blockOut.length;
        int[] heads;
        JsonNode headsNode = json.get("num_attention_heads");
        if (headsNode == null || headsNode.isNull()) {
            headsNode = json.get("attention_head_dim"); // the head count in SD 1.x configs, see the class comment
        }
        heads = headsNode == null || headsNode.isNull() ? perBlock(8, n) : perBlockOrList(headsNode, n, "attention heads");
        JsonNode layersNode = json.get("transformer_layers_per_block");
        int[] transformerLayers = layersNode == null || layersNode.isNull()
                ? perBlock(1, n) : perBlockOrList(layersNode, n, "transformer_layers_per_block");
        JsonNode cross = json.get("cross_attention_dim");
        if (cross != null && cross.isArray()) {
            throw new IllegalArgumentException("unet config: a per-block cross_attention_dim list is not supported");
        }
        JsonNode timeDim = json.get("time_embedding_dim");
        int timeEmbeddingDim = timeDim == null || timeDim.isNull() ? 4 * blockOut[0] : timeDim.asInt();
        return new UNetConfig(
                json.path("in_channels").asInt(d.inChannels),
                json.path("out_channels").asInt(d.outChannels),
                blockOut,
                json.path("layers_per_block").asInt(d.layersPerBlock),
                json.has("down_block_types") ? strings(json.get("down_block_types")) : d.downBlockTypes,
                json.has("up_block_types") ? strings(json.get("up_block_types")) : d.upBlockTypes,
                cross == null || cross.isNull() ? d.crossAttentionDim : cross.asInt(),
                heads,
                transformerLayers,
                json.path("norm_num_groups").asInt(d.normNumGroups),
                json.path("norm_eps").asDouble(d.normEps),
                json.path("flip_sin_to_cos").asBoolean(d.flipSinToCos),
                json.path("freq_shift").asDouble(d.freqShift),
                json.path("use_linear_projection").asBoolean(d.useLinearProjection),
                json.path("downsample_padding").asInt(d.downsamplePadding),
                timeEmbeddingDim);
    }

    @Override
    public int[] blockOutChannels() {
        return blockOutChannels.clone();
    }

    @Override
    public int[] attentionHeads() {
        return attentionHeads.clone();
    }

    @Override
    public int[] transformerLayersPerBlock() {
        return transformerLayersPerBlock.clone();
    }

    public int blockCount() {
        return blockOutChannels.length;
    }

    /** Height and width of the latents must be multiples of this: each down block but the last halves them. */
    public int sizeMultiple() {
        return 1 << (blockOutChannels.length - 1);
    }

    private static String text(JsonNode json, String key, String dflt) {
        JsonNode v = json.get(key);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    private static void requireText(JsonNode json, String key, String expected) {
        String v = text(json, key, expected);
        if (!v.equals(expected)) {
            throw new IllegalArgumentException("unet config: " + key + " = " + v + " is not supported (only " + expected + ")");
        }
    }

    private static void requireNumber(JsonNode json, String key, double expected) {
        JsonNode v = json.get(key);
        if (v != null && !v.isNull() && v.asDouble() != expected) {
            throw new IllegalArgumentException("unet config: " + key + " = " + v + " is not supported (only " + expected + ")");
        }
    }

    private static int[] perBlock(int value, int n) {
        int[] a = new int[n];
        Arrays.fill(a, value);
        return a;
    }

    private static int[] perBlockOrList(JsonNode node, int n, String what) {
        if (!node.isArray()) {
            return perBlock(node.asInt(), n);
        }
        int[] a = ints(node);
        if (a.length != n) {
            throw new IllegalArgumentException("unet config: " + what + " lists " + a.length + " values for " + n + " blocks");
        }
        return a;
    }

    private static int[] ints(JsonNode array) {
        int[] a = new int[array.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = array.get(i).asInt();
        }
        return a;
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(v -> out.add(v.asText()));
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UNetConfig c && inChannels == c.inChannels && outChannels == c.outChannels
                && Arrays.equals(blockOutChannels, c.blockOutChannels) && layersPerBlock == c.layersPerBlock
                && downBlockTypes.equals(c.downBlockTypes) && upBlockTypes.equals(c.upBlockTypes)
                && crossAttentionDim == c.crossAttentionDim && Arrays.equals(attentionHeads, c.attentionHeads)
                && Arrays.equals(transformerLayersPerBlock, c.transformerLayersPerBlock) && normNumGroups == c.normNumGroups
                && normEps == c.normEps && flipSinToCos == c.flipSinToCos && freqShift == c.freqShift
                && useLinearProjection == c.useLinearProjection && downsamplePadding == c.downsamplePadding
                && timeEmbeddingDim == c.timeEmbeddingDim;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(blockOutChannels) * 31 + downBlockTypes.hashCode();
    }

    @Override
    public String toString() {
        return "UNetConfig[in=" + inChannels + ", out=" + outChannels + ", blocks=" + Arrays.toString(blockOutChannels)
                + ", layersPerBlock=" + layersPerBlock + ", down=" + downBlockTypes + ", up=" + upBlockTypes
                + ", crossAttentionDim=" + crossAttentionDim + ", heads=" + Arrays.toString(attentionHeads)
                + ", transformerLayers=" + Arrays.toString(transformerLayersPerBlock) + ", groups=" + normNumGroups
                + ", eps=" + normEps + ", flipSinToCos=" + flipSinToCos + ", freqShift=" + freqShift
                + ", linearProjection=" + useLinearProjection + ", timeEmbeddingDim=" + timeEmbeddingDim + "]";
    }
}
