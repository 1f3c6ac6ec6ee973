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
        String prop = System.getProperty("sd15.checkpoint");
        Path path = prop != null ? Path.of(prop) : repoRoot().resolve("target").resolve("sd15_random_f16.safetensors");
        assumeTrue(Files.isRegularFile(path), () -> {
            String msg = "SKIPPED: no SD 1.5 random checkpoint at " + path + ". Generate it with "
                    + "`python3 " + sharedDir().resolve("tools/make_random_sd15.py") + " -o " + path
                    + "` (or pass -Dsd15.checkpoint=...)";
            System.err.println(msg);
            return msg;
        });
        return path;
    }

    /** A fixture case folder, e.g. {@code euler-cat-s42-256}, or the test is skipped. */
    static Path caseDirOrSkip(String name) {
        Path dir = sharedDir().resolve("fixtures").resolve("sd15-random").resolve(name);
        assumeTrue(Files.isDirectory(dir), () -> {
            String msg = "SKIPPED: no stable-diffusion.cpp fixtures at " + dir + " (set -Dshared.dir=...)";
            System.err.println(msg);
            return msg;
        });
        return dir;
    }

    /** A raw little-endian float32 file. */
    static float[] readF32(Path file) {
        try {
            ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            float[] values = new float[bytes.remaining() / 4];
            bytes.asFloatBuffer().get(values);
            return values;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
