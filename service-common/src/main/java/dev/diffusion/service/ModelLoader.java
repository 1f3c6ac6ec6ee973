package dev.diffusion.service;

import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.pipeline.ModelSource;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Loads a service's part of the model on a thread of its own, so the HTTP server (health, metrics) answers while
 * big weights load; {@link #get()} answers {@code UNAVAILABLE} until then. Records the load time as the
 * {@code diffusion.model.load} timer. A warm-up run (TensorFlow prunes and optimises a graph, and oneDNN builds its
 * kernels, on a graph's first run) follows the load, before the part counts as loaded, so a job never pays it; its
 * time is the {@code diffusion.model.warmup} timer.
 */
public final class ModelLoader<T> implements LoadableModel {
    private static final Logger LOG = Logger.getLogger(ModelLoader.class);

    private final String part;
    private volatile T model;
    private volatile Throwable failure;
    private volatile String description;
    private volatile long loadMillis;

    public ModelLoader(String part) {
        this.part = part;
        this.description = part + " (loading)";
    }

    /**
     * Starts loading: opens the model source, builds the part with {@code build}, warms it up with {@code warmUp}
     * (given the source, still open), then closes the source.
     */
    public void start(ModelSettings settings, MeterRegistry registry, Function<ModelSource, T> build,
                      BiConsumer<T, ModelSource> warmUp) {
        Thread thread = new Thread(() -> {
            long t0 = System.nanoTime();
            try (ModelSource source = ModelSource.open(settings.path(), settings.tokenizer())) {
                T loaded = build.apply(source);
                loadMillis = (System.nanoTime() - t0) / 1_000_000;
                description = part + " of " + source.name() + ", " + settings.precision();
                Timer.builder("diffusion.model.load").description("time to load this service's part of the model")
                        .tag("part", part).register(registry).record(Duration.ofMillis(loadMillis));
                // where TensorFlow placed the graph: CPU, or which GPU (TensorFlow's own log names the card)
                LOG.infof("loaded %s in %d ms; TensorFlow placed it on %s", description, loadMillis,
                        String.join(", ", TfNetwork.processDevices()));
                long t1 = System.nanoTime();
                warmUp.accept(loaded, source);
                long warmMillis = (System.nanoTime() - t1) / 1_000_000;
                Timer.builder("diffusion.model.warmup").description("time of the warm-up run after loading")
                        .tag("part", part).register(registry).record(Duration.ofMillis(warmMillis));
                LOG.infof("warmed up the %s in %d ms", part, warmMillis);
                model = loaded;
            } catch (Throwable t) {
                failure = t;
                description = part + ": loading failed: " + t.getMessage();
                LOG.errorf(t, "loading the %s failed", part);
            }
        }, "load-" + part);
        thread.setDaemon(true);
        thread.start();
    }

    /** The loaded part; {@code UNAVAILABLE} while loading or after a failed load. */
    public T get() {
        T m = model;
        if (m == null) {
            throw Status.UNAVAILABLE.withDescription(failure == null ? "the " + part + " is still loading"
                    : "the " + part + " failed to load: " + failure.getMessage()).asRuntimeException();
        }
        return m;
    }

    public long loadMillis() {
        return loadMillis;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public boolean loaded() {
        return model != null;
    }

    @Override
    public Throwable failure() {
        return failure;
    }
}
