package dev.diffusion.core.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * Writes a model in the two layouts {@link StableDiffusionModel} reads: a diffusers folder and a
 * single-file CompVis checkpoint (keys through {@link CompVisKeys#toCompVis}). Tests write tiny
 * models with it; the trainer exports with it.
 */
public final class ModelWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelWriter() {
    }

    /** Writes {@code dir} as a diffusers StableDiffusionPipeline folder, weights stored as {@code dtype}. */
    public static void writeDiffusersFolder(Path dir, ModelParts parts, TensorDtype dtype) {
        try {
            Files.createDirectories(dir);
            ObjectNode index = JSON.createObjectNode();
            index.put("_class_name", "StableDiffusionPipeline");
            index.put("_diffusers_version", "0.27.2");
            index.putArray("feature_extractor").addNull().addNull();
            index.put("requires_safety_checker", false);
            index.putArray("safety_checker").addNull().addNull();
            String schedulerClass = parts.schedulerConfig() == null ? "PNDMScheduler"
                    : parse(parts.schedulerConfig(), "scheduler config").path("_class_name").asText("PNDMScheduler");
            index.putArray("scheduler").add("diffusers").add(schedulerClass);
            index.putArray("text_encoder").add("transformers").add("CLIPTextModel");
            index.putArray("tokenizer").add("transformers").add("CLIPTokenizer");
            index.putArray("unet").add("diffusers").add("UNet2DConditionModel");
            index.putArray("vae").add("diffusers").add("AutoencoderKL");
            write(dir.resolve("model_index.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index));
            for (ModelComponent c : ModelComponent.values()) {
                Path folder = dir.resolve(c.folder());
                String config = parts.config(c);
                if (config == null) {
                    throw new WeightsException("no " + c.folder() + " config.json given for " + dir);
                }
                parse(config, c.folder() + " config");
                write(folder.resolve("config.json"), config);
                SafeTensorsWriter.write(folder.resolve(c.weightFileStem() + ".safetensors"), parts.weights(c), dtype,
                        Map.of("format", "pt"));
            }
            if (parts.schedulerConfig() != null) {
                write(dir.resolve("scheduler").resolve("scheduler_config.json"), parts.schedulerConfig());
            }
            if (parts.tokenizerVocab() != null && parts.tokenizerMerges() != null) {
                write(dir.resolve("tokenizer").resolve("vocab.json"), parts.tokenizerVocab());
                write(dir.resolve("tokenizer").resolve("merges.txt"), parts.tokenizerMerges());
            }
        } catch (IOException e) {
            throw new WeightsException(dir + ": cannot write: " + e.getMessage(), e);
        }
    }

    /**
     * Writes the three networks as one CompVis/LDM {@code .safetensors} checkpoint. The U-Net and
     * VAE configs decide the block numbering (SD 1.x values where they say nothing); configs,
     * scheduler and tokenizer are not stored (single files have none).
     */
    public static void writeSingleFile(Path file, ModelParts parts, TensorDtype dtype) {
        CompVisKeys keys = CompVisKeys.fromConfigs(optionalJson(parts.unetConfig()), optionalJson(parts.vaeConfig()));
        Weights checkpoint = keys.compVisView(parts.unet(), parts.vae(), parts.textEncoder());
        SafeTensorsWriter.write(file, checkpoint, dtype, Map.of("format", "pt"));
    }

    private static Optional<JsonNode> optionalJson(String json) {
        return json == null ? Optional.empty() : Optional.of(parse(json, "config"));
    }

    private static JsonNode parse(String json, String what) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new WeightsException(what + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    private static void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text, StandardCharsets.UTF_8);
    }
}
