package dev.diffusion.unet;

import dev.diffusion.core.sampling.SchedulerConfig;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.service.LoadableModel;
import dev.diffusion.service.ModelLoader;
import dev.diffusion.service.ModelSettings;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

/** The U-Net of {@code diffusion.model.path}, loaded at startup (and nothing else of the model). */
@ApplicationScoped
public class UNetModel implements LoadableModel {
    /** The U-Net and the training schedule's length (timesteps are checked against it). */
    public record Loaded(UNet2DConditionModel unet, SchedulerConfig scheduler, String name) {
    }

    private final ModelLoader<Loaded> loader = new ModelLoader<>("unet");

    @Inject
    ModelSettings settings;
    @Inject
    MeterRegistry registry;

    void onStart(@Observes StartupEvent event) {
        loader.start(settings, registry, source -> new Loaded(source.unet(settings.parsedPrecision()),
                source.schedulerConfig(), source.name()));
    }

    public Loaded get() {
        return loader.get();
    }

    public long loadMillis() {
        return loader.loadMillis();
    }

    @Override
    public String describe() {
        return loader.describe();
    }

    @Override
    public boolean loaded() {
        return loader.loaded();
    }

    @Override
    public Throwable failure() {
        return loader.failure();
    }
}
