package dev.diffusion.core.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;

/**
 * Where the tests find the reference material of {@code ../shared} and the random full-size SD 1.5
 * checkpoint, which they generate on first use with the shared tool (python3 + numpy, ~20 s).
 * Without them (a user's machine) the tests that need them are skipped with a loud message.
 */
public final class Fixtures {
    private Fixtures() {}

    public static Path repoRoot() {
        String p = System.getProperty("repo.root");
        if (p != null) {
            return Paths.get(p);
        }
        Path cwd = Paths.get("").toAbsolutePath();
        return Files.exists(cwd.resolve("mvnw")) ? cwd : cwd.getParent();
    }

    /** The shared reference folder, or empty when absent. */
    public static Path sharedDir() {
        String p = System.getProperty("shared.dir");
        if (p != null && Files.isDirectory(Paths.get(p))) {
            return Paths.get(p).toAbsolutePath().normalize();
        }
        Path beside = repoRoot().resolve("../shared").normalize();
        return Files.isDirectory(beside) ? beside : null;
    }

    /** The shared folder, or the test is skipped (loudly) when it is absent. */
    public static Path requireShared(String what) {
        Path shared = sharedDir();
        if (shared == null) {
            System.err.println("!!! SKIPPED " + what + ": ../shared (reference fixtures) is not beside this checkout");
        }
        assumeTrue(shared != null, "../shared (reference fixtures) is absent: " + what + " skipped");
        return shared;
    }

    public static Path fixtureCase(String name) {
        Path dir = requireShared("SD 1.5 parity " + name).resolve("fixtures/sd15-random").resolve(name);
        assumeTrue(Files.isDirectory(dir), "fixture " + dir + " is absent");
        return dir;
    }

    public static Path clipVocabulary() {
        Path p = requireShared("CLIP vocabulary").resolve("fixtures/clip/bpe_simple_vocab_16e6.txt.gz");
        assumeTrue(Files.exists(p), "CLIP vocabulary " + p + " is absent");
        return p;
    }

    /**
     * The random SD 1.5 checkpoint of the fixtures: system property {@code sd15.checkpoint}, else
     * {@code <repo>/target/sd15_random_f16.safetensors}, generated there by the shared tool when missing.
     */
    public static synchronized Path sd15Checkpoint() {
        String prop = System.getProperty("sd15.checkpoint");
        if (prop != null && Files.exists(Paths.get(prop))) {
            return Paths.get(prop);
        }
        Path target = repoRoot().resolve("target/sd15_random_f16.safetensors");
        if (Files.exists(target)) {
            return target;
        }
        Path tool = requireShared("SD 1.5 parity").resolve("tools/make_random_sd15.py");
        assumeTrue(Files.exists(tool), "generator " + tool + " is absent");
        try {
            Files.createDirectories(target.getParent());
            Path partial = target.resolveSibling(target.getFileName() + ".partial");
            System.err.println("generating the random SD 1.5 checkpoint (2.1 GB, ~20 s): " + target);
            Process p = new ProcessBuilder("python3", tool.toString(), "-o", partial.toString()).inheritIO().start();
            boolean done = p.waitFor(10, TimeUnit.MINUTES);
            if (!done || p.exitValue() != 0) {
                p.destroyForcibly();
                System.err.println("!!! SKIPPED: could not generate the SD 1.5 checkpoint (python3 with numpy needed)");
                assumeTrue(false, "python3 " + tool + " failed: SD 1.5 parity skipped");
            }
            Files.move(partial, target);
            return target;
        } catch (IOException | InterruptedException e) {
            assumeTrue(false, "could not generate the SD 1.5 checkpoint: " + e);
            return null;
        }
    }

    /** A raw little-endian float32 file. */
    public static float[] readF32(Path file) {
        try {
            byte[] b = Files.readAllBytes(file);
            float[] out = new float[b.length / 4];
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
            return out;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** NCHW [n, c, h, w] → NHWC. */
    public static float[] nchwToNhwc(float[] x, int n, int c, int h, int w) {
        float[] out = new float[x.length];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    for (int xx = 0; xx < w; xx++) {
                        out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx];
                    }
                }
            }
        }
        return out;
    }

    /** ||a − b|| / ||b||. */
    public static double relativeError(float[] a, float[] b) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            num += d * d;
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    public static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    /** PSNR in dB of two images with values in [0, peak]. */
    public static double psnr(float[] a, float[] b, double peak) {
        double mse = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            mse += d * d;
        }
        mse /= a.length;
        return 10 * Math.log10(peak * peak / mse);
    }
}
