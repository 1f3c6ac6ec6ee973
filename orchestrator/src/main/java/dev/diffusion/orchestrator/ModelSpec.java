package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import java.nio.file.Path;
import java.util.Optional;
import dev.diffusion.core.sampling.SchedulerConfig;
import dev.diffusion.core.unet.UNetConfig;

/**
 * What the orchestrator needs to know of the model the services serve, read from the model's
 * configuration through the same {@link ModelSource} the services load it with (no weights).
 *
 * @param name           the name written into the PNG metadata
 * @param latentChannels channels of a latent (4)
 * @param vaeDownscale   pixels per latent pixel (8)
 * @param nativeImageSize the image side the model was trained at: the size of a job that gives none
 * @param textEncoderLayers the text encoder's layers: the largest clip_skip
 * @param scalingFactor, shiftFactor the VAE's latent scaling (img2img: encoder moments → the U-Net's latents)
 * @param unet           the U-Net's configuration (what a job's size costs it in memory)
 * @param tokenizer      the model's tokenizer where the orchestrator can read it (a diffusers folder's, the demo
 *                       model's, {@code diffusion.model.tokenizer}): prompts over the token limit are then refused
 *                       when the job is submitted; else only the text-encoder service refuses them, when it runs
 */
public record ModelSpec(String name, SchedulerConfig schedulerConfig, int latentChannels, int vaeDownscale,
                        int hiddenSize, int nativeImageSize, int textEncoderLayers, double scalingFactor,
                        double shiftFactor, UNetConfig unet, Optional<ClipTokenizer> tokenizer) {

    public static ModelSpec open(String model) {
        return open(model, null);
    }

    /** @param tokenizerPath the services' {@code diffusion.model.tokenizer} (a single-file model carries none), or null */
    public static ModelSpec open(String model, Path tokenizerPath) {
        try (ModelSource source = ModelSource.open(model, tokenizerPath)) {
            Optional<ClipTokenizer> tokenizer;
            try {
                tokenizer = Optional.of(source.tokenizer());
            } catch (RuntimeException e) {
                LOG.infof("no tokenizer for %s here (%s): prompts over the token limit are refused by the text encoder,"
                        + " when their jobs run", model, e.getMessage());
                tokenizer = Optional.empty();
            }
            return new ModelSpec(source.name(), source.schedulerConfig(), source.vaeConfig().latentChannels(),
                    source.vaeConfig().downscale(),
                    source.textEncoderConfig().hiddenSize(), source.nativeImageSize(),
                    source.textEncoderConfig().numHiddenLayers(), source.vaeConfig().scalingFactor(),
                    source.vaeConfig().shiftFactor(), source.unetConfig(), tokenizer);
        }
    }

    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(ModelSpec.class);

    /** Image sides must be multiples of this (the U-Net takes any latent size). */
    public int pixelMultiple() {
        return vaeDownscale;
    }
}
