package dev.diffusion.textencoder;

import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.service.LoadableModel;
import dev.diffusion.service.ModelLoader;
import dev.diffusion.service.ModelSettings;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

/** The tokenizer and CLIP text encoder of {@code diffusion.model.path}, loaded at startup (and nothing else). */
@ApplicationScoped
public class TextEncoderModel implements LoadableModel {
    public record Loaded(ClipTokenizer tokenizer, ClipTextModel textEncoder, String name) {
    }

    private final ModelLoader<Loaded> loader = new ModelLoader<>("text-encoder");

    @Inject
    ModelSettings settings;
    @Inject
    MeterRegistry registry;

    void onStart(@Observes StartupEvent event) {
        loader.start(settings, registry, source -> new Loaded(source.tokenizer(),
                source.textEncoder(settings.parsedPrecision()), source.name()));
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
