package dev.diffusion.core.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;

/**
 * Expected slices, as diffusers' {@code expected_slice} tests keep them: a few numbers of a tensor pinned in the
 * test source, not the tensor. A slice is {@value #COUNT} values at the indices {@code i·(n−1)/(COUNT−1)} (the
 * first, the last and evenly spaced ones between) plus the mean and the mean absolute value of the whole tensor.
 *
 * <p>Tolerance: TensorFlow's CPU kernels (oneDNN) sum in an order that depends on the CPU, so a tensor is compared
 * to {@value #RELATIVE} relative (a value v against e: |v − e| ≤ 1e-4·(|e| + mean|e|), the mean to 1e-4 of the mean
 * absolute value), and pixels to ±1 level. Turning oneDNN off ({@code TF_ENABLE_ONEDNN_OPTS=0}), which changes every
 * kernel, moved the pinned values by 1e-5 of that at most; a wrong implementation moves them by orders more.
 */
public final class PinnedSlice {
    public static final int COUNT = 10;
    public static final double RELATIVE = 1e-4;

    private PinnedSlice() {}

    public static float[] strided(float[] x) {
        float[] out = new float[COUNT];
        for (int i = 0; i < COUNT; i++) {
            out[i] = x[(int) ((long) i * (x.length - 1) / (COUNT - 1))];
        }
        return out;
    }

    public static double mean(float[] x) {
        double s = 0;
        for (float v : x) {
            s += v;
        }
        return s / x.length;
    }

    public static double meanAbs(float[] x) {
        double s = 0;
        for (float v : x) {
            s += Math.abs(v);
        }
        return s / x.length;
    }

    /** {@code x}'s slice as Java source, for the failure message (re-pin only after finding why it moved). */
    public static String describe(float[] x) {
        StringBuilder sb = new StringBuilder("{");
        for (float v : strided(x)) {
            sb.append(sb.length() > 1 ? ", " : "").append(String.format(Locale.ROOT, "%.9gf", v));
        }
        return sb.append(String.format(Locale.ROOT, "}, mean %.12g, meanAbs %.12g", mean(x), meanAbs(x))).toString();
    }

    /** {@code actual}'s slice equals the pinned one within {@value #RELATIVE} relative. */
    public static void assertSlice(String what, float[] actual, int length, float[] expected, double expectedMean,
                                   double expectedMeanAbs) {
        assertEquals(length, actual.length, what + ": length");
        String got = what + " moved; now " + describe(actual);
        float[] s = strided(actual);
        for (int i = 0; i < COUNT; i++) {
            double tol = RELATIVE * (Math.abs(expected[i]) + expectedMeanAbs);
            assertEquals(expected[i], s[i], tol, got + " (value " + i + ")");
        }
        assertEquals(expectedMean, mean(actual), RELATIVE * expectedMeanAbs, got + " (mean)");
        assertEquals(expectedMeanAbs, meanAbs(actual), RELATIVE * expectedMeanAbs, got + " (mean |x|)");
    }

    /** Each {@code {y, x, r, g, b}} of {@code pixels} within one level of the RGB8 image (row-major, width × 3). */
    public static void assertPixels(String what, byte[] rgb, int width, int[][] pixels) {
        for (int[] p : pixels) {
            int o = (p[0] * width + p[1]) * 3;
            int[] got = {rgb[o] & 0xff, rgb[o + 1] & 0xff, rgb[o + 2] & 0xff};
            for (int c = 0; c < 3; c++) {
                assertTrue(Math.abs(got[c] - p[2 + c]) <= 1, String.format(Locale.ROOT,
                        "%s: pixel (y %d, x %d) is [%d, %d, %d], pinned [%d, %d, %d] ±1", what, p[0], p[1], got[0], got[1],
                        got[2], p[2], p[3], p[4]));
            }
        }
    }

    /** The mean of each channel of an RGB8 image. */
    public static double[] channelMeans(byte[] rgb) {
        double[] m = new double[3];
        for (int i = 0; i < rgb.length; i++) {
            m[i % 3] += rgb[i] & 0xff;
        }
        for (int c = 0; c < 3; c++) {
            m[c] /= rgb.length / 3.0;
        }
        return m;
    }

    public static int distinctValues(byte[] rgb) {
        boolean[] seen = new boolean[256];
        int n = 0;
        for (byte b : rgb) {
            if (!seen[b & 0xff]) {
                seen[b & 0xff] = true;
                n++;
            }
        }
        return n;
    }

    public static double maxAbsDiff(float[] a, int aFrom, float[] b, int bFrom, int length) {
        double m = 0;
        for (int i = 0; i < length; i++) {
            m = Math.max(m, Math.abs(a[aFrom + i] - b[bFrom + i]));
        }
        return m;
    }

    /** A fixed input that needs no RNG: {@code scale·sin(frequency·i + phase)}. */
    public static float[] wave(int n, double frequency, double phase, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (scale * Math.sin(frequency * i + phase));
        }
        return v;
    }
}
