package dev.diffusion.core.vae;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The shape of an {@code AutoencoderKL}, read from a diffusers {@code vae/config.json}. Fields a
 * config leaves out take the SD 1.x values of {@link #sd15()} (older configs lack
 * {@code scaling_factor}, {@code mid_block_add_attention} and the quant-conv flags; diffusers' own
 * defaults for those are the same values).
 *
 * @param inChannels           image channels into the encoder (3)
 * @param outChannels          image channels out of the decoder (3)
 * @param latentChannels       latent channels (4); the encoder emits twice as many (mean, logvar)
 * @param blockOutChannels     channels per level, encoder order (the decoder walks them reversed)
 * @param layersPerBlock       ResNet blocks per encoder level; the decoder has one more per level
 * @param normNumGroups        GroupNorm groups everywhere
 * @param normEps              GroupNorm epsilon (diffusers hard-codes 1e-6 for the VAE; not a config field)
 * @param scalingFactor        latents the U-Net sees are {@code scalingFactor·(z − shiftFactor)}
 * @param shiftFactor          0 for SD 1.x/2.x/XL ({@code shift_factor: null})
 * @param midBlockAttention    whether the mid blocks have their single-head self-attention
 * @param useQuantConv         whether {@code quant_conv} (1x1, after the encoder) exists
 * @param usePostQuantConv     whether {@code post_quant_conv} (1x1, before the decoder) exists
 */
public record VaeConfig(
        int inChannels,
        int outChannels,
        int latentChannels,
        List<Integer> blockOutChannels,
        int layersPerBlock,
        int normNumGroups,
        double normEps,
        double scalingFactor,
        double shiftFactor,
        boolean midBlockAttention,
        boolean useQuantConv,
        boolean usePostQuantConv) {

    static final String DOWN_BLOCK = "DownEncoderBlock2D";
    static final String UP_BLOCK = "UpDecoderBlock2D";

    public VaeConfig {
        blockOutChannels = List.copyOf(blockOutChannels);
        if (blockOutChannels.isEmpty()) {
            throw new IllegalArgumentException("VAE config: block_out_channels is empty");
        }
        if (inChannels < 1 || outChannels < 1 || latentChannels < 1 || layersPerBlock < 1 || normNumGroups < 1) {
            throw new IllegalArgumentException("VAE config: channel counts, layers_per_block and norm_num_groups must be positive");
        }
        for (int c : blockOutChannels) {
            if (c < 1 || c % normNumGroups != 0) {
                throw new IllegalArgumentException("VAE config: block_out_channels " + blockOutChannels
                        + " must be positive multiples of norm_num_groups " + normNumGroups);
            }
        }
        if (!(scalingFactor > 0)) {
            throw new IllegalArgumentException("VAE config: scaling_factor must be positive, got " + scalingFactor);
        }
    }

    /** Stable Diffusion 1.x ({@code runwayml/stable-diffusion-v1-5/vae/config.json}). */
    public static VaeConfig sd15() {
        return new VaeConfig(3, 3, 4, List.of(128, 256, 512, 512), 2, 32, 1e-6, 0.18215, 0.0, true, true, true);
    }

    /** Parses a diffusers {@code vae/config.json}; refuses block types and activations this code does not build. */
    public static VaeConfig fromJson(JsonNode json) {
        VaeConfig d = sd15();
        String cls = json.path("_class_name").asText("AutoencoderKL");
        if (!cls.equals("AutoencoderKL")) {
            throw new IllegalArgumentException("VAE config: _class_name " + cls + " is not AutoencoderKL");
        }
        String act = json.path("act_fn").asText("silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw new IllegalArgumentException("VAE config: act_fn " + act + " is not supported (only silu)");
        }
        List<Integer> channels = json.has("block_out_channels") ? ints(json.get("block_out_channels")) : d.blockOutChannels;
        checkTypes(json, "down_block_types", DOWN_BLOCK, channels.size());
        checkTypes(json, "up_block_types", UP_BLOCK, channels.size());
        JsonNode shift = json.path("shift_factor");
        return new VaeConfig(
                json.path("in_channels").asInt(d.inChannels),
                json.path("out_channels").asInt(d.outChannels),
                json.path("latent_channels").asInt(d.latentChannels),
                channels,
                json.path("layers_per_block").asInt(d.layersPerBlock),
                json.path("norm_num_groups").asInt(d.normNumGroups),
                d.normEps,
                json.path("scaling_factor").asDouble(d.scalingFactor),
                shift.isNumber() ? shift.asDouble() : 0.0,
                json.path("mid_block_add_attention").asBoolean(d.midBlockAttention),
                json.path("use_quant_conv").asBoolean(d.useQuantConv),
                json.path("use_post_quant_conv").asBoolean(d.usePostQuantConv));
    }

    private static void checkTypes(JsonNode json, String field, String expected, int levels) {
        JsonNode types = json.get(field);
        if (types == null) {
            return;
        }
        if (!types.isArray() || types.size() != levels) {
            throw new IllegalArgumentException("VAE config: " + field + " must list " + levels + " block types, got " + types);
        }
        for (JsonNode t : types) {
            if (!t.asText().equals(expected)) {
                throw new IllegalArgumentException("VAE config: " + field + " entry " + t.asText() + " is not supported (only " + expected + ")");
            }
        }
    }

    private static List<Integer> ints(JsonNode array) {
        if (!array.isArray()) {
            throw new IllegalArgumentException("VAE config: block_out_channels must be an array, got " + array);
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode n : array) {
            out.add(n.asInt());
        }
        return Collections.unmodifiableList(out);
    }

    /** Levels (block_out_channels entries); the image side is {@code 2^(levels-1)} times the latent side. */
    public int levels() {
        return blockOutChannels.size();
    }

    /** Pixels per latent along each side: 8 for SD. */
    public int downscale() {
        return 1 << (levels() - 1);
    }
}
