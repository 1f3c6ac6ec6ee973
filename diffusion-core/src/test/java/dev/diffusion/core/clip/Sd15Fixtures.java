package dev.diffusion.core.clip;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the random-weight SD 1.5 checkpoint and the stable-diffusion.cpp fixtures are found.
 * Checkpoint: system property {@code sd15.checkpoint}, else {@code <repo root>/target/sd15_random_f16.safetensors}.
 * Fixtures: system property {@code shared.dir}, else {@code <repo root>/../shared}, then
 * {@code fixtures/sd15-random}. Tests that need them are skipped, saying how to get them, when absent.
 */
final class Sd15Fixtures {
    private Sd15Fixtures() {}

    /** The repository root: surefire runs in the module directory, whose parent it is. */
    static Path repoRoot() {
        Path here = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        return Files.exists(here.resolve("diffusion-core")) ? here : here.getParent();
    }

    static Path sharedDir() {
        String prop = System.getProperty("shared.dir");
        return prop != null ? Path.of(prop) : repoRoot().resolve("..").resolve("shared").normalize();
    }

    /** The checkpoint, or the test is skipped with instructions. */
    static Path checkpointOrSkip() {
        return dev.diffusion.core.testing.Fixtures.sd15Checkpoint();
    }

    /** A fixture case folder, e.g. {@code euler-cat-s42-256}, or the test is skipped. */
    static Path caseDirOrSkip(String name) {
        return dev.diffusion.core.testing.Fixtures.fixtureCase(name);
    }

    /** A raw little-endian float32 file. */
    static float[] readF32(Path file) {
        return dev.diffusion.core.testing.Fixtures.readF32(file);
    }
}
