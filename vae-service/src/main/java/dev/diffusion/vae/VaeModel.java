package dev.diffusion.vae;

import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.service.LoadableModel;
import dev.diffusion.service.ModelLoader;
import dev.diffusion.service.ModelSettings;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** The VAE of {@code diffusion.model.path} (decoder, and encoder unless {@code diffusion.vae.encoder=false}), loaded at startup. */
@ApplicationScoped
public class VaeModel implements LoadableModel {
    public record Loaded(AutoencoderKL vae, String name) {
    }

    private final ModelLoader<Loaded> loader = new ModelLoader<>("vae");

    @Inject
    ModelSettings settings;
    @Inject
    MeterRegistry registry;
    @ConfigProperty(name = "diffusion.vae.encoder", defaultValue = "true")
    boolean withEncoder;

    void onStart(@Observes StartupEvent event) {
        loader.start(settings, registry, source -> new Loaded(source.vae(settings.parsedPrecision(), true, withEncoder),
                source.name()));
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
