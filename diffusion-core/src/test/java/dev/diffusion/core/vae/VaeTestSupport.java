package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion.core.weights.MapWeights;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
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
     * Seeded random weights for every key a diffusers AutoencoderKL of this config has, listed here
     * from the diffusers module tree independently of the main code.
     */
    static MapWeights randomWeights(VaeConfig cfg, long seed) {
        Random rnd = new Random(seed);
        MapWeights w = new MapWeights();
        List<Integer> ch = cfg.blockOutChannels();
        int n = ch.size();
        int lat = cfg.latentChannels();
        int top = ch.get(n - 1);
        conv(w, rnd, "encoder.conv_in", ch.get(0), cfg.inChannels(), 3);
        int out = ch.get(0);
        for (int i = 0; i < n; i++) {
            int in = out;
            out = ch.get(i);
            for (int j = 0; j < cfg.layersPerBlock(); j++) {
                resnet(w, rnd, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? in : out, out);
            }
            if (i < n - 1) {
                conv(w, rnd, "encoder.down_blocks." + i + ".downsamplers.0.conv", out, out, 3);
            }
        }
        mid(w, rnd, "encoder.mid_block", top);
        norm(w, rnd, "encoder.conv_norm_out", top);
        conv(w, rnd, "encoder.conv_out", 2 * lat, top, 3);
        conv(w, rnd, "quant_conv", 2 * lat, 2 * lat, 1);
        conv(w, rnd, "post_quant_conv", lat, lat, 1);
        conv(w, rnd, "decoder.conv_in", top, lat, 3);
        mid(w, rnd, "decoder.mid_block", top);
        out = top;
        for (int i = 0; i < n; i++) {
            int in = out;
            out = ch.get(n - 1 - i);
            for (int j = 0; j <= cfg.layersPerBlock(); j++) {
                resnet(w, rnd, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? in : out, out);
            }
            if (i < n - 1) {
                conv(w, rnd, "decoder.up_blocks." + i + ".upsamplers.0.conv", out, out, 3);
            }
        }
        norm(w, rnd, "decoder.conv_norm_out", ch.get(0));
        conv(w, rnd, "decoder.conv_out", cfg.outChannels(), ch.get(0), 3);
        return w;
    }

    static void resnet(MapWeights w, Random rnd, String p, int in, int out) {
        norm(w, rnd, p + ".norm1", in);
        conv(w, rnd, p + ".conv1", out, in, 3);
        norm(w, rnd, p + ".norm2", out);
        conv(w, rnd, p + ".conv2", out, out, 3);
        if (in != out) {
            conv(w, rnd, p + ".conv_shortcut", out, in, 1);
        }
    }

    static void attention(MapWeights w, Random rnd, String p, int c) {
        norm(w, rnd, p + ".group_norm", c);
        for (String name : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) {
            w.put(p + "." + name + ".weight", new long[] {c, c}, gauss(rnd, c * c, 1.0 / Math.sqrt(c), 0));
            w.put(p + "." + name + ".bias", new long[] {c}, gauss(rnd, c, 0.1, 0));
        }
    }

    static void mid(MapWeights w, Random rnd, String p, int c) {
        resnet(w, rnd, p + ".resnets.0", c, c);
        attention(w, rnd, p + ".attentions.0", c);
        resnet(w, rnd, p + ".resnets.1", c, c);
    }

    static void norm(MapWeights w, Random rnd, String p, int c) {
        w.put(p + ".weight", new long[] {c}, gauss(rnd, c, 0.2, 1));
        w.put(p + ".bias", new long[] {c}, gauss(rnd, c, 0.2, 0));
    }

    static void conv(MapWeights w, Random rnd, String p, int out, int in, int k) {
        w.put(p + ".weight", new long[] {out, in, k, k}, gauss(rnd, out * in * k * k, 1.0 / Math.sqrt(in * k * k), 0));
        w.put(p + ".bias", new long[] {out}, gauss(rnd, out, 0.1, 0));
    }

    static float[] gauss(Random rnd, int n, double std, double mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + std * rnd.nextGaussian());
        }
        return v;
    }

    static long elementCount(MapWeights w) {
        long n = 0;
        for (String k : w.keys()) {
            n += w.floats(k).length;
        }
        return n;
    }

    static long elementCount(MapWeights w, String... prefixes) {
        long n = 0;
        for (String k : w.keys()) {
            for (String p : prefixes) {
                if (k.startsWith(p)) {
                    n += w.floats(k).length;
                    break;
                }
            }
        }
        return n;
    }
}
