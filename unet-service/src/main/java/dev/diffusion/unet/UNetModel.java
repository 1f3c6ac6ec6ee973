package dev.diffusion.unet;

import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.sampling.SchedulerConfig;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.service.PartModel;
import jakarta.enterprise.context.ApplicationScoped;

/** The U-Net of {@code diffusion.model.path}, loaded at startup (and nothing else of the model). */
@ApplicationScoped
public class UNetModel extends PartModel<UNetModel.Loaded> {
    /** The U-Net and the training schedule's length (timesteps are checked against it). */
    public record Loaded(UNet2DConditionModel unet, SchedulerConfig scheduler, String name) {
    }

    public UNetModel() {
        super("unet");
    }

    @Override
    protected Loaded build(ModelSource source) {
        return new Loaded(source.unet(settings.parsedPrecision()), source.schedulerConfig(), source.name());
    }
}
