package dev.diffusion.core.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.diffusion.core.clip.ClipTextConfig;
import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.SchedulerConfig;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.vae.VaeConfig;
import dev.diffusion.core.weights.CompVisKeys;
import dev.diffusion.core.weights.Lora;
import dev.diffusion.core.weights.LoraDirectory;
import dev.diffusion.core.weights.LoraSet;
import dev.diffusion.core.weights.ModelComponent;
import dev.diffusion.core.weights.RandomWeights;
import dev.diffusion.core.weights.StableDiffusionModel;
import dev.diffusion.core.weights.WeightsException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Where a model's parts come from: a diffusers folder, a single-file checkpoint, or the tiny
 * built-in random model ({@value #TINY_RANDOM}). The in-process pipeline loads all parts; each
 * service loads only its own (the text encoder service: tokenizer + CLIP; the U-Net service: the
 * U-Net; the VAE service: the VAE) — through this one class, so they load identically.
 */
public final class ModelSource implements AutoCloseable {
    /** The model name that selects the tiny built-in random model (seeded: identical in every process). */
    public static final String TINY_RANDOM = ModelNames.TINY_RANDOM;
    /**
     * The model name that selects the demo model bundled in this jar (the repository's {@code models/demo}):
     * the default model of {@code ./sd generate} and of the services.
     */
    public static final String DEMO = ModelNames.DEMO;

    private static final long TINY_SEED = 0;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TINY_CLIP = """
            {"vocab_size": 514, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}""";
    private static final String TINY_UNET = """
            {"in_channels": 4, "out_channels": 4, "block_out_channels": [32, 64], "layers_per_block": 1,
             "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
             "cross_attention_dim": 32, "attention_head_dim": 2, "norm_num_groups": 8, "sample_size": 8}""";
    private static final String TINY_VAE = """
            {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": [8, 8, 16, 16],
             "layers_per_block": 1, "norm_num_groups": 4, "scaling_factor": 0.18215,
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]}""";

    private final String spec;
    private final StableDiffusionModel model; // null for the tiny random model
    private final Path tokenizerOverride;
    private Lora.Targets loraTargets;

    private ModelSource(String spec, StableDiffusionModel model, Path tokenizerOverride) {
        this.spec = spec;
        this.model = model;
        this.tokenizerOverride = tokenizerOverride;
    }

    /**
     * @param spec              a diffusers folder, a {@code .safetensors} file, {@value #DEMO} (the bundled demo
     *                          model) or {@value #TINY_RANDOM}
     * @param tokenizerOverride a diffusers {@code tokenizer/} folder or {@code bpe_simple_vocab_16e6.txt.gz}, or null
     */
    public static ModelSource open(String spec, Path tokenizerOverride) {
        if (spec == null || spec.isBlank() || spec.equals(TINY_RANDOM)) {
            return new ModelSource(TINY_RANDOM, null, null);
        }
        if (spec.equals(DEMO)) {
            return new ModelSource(DEMO, StableDiffusionModel.open(BundledModel.demo()), tokenizerOverride);
        }
        Path path = Path.of(spec);
        if (!Files.exists(path)) {
            throw new WeightsException("model " + spec + " does not exist (give a diffusers folder, a .safetensors file, "
                    + DEMO + " or " + TINY_RANDOM + ")");
        }
        return new ModelSource(spec, StableDiffusionModel.open(path), tokenizerOverride);
    }

    /** The bundled demo model as a diffusers folder (unpacked from this jar once per process). */
    public static Path demoFolder() {
        return BundledModel.demo();
    }

    public boolean isTinyRandom() {
        return model == null;
    }

    /** The name written into PNG metadata: the folder or file name without extension. */
    public String name() {
        return model == null ? TINY_RANDOM : model.name();
    }

    /** Bytes of the weight files (0 for the built-in model). */
    public long weightBytes() {
        return model == null ? 0 : model.weightBytes();
    }

    public ClipTokenizer tokenizer() {
        if (model == null) {
            return ClipTokenizer.byteLevel();
        }
        try {
            Path override = tokenizerOverride;
            if (override != null) {
                if (Files.isDirectory(override)) {
                    return ClipTokenizer.fromDiffusersFolder(override);
                }
                if (Files.isRegularFile(override)) {
                    return ClipTokenizer.fromBpeGz(override);
                }
                throw new IllegalArgumentException("tokenizer " + override + " does not exist (give a diffusers tokenizer/ folder "
                        + "or bpe_simple_vocab_16e6.txt.gz)");
            }
            if (model.tokenizerDir().isPresent()) {
                return ClipTokenizer.fromDiffusersFolder(model.tokenizerDir().get());
            }
            Path beside = model.path().toAbsolutePath().resolveSibling("bpe_simple_vocab_16e6.txt.gz");
            if (Files.isRegularFile(beside)) {
                return ClipTokenizer.fromBpeGz(beside);
            }
            throw new IllegalArgumentException(model.path() + " is a single-file checkpoint and carries no tokenizer: pass "
                    + "--tokenizer with a diffusers tokenizer/ folder or CLIP's bpe_simple_vocab_16e6.txt.gz "
                    + "(or put that file beside the checkpoint)");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the tokenizer" + (tokenizerOverride == null ? "" : " "
                    + tokenizerOverride) + " (a diffusers tokenizer/ folder or CLIP's bpe_simple_vocab_16e6.txt.gz): "
                    + e.getMessage(), e);
        }
    }

    /**
     * The largest latent side the U-Net service takes: the largest image a request may ask for
     * ({@link GenerationRequest#MAX_SIZE}) at this model's VAE downscale, so every size that passes a request's
     * checks passes the service's.
     */
    public int maxLatentSide() {
        return GenerationRequest.MAX_SIZE / vaeConfig().downscale();
    }

    /** Tokens per prompt window the text encoder produces (77 for CLIP). */
    public int contextLength() {
        return textEncoderConfig().maxPositionEmbeddings();
    }

    public ClipTextConfig textEncoderConfig() {
        if (model == null) {
            return ClipTextConfig.fromJson(json(TINY_CLIP));
        }
        return ClipTextConfig.fromJson(model.textEncoderConfig().orElseGet(() -> SingleFileConfigs.textEncoder(model.textEncoder())));
    }

    public UNetConfig unetConfig() {
        if (model == null) {
            return UNetConfig.fromJson(json(TINY_UNET));
        }
        return UNetConfig.fromJson(model.unetConfig().orElseGet(() -> SingleFileConfigs.unet(model.unet())));
    }

    public VaeConfig vaeConfig() {
        if (model == null) {
            return VaeConfig.fromJson(json(TINY_VAE));
        }
        return VaeConfig.fromJson(model.vaeConfig().orElseGet(() -> SingleFileConfigs.vae(model.vae())));
    }

    /**
     * The image side the model was trained at, as diffusers derives its default: the U-Net config's
     * {@code sample_size} times the VAE's downscale; 512 (SD 1.x) when the config does not say.
     */
    public int nativeImageSize() {
        if (model == null) {
            return 512;
        }
        return model.unetConfig().map(json -> json.path("sample_size").asInt(0)).filter(n -> n > 0)
                .map(n -> n * vaeConfig().downscale()).orElse(512);
    }

    public SchedulerConfig schedulerConfig() {
        return model == null ? SchedulerConfig.sd15()
                : model.schedulerConfig().map(SchedulerConfig::fromJson).orElse(SchedulerConfig.sd15());
    }

    public ClipTextModel textEncoder(Precision precision) {
        return textEncoder(precision, LoraSet.NONE);
    }

    /** The text encoder with {@code loras} merged into its weights. */
    public ClipTextModel textEncoder(Precision precision, LoraSet loras) {
        return new ClipTextModel(model == null ? tinyWeights(0, 0.2) : loras.apply(ModelComponent.TEXT_ENCODER,
                model.textEncoder()), textEncoderConfig(), precision);
    }

    public UNet2DConditionModel unet(Precision precision) {
        return unet(precision, LoraSet.NONE);
    }

    /** The U-Net with {@code loras} merged into its weights. */
    public UNet2DConditionModel unet(Precision precision, LoraSet loras) {
        return new UNet2DConditionModel(unetConfig(), model == null ? tinyWeights(1, 0.1) : loras.apply(ModelComponent.UNET,
                model.unet()), precision);
    }

    /**
     * The U-Net with run-time LoRA slots on the layout's weights ({@link dev.diffusion.core.nn.LowRankAdapters}), its
     * weights unmerged: the alternative to {@link #unet(Precision, LoraSet)} that {@code ./sd bench-lora} measures.
     */
    public UNet2DConditionModel unet(Precision precision, dev.diffusion.core.nn.LowRankAdapters.Layout lowRank) {
        if (model == null) {
            throw new WeightsException("the tiny random model takes no LoRAs");
        }
        return new UNet2DConditionModel(unetConfig(), model.unet(), precision, lowRank);
    }

    /**
     * The LoRAs a job names, read from {@code dir} and bound to this model's weights (the kohya and PEFT names of its
     * U-Net and text-encoder layers). The tiny random model has no files to patch and takes none.
     */
    public LoraSet loras(LoraDirectory dir, List<LoraRef> refs) {
        if (refs.isEmpty()) {
            return LoraSet.NONE;
        }
        if (model == null) {
            throw new WeightsException("the tiny random model takes no LoRAs");
        }
        if (dir == null) {
            throw new WeightsException("the job asks for LoRA " + refs.get(0).name() + " but no LoRA folder is configured "
                    + "(--lora-dir)");
        }
        if (loraTargets == null) {
            loraTargets = new Lora.Targets(model.unet(), model.textEncoder(), CompVisKeys.fromConfigs(
                    Optional.of(model.unetConfig().orElseGet(() -> SingleFileConfigs.unet(model.unet()))),
                    Optional.of(model.vaeConfig().orElseGet(() -> SingleFileConfigs.vae(model.vae())))));
        }
        List<LoraSet.Applied> applied = new ArrayList<>();
        for (LoraRef ref : refs) {
            applied.add(new LoraSet.Applied(Lora.open(dir.resolve(ref.name()), ref.name(), loraTargets), ref.weight()));
        }
        return new LoraSet(applied);
    }

    /** The VAE with its decoder, its encoder, or both. */
    public AutoencoderKL vae(Precision precision, boolean decoder, boolean encoder) {
        var weights = model == null ? tinyWeights(2, 0.3) : model.vae();
        if (decoder && encoder) {
            return AutoencoderKL.load(vaeConfig(), weights, precision);
        }
        if (encoder) {
            return AutoencoderKL.encoderOnly(vaeConfig(), weights, precision);
        }
        return AutoencoderKL.decoderOnly(vaeConfig(), weights, precision);
    }

    /** One network's weights as the file holds them (null for the tiny random model); for benchmarks in this package. */
    dev.diffusion.core.weights.Weights networkWeights(ModelComponent component) {
        return model == null ? null : model.weights(component);
    }

    /** The tiny model's weights for one network: drawn for the keys the network asks for. */
    private static RandomWeights tinyWeights(int network, double std) {
        return new RandomWeights(TINY_SEED + network, RandomWeights.normal(std));
    }

    /** Refuses models whose parts do not fit together (e.g. an SD 2.x text encoder with an SD 1.x U-Net). */
    public void checkCompatible() {
        ClipTextConfig clip = textEncoderConfig();
        UNetConfig unet = unetConfig();
        VaeConfig vae = vaeConfig();
        if (clip.hiddenSize() != unet.crossAttentionDim()) {
            throw new WeightsException(spec + ": the text encoder's width " + clip.hiddenSize()
                    + " does not match the U-Net's cross_attention_dim " + unet.crossAttentionDim()
                    + " (only Stable Diffusion 1.x models are supported)");
        }
        if (vae.latentChannels() != unet.inChannels()) {
            throw new WeightsException(spec + ": the VAE's latent_channels " + vae.latentChannels()
                    + " does not match the U-Net's in_channels " + unet.inChannels());
        }
    }

    private static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Releases the weight files (the networks keep their own copies). */
    @Override
    public void close() {
        if (model != null) {
            model.close();
        }
    }
}
