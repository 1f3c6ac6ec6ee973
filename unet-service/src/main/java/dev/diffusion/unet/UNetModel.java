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

    public UNetModel() {
        super("unet");
    }

    @Override
    protected Loaded build(ModelSource source) {
        UNet2DConditionModel unet = source.unet(settings.parsedPrecision());
        return new Loaded(unet, source.schedulerConfig(), source.name(), source.maxLatentSide(), source.contextLength(),
                settings.loraVariants(unet, (s, loras) -> s.unet(settings.parsedPrecision(), loras)));
    }
}
