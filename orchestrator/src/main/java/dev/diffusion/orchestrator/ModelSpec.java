package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.ModelSource;
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
 */
public record ModelSpec(String name, SchedulerConfig schedulerConfig, int latentChannels, int vaeDownscale,
                        int hiddenSize, int nativeImageSize, int textEncoderLayers, double scalingFactor,
                        double shiftFactor, UNetConfig unet) {

    public static ModelSpec open(String model) {
        try (ModelSource source = ModelSource.open(model, null)) {
            return new ModelSpec(source.name(), source.schedulerConfig(), source.vaeConfig().latentChannels(),
                    source.vaeConfig().downscale(),
                    source.textEncoderConfig().hiddenSize(), source.nativeImageSize(),
                    source.textEncoderConfig().numHiddenLayers(), source.vaeConfig().scalingFactor(),
                    source.vaeConfig().shiftFactor(), source.unetConfig());
        }
    }

    /** Image sides must be multiples of this (the U-Net takes any latent size). */
    public int pixelMultiple() {
        return vaeDownscale;
    }
}
