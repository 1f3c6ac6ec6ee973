package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.MapWeights;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Random;

/** Where the real checkpoint and the sd.cpp fixtures are, raw f32 reading, and tiny random VAEs. */
final class VaeTestSupport {
    private VaeTestSupport() {}

    /** The repository root: the parent of the module directory the tests run in. */
    static Path repoRoot() {
        Path module = Paths.get("").toAbsolutePath();
        return Files.exists(module.resolve("src")) && module.getParent() != null ? module.getParent() : module;
    }

    /** {@code -Dsd15.checkpoint=...}, else {@code <repo root>/target/sd15_random_f16.safetensors}; skips when absent. */
    static Path checkpointOrSkip() {
        return dev.diffusion.core.testing.Fixtures.sd15Checkpoint();
    }

    /** {@code -Dshared.dir=...}, else {@code <repo root>/../shared}; the sd15-random fixture folder, or skip. */
    static Path fixturesOrSkip() {
        String prop = System.getProperty("shared.dir");
        Path shared = prop != null && !prop.isBlank() ? Paths.get(prop) : repoRoot().resolve("../shared").normalize();
        Path dir = shared.resolve("fixtures/sd15-random");
        skipLoudlyUnless(Files.isDirectory(dir), "SKIPPED: no fixtures at " + dir + " (set -Dshared.dir=/path/to/shared)");
        return dir;
    }

    /** An assumption that also prints why (an aborted @BeforeAll shows as zero tests in surefire's summary). */
    static void skipLoudlyUnless(boolean condition, String message) {
        if (!condition) {
            System.err.println(message);
        }
        assumeTrue(condition, message);
    }

    static float[] readF32(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    static float[] nchwToNhwc(float[] x, int n, int c, int h, int w) {
        float[] out = new float[x.length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++)
                        out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx];
        return out;
    }

    /**
     * Seeded random weights ({@link TestWeights}, spread 0.2) for every key an AutoencoderKL of this config reads: the
     * encoder (with {@code quant_conv}) and the decoder (with {@code post_quant_conv}) declare them.
     */
    static MapWeights randomWeights(VaeConfig cfg, long seed) {
        return TestWeights.random(seed, 0.2, nn -> {
            AutoencoderKL.buildEncoder(nn, cfg, TestWeights.input(nn, 4));
            AutoencoderKL.buildDecoder(nn, cfg, TestWeights.input(nn, 4));
        });
    }

    static float[] gauss(Random rnd, int n, double std, double mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + std * rnd.nextGaussian());
        }
        return v;
    }
}
