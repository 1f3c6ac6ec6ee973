package dev.diffusion.core.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A Stable Diffusion 1.x model as users keep it: a diffusers folder ({@code model_index.json},
 * {@code unet/}, {@code vae/}, {@code text_encoder/}, {@code tokenizer/}, {@code scheduler/}) or one
 * CompVis/LDM {@code .safetensors} checkpoint. Either way the three networks are presented under
 * diffusers keys with PyTorch shapes; for a single file the conversion is a lazy view, so opening
 * reads only headers.
 *
 * <p>Pickle files ({@code .ckpt}, {@code .bin}, {@code .pt}, {@code .pth}) are refused: loading
 * one runs whatever code it holds.
 */
public final class StableDiffusionModel implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> PICKLE_EXTENSIONS = List.of(".ckpt", ".bin", ".pt", ".pth");

    private final Path path;
    private final String name;
    private final List<SafeTensorsFile> files;
    private final Map<ModelComponent, Weights> networks;
    private final Map<ModelComponent, JsonNode> configs;
    private final JsonNode schedulerConfig;
    private final Path tokenizerDir;

    private StableDiffusionModel(Path path, String name, List<SafeTensorsFile> files, Map<ModelComponent, Weights> networks,
                                 Map<ModelComponent, JsonNode> configs, JsonNode schedulerConfig, Path tokenizerDir) {
        this.path = path;
        this.name = name;
        this.files = files;
        this.networks = networks;
        this.configs = configs;
        this.schedulerConfig = schedulerConfig;
        this.tokenizerDir = tokenizerDir;
    }

    /** Opens a diffusers folder or a single-file checkpoint; throws {@link WeightsException} saying what is wrong. */
    public static StableDiffusionModel open(Path path) {
        if (Files.isDirectory(path)) {
            return openDiffusersFolder(path);
        }
        if (!Files.exists(path)) {
            throw new WeightsException(path + ": no such file or folder (expected a diffusers model folder or a .safetensors checkpoint)");
        }
        String file = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (PICKLE_EXTENSIONS.stream().anyMatch(file::endsWith)) {
            throw pickleRefused(path);
        }
        if (!file.endsWith(".safetensors")) {
            throw new WeightsException(path + ": not a .safetensors file or a diffusers folder");
        }
        return openSingleFile(path);
    }

    static WeightsException pickleRefused(Path path) {
        return new WeightsException(path + ": refusing to load a pickle file (.ckpt/.bin/.pt/.pth): unpickling can "
                + "execute arbitrary code hidden in the file. Convert it to .safetensors (e.g. with diffusers' "
                + "scripts/convert_original_stable_diffusion_to_diffusers.py --to_safetensors, or an A1111 checkpoint "
                + "merger/converter extension), or use a diffusers folder with .safetensors weights.");
    }

    // ---------------------------------------------------------------- single file

    private static StableDiffusionModel openSingleFile(Path path) {
        SafeTensorsFile file = SafeTensorsFile.open(path);
        try {
            refuseOtherGenerations(path, file);
            CompVisKeys keys = CompVisKeys.fromCheckpointKeys(file.keys());
            Map<ModelComponent, Weights> networks = new EnumMap<>(ModelComponent.class);
            for (ModelComponent c : ModelComponent.values()) {
                Weights view;
                try {
                    view = keys.diffusersView(file, c);
                } catch (WeightsException e) {
                    throw new WeightsException(path + ": " + e.getMessage(), e);
                }
                if (view.keys().isEmpty()) {
                    throw new WeightsException(path + ": no " + c.folder() + " tensors (" + c.compVisPrefix()
                            + "*): not a complete Stable Diffusion 1.x checkpoint (a VAE-only, LoRA or embedding file?)");
                }
                requireFloatTensors(path, view);
                networks.put(c, view);
            }
            String fileName = path.getFileName().toString();
            String name = fileName.substring(0, fileName.length() - ".safetensors".length());
            return new StableDiffusionModel(path, name, List.of(file), networks, new EnumMap<>(ModelComponent.class),
                    null, null);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static void refuseOtherGenerations(Path path, Weights file) {
        for (String key : file.keys()) {
            if (key.startsWith("conditioner.embedders.")) {
                throw new WeightsException(path + ": this is a Stable Diffusion XL checkpoint (" + key
                        + "); only Stable Diffusion 1.x models are supported");
            }
            if (key.startsWith("cond_stage_model.model.")) {
                throw new WeightsException(path + ": this is a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder, "
                        + key + "); only Stable Diffusion 1.x models are supported");
            }
        }
    }

    private static void requireFloatTensors(Path path, Weights view) {
        for (String key : view.keys()) {
            TensorInfo info = view.info(key);
            TensorDtype dtype = TensorDtype.parse(info.dtype());
            if (dtype == null || !dtype.isReadableAsFloat()) {
                String source = view instanceof RenamedWeights r ? r.sourceKey(key) : key;
                throw new WeightsException(path + ": tensor " + source + ": unsupported dtype " + info.dtype()
                        + " (only F32, F16 and BF16 weights can be loaded)");
            }
        }
    }

    // ---------------------------------------------------------------- diffusers folder

    private static StableDiffusionModel openDiffusersFolder(Path dir) {
        List<SafeTensorsFile> opened = new ArrayList<>();
        try {
            Path index = dir.resolve("model_index.json");
            if (!Files.isRegularFile(index)) {
                throw new WeightsException(dir + ": not a diffusers model folder: missing " + index);
            }
            JsonNode modelIndex = readJson(index);
            String pipeline = modelIndex.path("_class_name").asText("");
            if (pipeline.contains("XL") || modelIndex.has("text_encoder_2")) {
                throw new WeightsException(dir + ": this is a Stable Diffusion XL model (" + index + " names "
                        + (pipeline.isEmpty() ? "text_encoder_2" : pipeline) + "); only Stable Diffusion 1.x models are supported");
            }
            Map<ModelComponent, Weights> networks = new EnumMap<>(ModelComponent.class);
            Map<ModelComponent, JsonNode> configs = new EnumMap<>(ModelComponent.class);
            for (ModelComponent c : ModelComponent.values()) {
                Path folder = dir.resolve(c.folder());
                if (!Files.isDirectory(folder)) {
                    throw new WeightsException(dir + ": diffusers folder without " + c.folder() + "/ (missing " + folder + ")");
                }
                Path config = folder.resolve("config.json");
                if (!Files.isRegularFile(config)) {
                    throw new WeightsException(dir + ": missing " + config);
                }
                configs.put(c, readJson(config));
                SafeTensorsFile file = SafeTensorsFile.open(weightFile(folder, c));
                opened.add(file);
                Weights weights = c == ModelComponent.VAE ? CompVisKeys.currentVaeNames(file) : file;
                requireFloatTensors(file.path(), weights);
                networks.put(c, weights);
            }
            JsonNode unetConfig = configs.get(ModelComponent.UNET);
            if (unetConfig.has("addition_embed_type") && !unetConfig.get("addition_embed_type").isNull()) {
                throw new WeightsException(dir + ": the U-Net config has addition_embed_type (Stable Diffusion XL); "
                        + "only Stable Diffusion 1.x models are supported");
            }
            Path schedulerPath = dir.resolve("scheduler").resolve("scheduler_config.json");
            JsonNode scheduler = Files.isRegularFile(schedulerPath) ? readJson(schedulerPath) : null;
            Path tokenizer = dir.resolve("tokenizer");
            Path tokenizerDir = Files.isRegularFile(tokenizer.resolve("vocab.json"))
                    && Files.isRegularFile(tokenizer.resolve("merges.txt")) ? tokenizer : null;
            Path fileName = dir.toAbsolutePath().normalize().getFileName();
            return new StableDiffusionModel(dir, fileName == null ? dir.toString() : fileName.toString(), List.copyOf(opened),
                    networks, configs, scheduler, tokenizerDir);
        } catch (RuntimeException e) {
            opened.forEach(SafeTensorsFile::close);
            throw e;
        }
    }

    /** The component's safetensors file, the fp16 variant as a fallback; pickle-only folders are refused. */
    private static Path weightFile(Path folder, ModelComponent c) {
        String stem = c.weightFileStem();
        for (String candidate : List.of(stem + ".safetensors", stem + ".fp16.safetensors")) {
            Path p = folder.resolve(candidate);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        // transformers (text encoder) and diffusers name their pickles differently
        for (String candidate : List.of(stem + ".bin", stem + ".fp16.bin", "pytorch_model.bin", "pytorch_model.fp16.bin",
                "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin")) {
            Path p = folder.resolve(candidate);
            if (Files.isRegularFile(p)) {
                throw pickleRefused(p);
            }
        }
        throw new WeightsException(folder + ": missing " + folder.resolve(stem + ".safetensors")
                + " (or " + stem + ".fp16.safetensors)");
    }

    private static JsonNode readJson(Path file) {
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new WeightsException(file + ": expected a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot read JSON: " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- API

    /** The U-Net, under diffusers keys ({@code down_blocks.0.resnets.0.conv1.weight}, ...). */
    public Weights unet() {
        return networks.get(ModelComponent.UNET);
    }

    /** The VAE, under diffusers keys ({@code decoder.up_blocks.0.resnets.0.conv1.weight}, ...), attention as linear [C,C]. */
    public Weights vae() {
        return networks.get(ModelComponent.VAE);
    }

    /** The CLIP text encoder, under transformers keys ({@code text_model.encoder.layers.0...}). */
    public Weights textEncoder() {
        return networks.get(ModelComponent.TEXT_ENCODER);
    }

    public Weights weights(ModelComponent component) {
        return networks.get(component);
    }

    /** {@code unet/config.json}; empty for a single file (use the SD 1.x defaults). */
    public Optional<JsonNode> unetConfig() {
        return config(ModelComponent.UNET);
    }

    public Optional<JsonNode> vaeConfig() {
        return config(ModelComponent.VAE);
    }

    public Optional<JsonNode> textEncoderConfig() {
        return config(ModelComponent.TEXT_ENCODER);
    }

    public Optional<JsonNode> config(ModelComponent component) {
        return Optional.ofNullable(configs.get(component)).map(JsonNode::deepCopy);
    }

    /** {@code scheduler/scheduler_config.json}; empty for a single file or a folder without one. */
    public Optional<JsonNode> schedulerConfig() {
        return Optional.ofNullable(schedulerConfig).map(JsonNode::deepCopy);
    }

    /** The folder holding {@code vocab.json} and {@code merges.txt}; empty for a single file. */
    public Optional<Path> tokenizerDir() {
        return Optional.ofNullable(tokenizerDir);
    }

    /** Whether this is a single-file CompVis checkpoint (rather than a diffusers folder). */
    public boolean isSingleFile() {
        return !Files.isDirectory(path);
    }

    /** What was opened. */
    public Path path() {
        return path;
    }

    /** The folder name, or the file name without {@code .safetensors}, as image metadata names a model. */
    public String name() {
        return name;
    }

    /** Bytes of the weight files on disk. */
    public long weightBytes() {
        return files.stream().mapToLong(SafeTensorsFile::fileBytes).sum();
    }

    /** The opened weight files (one for a checkpoint, three for a folder), e.g. for their metadata. */
    public List<SafeTensorsFile> files() {
        return files;
    }

    @Override
    public void close() {
        files.forEach(SafeTensorsFile::close);
    }

    @Override
    public String toString() {
        return "StableDiffusionModel[" + path + "]";
    }
}
