package dev.diffusion.core.pipeline;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The names {@code --model} (and {@code diffusion.model.path}) accepts besides a path, and the check that a model
 * can be found: here, without TensorFlow, so that {@code ./sd up} checks its {@code --model} before starting
 * anything. Loading is diffusion-core's {@code ModelSource}.
 */
public final class ModelNames {
    /** The demo model bundled in the diffusion-core jar (the repository's {@code models/demo}); the default. */
    public static final String DEMO = "demo";
    /** The tiny built-in random model (seeded: identical in every process). */
    public static final String TINY_RANDOM = "tiny-random";

    private ModelNames() {}

    /** Whether {@code spec} names a model that can be opened: {@value #DEMO}, {@value #TINY_RANDOM} or an existing path. */
    public static boolean exists(String spec) {
        return spec.equals(DEMO) || spec.equals(TINY_RANDOM) || Files.exists(Path.of(spec));
    }
}
