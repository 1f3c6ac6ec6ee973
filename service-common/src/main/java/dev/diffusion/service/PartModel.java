package dev.diffusion.service;

import dev.diffusion.core.pipeline.ModelSource;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

/**
 * A service's part of {@code diffusion.model.path}, loaded at startup on a thread of its own (see
 * {@link ModelLoader}). A service's bean only names its part and says how to {@link #build} it.
 */
public abstract class PartModel<T> implements LoadableModel {
    private final ModelLoader<T> loader;

    @Inject
    protected ModelSettings settings;
    @Inject
    protected MeterRegistry registry;

    protected PartModel(String part) {
        this.loader = new ModelLoader<>(part);
    }

    /** This service's part of the opened model (and nothing else of it). */
    protected abstract T build(ModelSource source);

    void onStart(@Observes StartupEvent event) {
        loader.start(settings, registry, this::build);
    }

    /** The loaded part; {@code UNAVAILABLE} while loading or after a failed load. */
    public T get() {
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
