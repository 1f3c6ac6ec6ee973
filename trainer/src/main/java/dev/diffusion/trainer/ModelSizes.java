package dev.diffusion.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.diffusion.core.clip.ClipTextConfig;
import dev.diffusion.core.sampling.SchedulerConfig;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.core.vae.VaeConfig;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The sizes of the demo model, as the diffusers {@code config.json} texts it is exported with (so
 * training and inference read one description). Toy scale: 64×64 RGB images, a VAE that
 * downsamples 4× to 16×16×4 latents, a U-Net [32, 64, 64, 64] with cross-attention at 8×8, 4×4
 * and 2×2 (the 2×2 level is there for position: its four pixels each touch the zero padding on
 * other sides, so "left" or "top" is something a convolution there can see; with 4×4 as the
 * deepest level the position words had no measurable effect on the loss after 2,000 steps),
 * and a 2-layer, 64-wide CLIP text encoder over a learned BPE vocabulary, 77 tokens.
 *
 * <p>The VAE's GroupNorms use 2 groups: with 8 (one channel per group at the 8-channel 64×64 level, i.e.
 * instance norm), each channel is standardised per image, so the decoder's last layers cannot see a flat
 * background's absolute level and training sat on a loss plateau (~0.78) for its first ~1,450 steps;
 * with 2 (4 channels a group, SD's ratio at its first level) the loss passed 0.37 by step 250.
 *
 * @param vaeConfig  the VAE config with {@code scaling_factor} 1 (set from the latents' spread at export)
 */
final class ModelSizes {
    static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What the U-Net predicts. v (Salimans & Ho 2022), not ε: at the first sampling steps, where the
     * layout is decided, an ε network has to reproduce its input to within a few percent and the
     * position words' share of the target is smaller than that error: the ε model ignored them
     * (21 %, chance 20 %), and on a position-only toy set, after 400 steps, it put the shape where the
     * seed led whatever the prompt said (6 of 30 right, chance), the v model 30 of 30.
     * {@code ./sd train --prediction epsilon} trains the ε recipe.
     */
    static final String PREDICTION = "v_prediction";

    /**
     * The cosine schedule (Nichol & Dhariwal 2021). Sampling starts at "leading" t = 951 (20 steps), not
     * t = 999, where the clipped last beta puts sigma at ~2e4 (see SigmaSchedule.forSampler).
     */
    static final String SCHEDULER = """
            {"_class_name": "EulerDiscreteScheduler", "beta_schedule": "squaredcos_cap_v2", "beta_start": 0.00085,
             "beta_end": 0.012, "num_train_timesteps": 1000, "prediction_type": "%s",
             "timestep_spacing": "leading", "steps_offset": 1}""".formatted(PREDICTION);

    /** The bundled demo model. */
    static final ModelSizes DEMO = new ModelSizes(64,
            UNetConfig.builder().blockOutChannels(32, 64, 64, 64).layersPerBlock(1)
                    .downBlockTypes(UNetConfig.DOWN, UNetConfig.CROSS_ATTN_DOWN, UNetConfig.CROSS_ATTN_DOWN, UNetConfig.CROSS_ATTN_DOWN)
                    .upBlockTypes(UNetConfig.CROSS_ATTN_UP, UNetConfig.CROSS_ATTN_UP, UNetConfig.CROSS_ATTN_UP, UNetConfig.UP)
                    .crossAttentionDim(64).attentionHeads(4).normNumGroups(8).build(),
            """
            {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 64,
             "block_out_channels": [8, 16, 32], "layers_per_block": 1, "norm_num_groups": 2,
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
             "mid_block_add_attention": false, "scaling_factor": 1.0}""",
            64, 2, 4, 128,
            SCHEDULER);

    /** A much smaller model of the same structure, for tests. */
    static final ModelSizes TINY = new ModelSizes(64,
            UNetConfig.builder().blockOutChannels(16, 32).layersPerBlock(1)
                    .downBlockTypes(UNetConfig.DOWN, UNetConfig.CROSS_ATTN_DOWN).upBlockTypes(UNetConfig.CROSS_ATTN_UP, UNetConfig.UP)
                    .crossAttentionDim(32).attentionHeads(2).normNumGroups(8).build(),
            """
            {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 64,
             "block_out_channels": [8, 16, 16], "layers_per_block": 1, "norm_num_groups": 4,
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
             "mid_block_add_attention": false, "scaling_factor": 1.0}""",
            32, 1, 2, 64,
            SCHEDULER);


    final int imageSize;
    private final UNetConfig unet;
    final String vaeConfig;
    final String schedulerConfig;
    private final int textHidden;
    private final int textLayers;
    private final int textHeads;
    private final int textIntermediate;

    ModelSizes(int imageSize, UNetConfig unet, String vaeConfig, int textHidden, int textLayers, int textHeads,
               int textIntermediate, String schedulerConfig) {
        this.imageSize = imageSize;
        this.unet = unet;
        this.vaeConfig = vaeConfig;
        this.schedulerConfig = schedulerConfig;
        this.textHidden = textHidden;
        this.textLayers = textLayers;
        this.textHeads = textHeads;
        this.textIntermediate = textIntermediate;
    }

    /** The text encoder's config.json for a vocabulary of {@code vocab} tokens (BOS and EOS its last two). */
    String textEncoderConfig(int vocab) {
        return String.format("""
                {"_class_name": "CLIPTextModel", "architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
                 "vocab_size": %d, "hidden_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
                 "intermediate_size": %d, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                 "layer_norm_eps": 1e-05, "bos_token_id": %d, "eos_token_id": %d, "pad_token_id": 1}""",
                vocab, textHidden, textLayers, textHeads, textIntermediate, vocab - 2, vocab - 1);
    }

    UNetConfig unet() {
        return unet;
    }

    /** The U-Net's config.json as exported: the config, and {@code sample_size} (the latent side at {@link #imageSize}). */
    String unetConfig() {
        ObjectNode json = unet.toJson();
        json.put("sample_size", imageSize / vae().downscale());
        return json.toPrettyString();
    }

    VaeConfig vae() {
        return VaeConfig.fromJson(json(vaeConfig));
    }

    ClipTextConfig textEncoder(int vocab) {
        return ClipTextConfig.fromJson(json(textEncoderConfig(vocab)));
    }

    SchedulerConfig scheduler() {
        return SchedulerConfig.fromJson(json(schedulerConfig));
    }

    /** These sizes with the U-Net predicting {@code prediction} ({@code epsilon} or {@code v_prediction}). */
    ModelSizes withPrediction(String prediction) {
        String scheduler = schedulerConfig.replaceFirst("\"prediction_type\": \"[a-z_]+\"",
                "\"prediction_type\": \"" + prediction + "\"");
        ModelSizes m = new ModelSizes(imageSize, unet, vaeConfig, textHidden, textLayers, textHeads, textIntermediate,
                scheduler);
        m.scheduler(); // parses it: an unknown prediction type fails here, naming the field
        return m;
    }

    /** The VAE config as exported: {@code scaling_factor} set. */
    String vaeConfigWithScaling(double scalingFactor) {
        return vaeConfig.replace("\"scaling_factor\": 1.0", "\"scaling_factor\": " + (float) scalingFactor);
    }

    static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** For the train banner: the image side and the text encoder's size. */
    @Override
    public String toString() {
        return imageSize + "px, text " + textLayers + "x" + textHidden;
    }
}
