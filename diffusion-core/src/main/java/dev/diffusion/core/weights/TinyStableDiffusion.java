package dev.diffusion.core.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Random;

/**
 * Random Stable Diffusion 1.x-shaped models of any size, listed from the diffusers module tree
 * (UNet2DConditionModel, AutoencoderKL, CLIPTextModel) as their configs describe it. Tests of
 * any package use {@link #random(long)} with {@link ModelWriter} to get a real model folder or
 * checkpoint in milliseconds.
 *
 * <p>Values: linear and convolution weights ~ N(0, 1/fan_in), biases ~ N(0, 0.02²), norm weights
 * 1 + N(0, 0.02²); each tensor seeded from the seed and its name, so a key's values do not depend
 * on which other keys exist.
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

    // ---------------------------------------------------------------- UNet2DConditionModel

    public static MapWeights unet(JsonNode config, long seed) {
        Tree t = new Tree(seed);
        int[] channels = ints(config.path("block_out_channels"), 320, 640, 1280, 1280);
        int layers = config.path("layers_per_block").asInt(2);
        int context = config.path("cross_attention_dim").asInt(768);
        int in = config.path("in_channels").asInt(4);
        int out = config.path("out_channels").asInt(4);
        int levels = channels.length;
        boolean[] downAttention = attention(config.path("down_block_types"), levels, true);
        boolean[] upAttention = attention(config.path("up_block_types"), levels, false);
        int timeDim = 4 * channels[0];
        t.conv("conv_in", channels[0], in, 3);
        t.linear("time_embedding.linear_1", timeDim, channels[0], true);
        t.linear("time_embedding.linear_2", timeDim, timeDim, true);
        Deque<Integer> skips = new ArrayDeque<>();
        skips.push(channels[0]);
        int c = channels[0];
        for (int i = 0; i < levels; i++) {
            for (int j = 0; j < layers; j++) {
                t.unetResnet("down_blocks." + i + ".resnets." + j, c, channels[i], timeDim);
                c = channels[i];
                if (downAttention[i]) {
                    t.transformer("down_blocks." + i + ".attentions." + j, c, context);
                }
                skips.push(c);
            }
            if (i < levels - 1) {
                t.conv("down_blocks." + i + ".downsamplers.0.conv", c, c, 3);
                skips.push(c);
            }
        }
        t.unetResnet("mid_block.resnets.0", c, c, timeDim);
        t.transformer("mid_block.attentions.0", c, context);
        t.unetResnet("mid_block.resnets.1", c, c, timeDim);
        for (int i = 0; i < levels; i++) {
            int blockOut = channels[levels - 1 - i];
            for (int j = 0; j <= layers; j++) {
                t.unetResnet("up_blocks." + i + ".resnets." + j, c + skips.pop(), blockOut, timeDim);
                c = blockOut;
                if (upAttention[i]) {
                    t.transformer("up_blocks." + i + ".attentions." + j, c, context);
                }
            }
            if (i < levels - 1) {
                t.conv("up_blocks." + i + ".upsamplers.0.conv", c, c, 3);
            }
        }
        t.norm("conv_norm_out", c);
        t.conv("conv_out", out, c, 3);
        return t.weights;
    }

    // ---------------------------------------------------------------- AutoencoderKL

    public static MapWeights vae(JsonNode config, long seed) {
        Tree t = new Tree(seed);
        int[] channels = ints(config.path("block_out_channels"), 128, 256, 512, 512);
        int layers = config.path("layers_per_block").asInt(2);
        int latent = config.path("latent_channels").asInt(4);
        int in = config.path("in_channels").asInt(3);
        int out = config.path("out_channels").asInt(3);
        int levels = channels.length;
        int c = channels[0];
        t.conv("encoder.conv_in", c, in, 3);
        for (int i = 0; i < levels; i++) {
            for (int j = 0; j < layers; j++) {
                t.vaeResnet("encoder.down_blocks." + i + ".resnets." + j, c, channels[i]);
                c = channels[i];
            }
            if (i < levels - 1) {
                t.conv("encoder.down_blocks." + i + ".downsamplers.0.conv", c, c, 3);
            }
        }
        t.vaeMidBlock("encoder.mid_block", c);
        t.norm("encoder.conv_norm_out", c);
        t.conv("encoder.conv_out", 2 * latent, c, 3);
        t.conv("quant_conv", 2 * latent, 2 * latent, 1);
        t.conv("post_quant_conv", latent, latent, 1);
        t.conv("decoder.conv_in", c, latent, 3);
        t.vaeMidBlock("decoder.mid_block", c);
        for (int i = 0; i < levels; i++) {
            int blockOut = channels[levels - 1 - i];
            for (int j = 0; j <= layers; j++) {
                t.vaeResnet("decoder.up_blocks." + i + ".resnets." + j, c, blockOut);
                c = blockOut;
            }
            if (i < levels - 1) {
                t.conv("decoder.up_blocks." + i + ".upsamplers.0.conv", c, c, 3);
            }
        }
        t.norm("decoder.conv_norm_out", c);
        t.conv("decoder.conv_out", out, c, 3);
        return t.weights;
    }

    // ---------------------------------------------------------------- CLIPTextModel

    public static MapWeights textEncoder(JsonNode config, long seed) {
        Tree t = new Tree(seed);
        int hidden = config.path("hidden_size").asInt(768);
        int intermediate = config.path("intermediate_size").asInt(3072);
        int layers = config.path("num_hidden_layers").asInt(12);
        t.embedding("text_model.embeddings.token_embedding.weight", config.path("vocab_size").asInt(49408), hidden);
        t.embedding("text_model.embeddings.position_embedding.weight", config.path("max_position_embeddings").asInt(77), hidden);
        for (int i = 0; i < layers; i++) {
            String p = "text_model.encoder.layers." + i;
            for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                t.linear(p + ".self_attn." + proj, hidden, hidden, true);
            }
            t.norm(p + ".layer_norm1", hidden);
            t.linear(p + ".mlp.fc1", intermediate, hidden, true);
            t.linear(p + ".mlp.fc2", hidden, intermediate, true);
            t.norm(p + ".layer_norm2", hidden);
        }
        t.norm("text_model.final_layer_norm", hidden);
        return t.weights;
    }

    // ---------------------------------------------------------------- helpers

    private static final class Tree {
        final MapWeights weights = new MapWeights();
        final long seed;

        Tree(long seed) {
            this.seed = seed;
        }

        void unetResnet(String p, int in, int out, int timeDim) {
            norm(p + ".norm1", in);
            conv(p + ".conv1", out, in, 3);
            linear(p + ".time_emb_proj", out, timeDim, true);
            norm(p + ".norm2", out);
            conv(p + ".conv2", out, out, 3);
            if (in != out) {
                conv(p + ".conv_shortcut", out, in, 1);
            }
        }

        void vaeResnet(String p, int in, int out) {
            norm(p + ".norm1", in);
            conv(p + ".conv1", out, in, 3);
            norm(p + ".norm2", out);
            conv(p + ".conv2", out, out, 3);
            if (in != out) {
                conv(p + ".conv_shortcut", out, in, 1);
            }
        }

        void vaeMidBlock(String p, int c) {
            vaeResnet(p + ".resnets.0", c, c);
            norm(p + ".attentions.0.group_norm", c);
            for (String proj : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) {
                linear(p + ".attentions.0." + proj, c, c, true);
            }
            vaeResnet(p + ".resnets.1", c, c);
        }

        /** Transformer2DModel with one BasicTransformerBlock, 1x1-conv projections (SD 1.x). */
        void transformer(String p, int c, int context) {
            norm(p + ".norm", c);
            conv(p + ".proj_in", c, c, 1);
            String b = p + ".transformer_blocks.0";
            for (String attn : new String[] {"attn1", "attn2"}) {
                int kv = attn.equals("attn1") ? c : context;
                linear(b + "." + attn + ".to_q", c, c, false);
                linear(b + "." + attn + ".to_k", c, kv, false);
                linear(b + "." + attn + ".to_v", c, kv, false);
                linear(b + "." + attn + ".to_out.0", c, c, true);
            }
            norm(b + ".norm1", c);
            norm(b + ".norm2", c);
            norm(b + ".norm3", c);
            linear(b + ".ff.net.0.proj", 8 * c, c, true); // GEGLU: value and gate, 4c each
            linear(b + ".ff.net.2", c, 4 * c, true);
            conv(p + ".proj_out", c, c, 1);
        }

        void conv(String p, int out, int in, int k) {
            put(p + ".weight", new long[] {out, in, k, k}, 1 / Math.sqrt(in * k * k), 0);
            put(p + ".bias", new long[] {out}, 0.02, 0);
        }

        void linear(String p, int out, int in, boolean bias) {
            put(p + ".weight", new long[] {out, in}, 1 / Math.sqrt(in), 0);
            if (bias) {
                put(p + ".bias", new long[] {out}, 0.02, 0);
            }
        }

        void norm(String p, int c) {
            put(p + ".weight", new long[] {c}, 0.02, 1);
            put(p + ".bias", new long[] {c}, 0.02, 0);
        }

        void embedding(String key, int rows, int dim) {
            put(key, new long[] {rows, dim}, 0.02, 0);
        }

        private void put(String key, long[] shape, double std, double mean) {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            Random random = new Random(seed * 1_000_003L + key.hashCode());
            float[] v = new float[(int) n];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (mean + std * random.nextGaussian());
            }
            weights.put(key, shape, v);
        }
    }

    private static boolean[] attention(JsonNode types, int levels, boolean down) {
        boolean[] attention = new boolean[levels];
        for (int i = 0; i < levels; i++) {
            attention[i] = types.isArray() && i < types.size() ? types.get(i).asText().contains("CrossAttn")
                    : down ? i < levels - 1 : i > 0; // SD 1.x: no attention at the lowest resolution
        }
        return attention;
    }

    private static int[] ints(JsonNode array, int... defaults) {
        if (!array.isArray()) {
            return defaults;
        }
        int[] values = new int[array.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = array.get(i).asInt();
        }
        return values;
    }

    private static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new WeightsException("config is not valid JSON: " + e.getMessage(), e);
        }
    }
}
