package dev.diffusion.core.clip;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Sizes of a CLIP text transformer, as transformers' {@code CLIPTextConfig} writes them into a
 * diffusers {@code text_encoder/config.json}. {@link #sd15()} holds the SD 1.x values (OpenAI
 * CLIP ViT-L/14), used for single-file checkpoints that carry no config.
 *
 * @param hiddenAct {@code quick_gelu} (OpenAI CLIP, SD 1.x) or {@code gelu} (exact, OpenCLIP)
 */
public record ClipTextConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                             int numAttentionHeads, int maxPositionEmbeddings, String hiddenAct, double layerNormEps) {

    public ClipTextConfig {
        requirePositive("vocab_size", vocabSize);
        requirePositive("hidden_size", hiddenSize);
        requirePositive("intermediate_size", intermediateSize);
        requirePositive("num_hidden_layers", numHiddenLayers);
        requirePositive("num_attention_heads", numAttentionHeads);
        requirePositive("max_position_embeddings", maxPositionEmbeddings);
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not a multiple of num_attention_heads "
                    + numAttentionHeads);
        }
        if (!"quick_gelu".equals(hiddenAct) && !"gelu".equals(hiddenAct)) {
            throw new IllegalArgumentException("hidden_act must be quick_gelu or gelu, got '" + hiddenAct + "'");
        }
        if (!(layerNormEps > 0)) {
            throw new IllegalArgumentException("layer_norm_eps must be > 0, got " + layerNormEps);
        }
    }

    /** SD 1.x's text encoder, CLIP ViT-L/14 (transformers' defaults for {@code openai/clip-vit-large-patch14}). */
    public static ClipTextConfig sd15() {
        return new ClipTextConfig(49408, 768, 3072, 12, 12, 77, "quick_gelu", 1e-5);
    }

    /** Reads a {@code config.json}; absent fields take their {@link #sd15()} value. */
    public static ClipTextConfig fromJson(JsonNode json) {
        ClipTextConfig d = sd15();
        return new ClipTextConfig(
                json.path("vocab_size").asInt(d.vocabSize),
                json.path("hidden_size").asInt(d.hiddenSize),
                json.path("intermediate_size").asInt(d.intermediateSize),
                json.path("num_hidden_layers").asInt(d.numHiddenLayers),
                json.path("num_attention_heads").asInt(d.numAttentionHeads),
                json.path("max_position_embeddings").asInt(d.maxPositionEmbeddings),
                json.path("hidden_act").asText(d.hiddenAct),
                json.path("layer_norm_eps").asDouble(d.layerNormEps));
    }

    public static ClipTextConfig fromJson(Path configJson) {
        try {
            return fromJson(new ObjectMapper().readTree(Files.readString(configJson)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read CLIP text config " + configJson, e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configJson + ": " + e.getMessage(), e);
        }
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    private static void requirePositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be > 0, got " + value);
        }
    }
}
