package dev.diffusion.unet;

import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.sampling.SchedulerConfig;
import dev.diffusion.core.pipeline.LoraVariants;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.service.PartModel;
import jakarta.enterprise.context.ApplicationScoped;

/** The U-Net of {@code diffusion.model.path}, loaded at startup (and nothing else of the model). */
@ApplicationScoped
public class UNetModel extends PartModel<UNetModel.Loaded> {
    /**
     * The U-Net, the training schedule (timesteps are checked against its length), and the model's limits: the
     * largest latent side ({@link ModelSource#maxLatentSide}) and the text encoder's context length.
     */
    public record Loaded(UNet2DConditionModel unet, SchedulerConfig scheduler, String name, int maxLatentSide,
                         int contextLength, LoraVariants<UNet2DConditionModel> variants) {
    }

    /**
     * Copies of the U-Net in this process, each with an equal share of the threads; a call's batch (its CFG pair, or
     * a merged run) is split over them ({@link UNet2DConditionModel#REPLICAS_PROPERTY}). Needs
     * {@code TF_OVERRIDE_GLOBAL_THREADPOOL=1} in the environment ({@code scripts/run-service.sh} sets it when this is
     * above 1); without it the load fails and says so.
     */
    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "diffusion.unet.replicas", defaultValue = "1")
    int replicas;

    public UNetModel() {
        super("unet");
    }

    @Override
    protected Loaded build(ModelSource source) {
        if (replicas < 1 || replicas > 64) {
            throw new IllegalArgumentException("diffusion.unet.replicas must be 1..64, got " + replicas);
        }
        System.setProperty(UNet2DConditionModel.REPLICAS_PROPERTY, Integer.toString(replicas));
        UNet2DConditionModel unet = source.unet(settings.parsedPrecision());
        io.micrometer.core.instrument.Gauge.builder("diffusion.unet.replicas", unet, UNet2DConditionModel::replicaCount)
                .description("sessions holding the U-Net, a call's batch split over them (diffusion.unet.replicas)")
                .register(registry);
        return new Loaded(unet, source.schedulerConfig(), source.name(), source.maxLatentSide(), source.contextLength(),
                settings.loraVariants(unet, (s, loras) -> s.unet(settings.parsedPrecision(), loras)));
    }

    /** A CFG pair (batch 2) at the latent size of {@code imageSide}, as a lone job's step runs it. */
    @Override
    protected void warmUp(Loaded loaded, ModelSource source, int imageSide) {
        UNet2DConditionModel unet = loaded.unet();
        int side = Math.max(1, imageSide / source.vaeConfig().downscale());
        int context = loaded.contextLength();
        unet.predict(new float[2 * side * side * unet.config().inChannels()], 2, side, side, new float[] {999, 999},
                new float[2 * context * unet.config().crossAttentionDim()], context);
    }
}
