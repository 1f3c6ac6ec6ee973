package dev.diffusion.core.testing;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;

/**
 * The one place the tests find the reference material of {@code ../shared} (stable-diffusion.cpp's
 * fixtures on a random full-size SD 1.5 checkpoint, CLIP's BPE vocabulary, the checkpoint's key list)
 * and the random SD 1.5 checkpoint itself, which they generate on first use with the shared tool
 * (python3 + numpy, ~20 s, 2.1 GB).
 *
 * <p>Where: system property {@code shared.dir} (the parent POM sets it to {@code <repo>/../shared};
 * {@code -Dshared.dir=...} overrides it), else {@code <repo>/../shared}. What happens when something
 * is missing:
 * <ul>
 *   <li>the shared folder itself is absent (a clone on a user's machine): the test is skipped, loudly
 *       (an assumption, and a line on stderr);</li>
 *   <li>the shared folder is present (CI has it beside the clone) but a fixture in it is missing, or
 *       the checkpoint cannot be generated (no python3 or numpy, the tool failed): the test FAILS and
 *       says what is missing, so parity never silently stops running where it can run.</li>
 * </ul>
 * The numbers that need nothing outside the repository are pinned by
 * {@code dev.diffusion.core.pipeline.TinyRandomPinnedTest} and {@code DemoPinnedTest}.
 */
public final class Fixtures {
    /** The stable-diffusion.cpp runs on the random checkpoint, relative to the shared folder. */
    public static final String SD15_FIXTURES = "fixtures/sd15-random";
    public static final String CLIP_VOCABULARY = "fixtures/clip/bpe_simple_vocab_16e6.txt.gz";
    public static final String SD15_KEY_LIST = SD15_FIXTURES + "/keys.txt";
    public static final String SD15_GENERATOR = "tools/make_random_sd15.py";
    public static final String CHECKPOINT_FILE = "sd15_random_f16.safetensors";

    private Fixtures() {}

    public static Path repoRoot() {
        String p = System.getProperty("repo.root");
        if (p != null) {
            return Paths.get(p);
        }
        Path cwd = Paths.get("").toAbsolutePath();
        return Files.exists(cwd.resolve("mvnw")) ? cwd : cwd.getParent();
    }

    /** Where the shared folder is looked for: {@code -Dshared.dir}, else {@code <repo>/../shared}. It may not exist. */
    public static Path sharedLocation() {
        String p = System.getProperty("shared.dir");
        Path dir = p != null && !p.isBlank() ? Paths.get(p) : repoRoot().resolve("../shared");
        return dir.toAbsolutePath().normalize();
    }

    /** The shared folder, or null when it is absent. */
    public static Path sharedDir() {
        Path dir = sharedLocation();
        return Files.isDirectory(dir) ? dir : null;
    }

    /** The shared folder, or the test is skipped (loudly) when it is absent. */
    public static Path requireShared(String what) {
        Path shared = sharedDir();
        if (shared == null) {
            String message = what + " SKIPPED: the reference fixtures (" + sharedLocation() + ", -Dshared.dir) are absent";
            System.err.println("!!! " + message);
            assumeTrue(false, message);
        }
        return shared;
    }

    /**
     * A file or folder inside the shared folder: skipped when the shared folder is absent; a failure
     * naming what is missing when the folder is there but this entry is not.
     */
    public static Path shared(String relative, String what) {
        Path p = requireShared(what).resolve(relative);
        if (!Files.exists(p)) {
            fail(what + ": " + p + " is missing, though the reference fixtures (" + sharedLocation()
                    + ") are present: restore it (or point -Dshared.dir at a complete copy)");
        }
        return p;
    }

    /** The folder of stable-diffusion.cpp's runs on the random SD 1.5 checkpoint ({@value #SD15_FIXTURES}). */
    public static Path sd15Fixtures() {
        return shared(SD15_FIXTURES, "SD 1.5 parity fixtures");
    }

    /** One run, e.g. {@code euler-cat-s42-256}. */
    public static Path fixtureCase(String name) {
        return shared(SD15_FIXTURES + "/" + name, "SD 1.5 parity case " + name);
    }

    /** One file of a run, e.g. {@code fixtureFile("euler-cat-s42-256", "x0_b0.f32")}. */
    public static Path fixtureFile(String caseName, String file) {
        return shared(SD15_FIXTURES + "/" + caseName + "/" + file, "SD 1.5 parity case " + caseName);
    }

    /** OpenAI's CLIP vocabulary ({@value #CLIP_VOCABULARY}). */
    public static Path clipVocabulary() {
        return shared(CLIP_VOCABULARY, "CLIP vocabulary");
    }

    /** Names, dtypes and shapes of the random SD 1.5 checkpoint's 1131 tensors ({@value #SD15_KEY_LIST}). */
    public static Path sd15KeyList() {
        return shared(SD15_KEY_LIST, "SD 1.5 key list");
    }

    /**
     * The random SD 1.5 checkpoint of the fixtures: system property {@code sd15.checkpoint} (which must
     * then exist), else {@code <repo>/target/}{@value #CHECKPOINT_FILE}, generated there with the shared
     * tool when missing. Skipped when it is not there and the shared folder is absent; a failure when the
     * shared folder is present and the checkpoint cannot be generated.
     */
    public static synchronized Path sd15Checkpoint() {
        String prop = System.getProperty("sd15.checkpoint");
        if (prop != null && !prop.isBlank()) {
            if (!Files.isRegularFile(Paths.get(prop))) {
                fail("-Dsd15.checkpoint=" + prop + " does not exist");
            }
            return Paths.get(prop);
        }
        Path target = repoRoot().resolve("target").resolve(CHECKPOINT_FILE).toAbsolutePath().normalize();
        if (Files.exists(target)) {
            return target;
        }
        Path tool = shared(SD15_GENERATOR, "the random SD 1.5 checkpoint (" + target + ")");
        Path partial = target.resolveSibling(target.getFileName() + ".partial");
        String cannot = "cannot generate the random SD 1.5 checkpoint " + target + " with " + tool
                + " although the reference fixtures are present (python3 with numpy is needed; or pass -Dsd15.checkpoint=FILE)";
        try {
            Files.createDirectories(target.getParent());
            System.err.println("generating the random SD 1.5 checkpoint (2.1 GB, ~20 s): " + target);
            Process p = new ProcessBuilder("python3", tool.toString(), "-o", partial.toString()).inheritIO().start();
            boolean done = p.waitFor(10, TimeUnit.MINUTES);
            if (!done) {
                p.destroyForcibly();
                fail(cannot + ": still running after 10 minutes");
            }
            if (p.exitValue() != 0) {
                fail(cannot + ": python3 exited with " + p.exitValue());
            }
            Files.move(partial, target);
            return target;
        } catch (IOException e) {
            return fail(cannot + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail(cannot + ": interrupted", e);
        } finally {
            try {
                Files.deleteIfExists(partial);
            } catch (IOException ignored) {
                // best effort: a leftover .partial is overwritten by the next attempt
            }
        }
    }

    public static final String LORA_GENERATOR = "tools/make_random_lora.py";

    /**
     * The random kohya-format LoRA of {@code fixtures/sd15-random/lora-euler-cat-s42-256} (seed {@code seed}; without
     * its text-encoder half when {@code noTextEncoder}), written by {@code make_random_lora.py} into
     * {@code target/loras-seedN[-unet]/randlora.safetensors} once (9.5 MB, under a second). Returns the folder.
     */
    public static synchronized Path randomLoraDir(int seed, boolean noTextEncoder) {
        Path dir = repoRoot().resolve("target").resolve("loras-seed" + seed + (noTextEncoder ? "-unet" : "")).toAbsolutePath();
        Path file = dir.resolve("randlora.safetensors");
        if (Files.exists(file)) {
            return dir;
        }
        Path tool = shared(LORA_GENERATOR, "the random LoRA (" + file + ")");
        Path partial = dir.resolve("randlora.partial");
        try {
            Files.createDirectories(dir);
            java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("python3", tool.toString(), "-o",
                    partial.toString(), "--seed", Integer.toString(seed)));
            if (noTextEncoder) {
                cmd.add("--no-te");
            }
            Process p = new ProcessBuilder(cmd).inheritIO().redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
                p.destroyForcibly();
                fail("cannot write the random LoRA with " + tool + " (python3 with numpy is needed)");
            }
            Files.move(partial, file);
            return dir;
        } catch (IOException e) {
            return fail("cannot write the random LoRA " + file + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail("interrupted", e);
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
