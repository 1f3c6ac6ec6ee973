package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

/**
 * Where the random-weight SD 1.5 checkpoint and the stable-diffusion.cpp fixtures are, and how to read them.
 * Checkpoint: system property {@code sd15.checkpoint}, else {@code <repo root>/target/sd15_random_f16.safetensors}.
 * Fixtures: system property {@code shared.dir}, else {@code <repo root>/../shared}.
 */
final class Sd15Fixtures {
    private Sd15Fixtures() {}

    /** The repository root: the parent of the module directory Maven runs the tests in. */
    static Path repoRoot() {
        Path moduleDir = Paths.get(System.getProperty("user.dir")).toAbsolutePath();
        return Files.exists(moduleDir.resolve("diffusion-core")) ? moduleDir : moduleDir.getParent();
    }

    /** The checkpoint, or the test is skipped with a message saying how to make it. */
    static Path checkpointOrSkip() {
        return dev.diffusion.core.testing.Fixtures.sd15Checkpoint();
    }

    static Path fixtureDirOrSkip(String caseName) {
        return dev.diffusion.core.testing.Fixtures.fixtureCase(caseName);
    }

    /** Raw little-endian float32. */
    static float[] floats(Path file) {
        return dev.diffusion.core.testing.Fixtures.readF32(file);
    }

    /** One line of steps.txt: {@code stepK sigma=… t=… c_in=…}; returns {sigma, t}. */
    static double[] sigmaAndTimestep(Path dir, int step) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("steps.txt"));
            for (String line : lines) {
                String[] parts = line.trim().split("\\s+");
                if (parts[0].equals("step" + step)) {
                    double sigma = Double.NaN;
                    double t = Double.NaN;
                    for (String p : parts) {
                        if (p.startsWith("sigma=")) {
                            sigma = Double.parseDouble(p.substring(6));
                        } else if (p.startsWith("t=")) {
                            t = Double.parseDouble(p.substring(2));
                        }
                    }
                    return new double[] {sigma, t};
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new IllegalArgumentException("no step" + step + " in " + dir.resolve("steps.txt"));
    }

    static float[] nchwToNhwc(float[] x, int n, int c, int h, int w) {
        float[] y = new float[x.length];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < h * w; i++) {
                    y[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i];
                }
            }
        }
        return y;
    }
}
