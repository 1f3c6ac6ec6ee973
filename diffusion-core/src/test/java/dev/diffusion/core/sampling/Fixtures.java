package dev.diffusion.core.sampling;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reading the stable-diffusion.cpp reference outputs that {@link dev.diffusion.core.testing.Fixtures} finds. */
final class Fixtures {
    static final String EULER = "euler-cat-s42-256";
    static final String DPMPP = "dpmpp2m-karras-fox-s1234-256";

    private Fixtures() {
    }

    static float[] f32(String testCase, String name) {
        Path file = dev.diffusion.core.testing.Fixtures.fixtureFile(testCase, name + ".f32");
        try {
            byte[] bytes = Files.readAllBytes(file);
            float[] out = new float[bytes.length / 4];
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One line of steps.txt. */
    record Step(double sigma, double t, double cIn, double cOut, double cSkip) {
    }

    static List<Step> steps(String testCase) {
        try {
            List<Step> out = new ArrayList<>();
            for (String line : Files.readAllLines(dev.diffusion.core.testing.Fixtures.fixtureFile(testCase, "steps.txt"))) {
                if (line.isBlank()) {
                    continue;
                }
                double[] v = new double[5];
                String[] keys = {"sigma", "t", "c_in", "c_out", "c_skip"};
                for (String tok : line.trim().split("\\s+")) {
                    int eq = tok.indexOf('=');
                    if (eq < 0) {
                        continue;
                    }
                    for (int k = 0; k < keys.length; k++) {
                        if (tok.substring(0, eq).equals(keys[k])) {
                            v[k] = Double.parseDouble(tok.substring(eq + 1));
                        }
                    }
                }
                out.add(new Step(v[0], v[1], v[2], v[3], v[4]));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /** max |a - b| / max |b|: the error relative to the tensor's scale. */
    static double relDiff(float[] actual, float[] expected) {
        return maxAbsDiff(actual, expected) / maxAbs(expected);
    }
}
