package dev.diffusion.core.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.diffusion.core.clip.ClipTextConfig;
import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.vae.VaeConfig;
import java.io.IOException;
import java.util.function.Consumer;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Random Stable Diffusion 1.x-shaped models of any size: the networks (UNet2DConditionModel,
 * AutoencoderKL, CLIPTextModel) are built for their configs over {@link RandomWeights}, which
 * learns every key and shape they ask for, so the module tree is the only list of keys. Tests of
 * any package use {@link #random(long)} with {@link ModelWriter} to get a real model folder or
 * checkpoint in milliseconds.
 *
 * <p>Values ({@link RandomWeights#fanIn} with spread 0.02): linear and convolution weights
 * ~ N(0, 1/fan_in), biases and embeddings ~ N(0, 0.02²), norm weights 1 + N(0, 0.02²); each tensor
 * seeded from the seed and its name, so a key's values do not depend on which other keys exist.
 */
public final class TinyStableDiffusion {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A U-Net with SD 1.x's structure (2 layers, attention off at the lowest level) at 32/64 channels. */
    public static final String UNET_CONFIG = """
            {"_class_name": "UNet2DConditionModel", "sample_size": 8, "in_channels": 4, "out_channels": 4,
             "block_out_channels": [32, 64], "layers_per_block": 2, "attention_head_dim": 8,
             "cross_attention_dim": 32, "norm_num_groups": 32, "norm_eps": 1e-05, "act_fn": "silu",
             "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
             "flip_sin_to_cos": true, "freq_shift": 0, "use_linear_projection": false}""";
    public static final String VAE_CONFIG = """
            {"_class_name": "AutoencoderKL", "sample_size": 64, "in_channels": 3, "out_channels": 3,
             "latent_channels": 4, "block_out_channels": [32, 64], "layers_per_block": 1, "norm_num_groups": 32,
             "act_fn": "silu", "scaling_factor": 0.18215,
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"]}""";
    /** CLIP text model with the real vocabulary size, so the real tokenizer's ids fit. */
    public static final String TEXT_ENCODER_CONFIG = """
            {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": 49408,
             "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
             "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
             "projection_dim": 32, "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1}""";
    public static final String SCHEDULER_CONFIG = """
            {"_class_name": "PNDMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085,
             "beta_end": 0.012, "beta_schedule": "scaled_linear", "prediction_type": "epsilon",
             "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "clip_sample": false}""";

    private TinyStableDiffusion() {
    }

    /** The tiny model of the configs above (no tokenizer files: add them with {@link ModelParts#withTokenizer}). */
    public static ModelParts random(long seed) {
        return random(seed, UNET_CONFIG, VAE_CONFIG, TEXT_ENCODER_CONFIG).withSchedulerConfig(SCHEDULER_CONFIG);
    }

    /** A model for the given diffusers configs (fields not given take SD 1.x values). */
    public static ModelParts random(long seed, String unetConfig, String vaeConfig, String textEncoderConfig) {
        return new ModelParts(unet(parse(unetConfig), seed), vae(parse(vaeConfig), seed),
                textEncoder(parse(textEncoderConfig), seed), unetConfig, vaeConfig, textEncoderConfig, null, null, null);
    }

    // ---------------------------------------------------------------- the three networks

    /** The weights a UNet2DConditionModel of this diffusers config reads. */
    public static MapWeights unet(JsonNode config, long seed) {
        return unet(UNetConfig.fromJson(config), seed).snapshot();
    }

    /** The weights an AutoencoderKL of this diffusers config reads (encoder, quant convs and decoder). */
    public static MapWeights vae(JsonNode config, long seed) {
        return vae(VaeConfig.fromJson(config), seed).snapshot();
    }

    /** The weights a CLIPTextModel of this transformers config reads. */
    public static MapWeights textEncoder(JsonNode config, long seed) {
        return textEncoder(ClipTextConfig.fromJson(config), seed).snapshot();
    }

    /**
     * The U-Net's keys and shapes for {@code config}, declared by building it into a throwaway graph; values
     * are drawn only when read (so a full-size config's key list costs no memory).
     */
    public static RandomWeights unet(UNetConfig config, long seed) {
        return declare(seed, nn -> UNet2DConditionModel.build(nn, config, input(nn, -1, -1, -1, config.inChannels()),
                input(nn, -1), input(nn, -1, -1, config.crossAttentionDim())));
    }

    /** The VAE's keys and shapes (encoder, quant convs and decoder), declared; values drawn when read. */
    public static RandomWeights vae(VaeConfig config, long seed) {
        return declare(seed, nn -> {
            AutoencoderKL.buildEncoder(nn, config, input(nn, -1, -1, -1, config.inChannels()));
            AutoencoderKL.buildDecoder(nn, config, input(nn, -1, -1, -1, config.latentChannels()));
        });
    }

    /** The text encoder's keys and shapes, declared; values drawn when read. */
    public static RandomWeights textEncoder(ClipTextConfig config, long seed) {
        return declare(seed, nn -> ClipTextModel.build(nn, config,
                nn.tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, config.maxPositionEmbeddings())))));
    }

    private static RandomWeights declare(long seed, Consumer<Nn> build) {
        return new RandomWeights(seed, RandomWeights.fanIn(0.02)).declaredBy(build);
    }

    private static Placeholder<TFloat32> input(Nn nn, long... dims) {
        return nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(dims)));
    }

    private static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new WeightsException("config is not valid JSON: " + e.getMessage(), e);
        }
    }
}
