package dev.diffusion.core.unet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
        if (downsamplePadding != 0 && downsamplePadding != 1) {
            throw new IllegalArgumentException("downsample_padding must be 0 (pad right and bottom by one) or 1, got "
                    + downsamplePadding);
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

    /** Stable Diffusion 1.x (the CompVis v1 U-Net, 860 M parameters): {@link Builder}'s defaults. */
    public static UNetConfig sd15() {
        return builder().build();
    }

    /** A builder starting from the SD 1.x config; set what differs. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this config. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.inChannels = inChannels;
        b.outChannels = outChannels;
        b.blockOutChannels = blockOutChannels.clone();
        b.layersPerBlock = layersPerBlock;
        b.downBlockTypes = downBlockTypes;
        b.upBlockTypes = upBlockTypes;
        b.crossAttentionDim = crossAttentionDim;
        b.attentionHeads = attentionHeads.clone();
        b.transformerLayersPerBlock = transformerLayersPerBlock.clone();
        b.normNumGroups = normNumGroups;
        b.normEps = normEps;
        b.flipSinToCos = flipSinToCos;
        b.freqShift = freqShift;
        b.useLinearProjection = useLinearProjection;
        b.downsamplePadding = downsamplePadding;
        // the derived default stays derived (a builder that changes blockOutChannels derives it anew)
        b.timeEmbeddingDim = timeEmbeddingDim == 4 * blockOutChannels[0] ? null : timeEmbeddingDim;
        return b;
    }

    /**
     * A {@link UNetConfig} field by field, named as in {@code config.json}. The defaults are SD 1.x's
     * (which are also diffusers' defaults for the keys SD 1.x configs leave out) and live here only.
     */
    public static final class Builder {
        private int inChannels = 4;
        private int outChannels = 4;
        private int[] blockOutChannels = {320, 640, 1280, 1280};
        private int layersPerBlock = 2;
        private List<String> downBlockTypes = List.of(CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, DOWN);
        private List<String> upBlockTypes = List.of(UP, CROSS_ATTN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP);
        private int crossAttentionDim = 768;
        private int[] attentionHeads = {8}; // one value: the same for every block
        private int[] transformerLayersPerBlock = {1};
        private int normNumGroups = 32;
        private double normEps = 1e-5;
        private boolean flipSinToCos = true;
        private double freqShift = 0;
        private boolean useLinearProjection = false;
        private int downsamplePadding = 1;
        private Integer timeEmbeddingDim; // null: 4 × blockOutChannels[0]

        private Builder() {}

        public Builder inChannels(int v) {
            inChannels = v;
            return this;
        }

        public Builder outChannels(int v) {
            outChannels = v;
            return this;
        }

        public Builder blockOutChannels(int... v) {
            blockOutChannels = v.clone();
            return this;
        }

        public Builder layersPerBlock(int v) {
            layersPerBlock = v;
            return this;
        }

        public Builder downBlockTypes(String... v) {
            return downBlockTypes(List.of(v));
        }

        public Builder downBlockTypes(List<String> v) {
            downBlockTypes = List.copyOf(v);
            return this;
        }

        public Builder upBlockTypes(String... v) {
            return upBlockTypes(List.of(v));
        }

        public Builder upBlockTypes(List<String> v) {
            upBlockTypes = List.copyOf(v);
            return this;
        }

        public Builder crossAttentionDim(int v) {
            crossAttentionDim = v;
            return this;
        }

        /** Heads per down block (the up path reverses them); one value for every block. */
        public Builder attentionHeads(int... v) {
            attentionHeads = v.clone();
            return this;
        }

        /** Transformer blocks per attention, per down block; one value for every block. */
        public Builder transformerLayersPerBlock(int... v) {
            transformerLayersPerBlock = v.clone();
            return this;
        }

        public Builder normNumGroups(int v) {
            normNumGroups = v;
            return this;
        }

        public Builder normEps(double v) {
            normEps = v;
            return this;
        }

        public Builder flipSinToCos(boolean v) {
            flipSinToCos = v;
            return this;
        }

        public Builder freqShift(double v) {
            freqShift = v;
            return this;
        }

        public Builder useLinearProjection(boolean v) {
            useLinearProjection = v;
            return this;
        }

        /** 1 (SD 1.x): symmetric padding 1; 0: diffusers' asymmetric (0, 1, 0, 1) pad, see {@code Downsample2D}. */
        public Builder downsamplePadding(int v) {
            downsamplePadding = v;
            return this;
        }

        /** Width of the time embedding MLP (default: 4 × blockOutChannels[0]). */
        public Builder timeEmbeddingDim(int v) {
            timeEmbeddingDim = v;
            return this;
        }

        public UNetConfig build() {
            int n = blockOutChannels.length;
            return new UNetConfig(inChannels, outChannels, blockOutChannels, layersPerBlock, downBlockTypes, upBlockTypes,
                    crossAttentionDim, perBlock(attentionHeads, n), perBlock(transformerLayersPerBlock, n), normNumGroups,
                    normEps, flipSinToCos, freqShift, useLinearProjection, downsamplePadding,
                    timeEmbeddingDim != null ? timeEmbeddingDim : n > 0 ? 4 * blockOutChannels[0] : 0);
        }

        private static int[] perBlock(int[] values, int n) {
            if (values.length != 1 || n == 1) {
                return values.clone();
            }
            int[] a = new int[n];
            Arrays.fill(a, values[0]);
            return a;
        }
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

        Builder b = builder();
        if (json.has("block_out_channels")) {
            b.blockOutChannels(ints(json.get("block_out_channels")));
        }
        int n = b.blockOutChannels.length;
        JsonNode headsNode = json.get("num_attention_heads");
        if (headsNode == null || headsNode.isNull()) {
            headsNode = json.get("attention_head_dim"); // the head count in SD 1.x configs, see the class comment
        }
        if (headsNode != null && !headsNode.isNull()) {
            b.attentionHeads(perBlockOrList(headsNode, n, "attention heads"));
        }
        JsonNode layersNode = json.get("transformer_layers_per_block");
        if (layersNode != null && !layersNode.isNull()) {
            b.transformerLayersPerBlock(perBlockOrList(layersNode, n, "transformer_layers_per_block"));
        }
        JsonNode cross = json.get("cross_attention_dim");
        if (cross != null && cross.isArray()) {
            throw new IllegalArgumentException("unet config: a per-block cross_attention_dim list is not supported");
        }
        if (cross != null && !cross.isNull()) {
            b.crossAttentionDim(cross.asInt());
        }
        JsonNode timeDim = json.get("time_embedding_dim");
        if (timeDim != null && !timeDim.isNull()) {
            b.timeEmbeddingDim(timeDim.asInt());
        }
        if (json.has("down_block_types")) {
            b.downBlockTypes(strings(json.get("down_block_types")));
        }
        if (json.has("up_block_types")) {
            b.upBlockTypes(strings(json.get("up_block_types")));
        }
        return b.inChannels(json.path("in_channels").asInt(b.inChannels))
                .outChannels(json.path("out_channels").asInt(b.outChannels))
                .layersPerBlock(json.path("layers_per_block").asInt(b.layersPerBlock))
                .normNumGroups(json.path("norm_num_groups").asInt(b.normNumGroups))
                .normEps(json.path("norm_eps").asDouble(b.normEps))
                .flipSinToCos(json.path("flip_sin_to_cos").asBoolean(b.flipSinToCos))
                .freqShift(json.path("freq_shift").asDouble(b.freqShift))
                .useLinearProjection(json.path("use_linear_projection").asBoolean(b.useLinearProjection))
                .downsamplePadding(json.path("downsample_padding").asInt(b.downsamplePadding))
                .build();
    }

    /**
     * This config as a diffusers {@code unet/config.json} (what {@link #fromJson} reads back to an equal config);
     * {@code attention_head_dim} holds the head counts, as SD 1.x configs write them.
     */
    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("_class_name", "UNet2DConditionModel");
        n.put("in_channels", inChannels);
        n.put("out_channels", outChannels);
        ints(n.putArray("block_out_channels"), blockOutChannels);
        n.put("layers_per_block", layersPerBlock);
        downBlockTypes.forEach(n.putArray("down_block_types")::add);
        upBlockTypes.forEach(n.putArray("up_block_types")::add);
        n.put("cross_attention_dim", crossAttentionDim);
        ints(n.putArray("attention_head_dim"), attentionHeads);
        ints(n.putArray("transformer_layers_per_block"), transformerLayersPerBlock);
        n.put("norm_num_groups", normNumGroups);
        n.put("norm_eps", normEps);
        n.put("act_fn", "silu");
        n.put("flip_sin_to_cos", flipSinToCos);
        if (freqShift == Math.rint(freqShift)) {
            n.put("freq_shift", (long) freqShift); // an integer in diffusers' configs
        } else {
            n.put("freq_shift", freqShift);
        }
        n.put("use_linear_projection", useLinearProjection);
        n.put("downsample_padding", downsamplePadding);
        if (timeEmbeddingDim != 4 * blockOutChannels[0]) {
            n.put("time_embedding_dim", timeEmbeddingDim);
        }
        return n;
    }

    private static void ints(ArrayNode array, int[] values) {
        for (int v : values) {
            array.add(v);
        }
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

    /** Most slices {@link dev.diffusion.core.nn.Attention} cuts one attention into. */
    private static final int MAX_ATTENTION_SLICES = 64;

    /**
     * The memory one U-Net call's largest self-attention holds at once: its float32 scores, batch × heads × tokens ×
     * tokens at the level where that is largest (tokens = the latent pixels at that level; cross-attention's 77 keys
     * are far fewer). The softmax overwrites the scores in place: the demo model's CFG pair at 1024² holds 8 GiB of
     * scores and peaked at 8.89 GiB RSS in all ({@code ./sd bench --size 1024}, sliced attention off). With sliced attention ({@code sliceBytes > 0}) the scores are held a
     * slice of query rows at a time, as {@link dev.diffusion.core.nn.Attention} cuts them. It grows with the fourth
     * power of the image side: what makes a large image, or many large images in one call, run out of memory.
     */
    public long attentionBytes(int batch, int latentHeight, int latentWidth, long sliceBytes) {
        int n = blockOutChannels.length;
        long worst = 0;
        for (int level = 0; level < n; level++) {
            // the down block of this level, the up block mirroring it, or the mid block at the lowest level
            boolean attends = downBlockTypes.get(level).equals(CROSS_ATTN_DOWN)
                    || upBlockTypes.get(n - 1 - level).equals(CROSS_ATTN_UP) || level == n - 1;
            if (!attends) {
                continue;
            }
            long h = latentHeight;
            long w = latentWidth;
            for (int i = 0; i < level; i++) { // a stride-2 convolution with padding 1: ceil
                h = (h + 1) / 2;
                w = (w + 1) / 2;
            }
            long tokens = h * w;
            long rowBytes = (long) batch * attentionHeads[level] * tokens * Float.BYTES;
            long rows = tokens;
            if (sliceBytes > 0) {
                rows = Math.min(tokens, Math.max(Math.max(sliceBytes / rowBytes, 1),
                        (tokens + MAX_ATTENTION_SLICES - 1) / MAX_ATTENTION_SLICES));
            }
            worst = Math.max(worst, rows * rowBytes);
        }
        return worst;
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

    private static int[] perBlockOrList(JsonNode node, int n, String what) {
        if (!node.isArray()) {
            int[] a = new int[n];
            Arrays.fill(a, node.asInt());
            return a;
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
                + ", linearProjection=" + useLinearProjection + ", downsamplePadding=" + downsamplePadding
                + ", timeEmbeddingDim=" + timeEmbeddingDim + "]";
    }
}
