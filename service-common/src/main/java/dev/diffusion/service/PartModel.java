package dev.diffusion.service;

import dev.diffusion.core.pipeline.ModelSource;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

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
    /**
     * The image side (pixels) of the warm-up run made after loading, before the service reports ready: absent, the
     * model's native size (512 for SD 1.x); 0, no warm-up (the first job pays it).
     */
    @ConfigProperty(name = "diffusion.warmup.size")
    Optional<Integer> warmupSize;
    /**
     * Sliced attention: at most this many MiB of attention scores at a time (0, the default: in one piece). For
     * images above the model's native size, where whole attention needs GBs (17 GB for an SD 1.5 CFG pair at 1024²).
     */
    @ConfigProperty(name = "diffusion.attention.slice-mb", defaultValue = "0")
    long attentionSliceMb;

    protected PartModel(String part) {
        this.loader = new ModelLoader<>(part);
    }

    /** This service's part of the opened model (and nothing else of it). */
    protected abstract T build(ModelSource source);

    /**
     * One run of the part as a job of {@code imageSide}² pixels would make it (the first run of a graph, or of a
     * shape, is the slow one); it runs before the part counts as loaded.
     */
    protected abstract void warmUp(T loaded, ModelSource source, int imageSide);

    void onStart(@Observes StartupEvent event) {
        if (attentionSliceMb < 0) {
            throw new IllegalArgumentException("diffusion.attention.slice-mb must be >= 0 (0 = attention in one piece), got "
                    + attentionSliceMb);
        }
        // read by the networks' graph builders (dev.diffusion.core.nn.Nn), which this property reaches from any source
        System.setProperty(dev.diffusion.core.nn.Nn.ATTENTION_SLICE_PROPERTY, Long.toString(attentionSliceMb));
        loader.start(settings, registry, this::build, (loaded, source) -> {
            int side = warmupSize.orElse(source.nativeImageSize());
            if (side < 0) {
                throw new IllegalArgumentException("diffusion.warmup.size must be >= 0 (0 = no warm-up), got " + side);
            }
            if (side > 0) {
                warmUp(loaded, source, side);
            }
        });
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
