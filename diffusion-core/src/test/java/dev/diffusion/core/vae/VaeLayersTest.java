package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion.core.nn.NnTestSupport;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.MapWeights;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The VAE's ResNet block and mid-block attention against a plain-Java reference written from the
 * PyTorch definitions (loops over NHWC arrays, double accumulation). (The encoder's asymmetric
 * downsample padding, hand-computed: ConvAndResampleTest, on the one Downsample2D.)
 */
class VaeLayersTest {
    private static final double EPS = 1e-6;

    @Test
    void resnetBlockWithShortcutMatchesReference() {
        int b = 2, h = 5, w = 6, cin = 8, cout = 16, groups = 4;
        Random rnd = new Random(7);
        MapWeights mw = TestWeights.random(7, 0.2, nn -> new ResnetBlock2D(nn, "r", cin, cout, groups, EPS));
        float[] x = VaeTestSupport.gauss(rnd, b * h * w * cin, 1.5, 0.3);
        float[] got = NnTestSupport.run(mw, Precision.FP32, new long[] {b, h, w, cin}, x,
                nn -> new ResnetBlock2D(nn, "r", cin, cout, groups, EPS)::apply);
        float[] want = Ref.resnet(mw, "r", x, b, h, w, cin, cout, groups);
        assertClose(want, got, 1e-4);
    }

    @Test
    void resnetBlockWithoutShortcutMatchesReference() {
        int b = 1, h = 4, w = 3, c = 8, groups = 4;
        Random rnd = new Random(8);
        MapWeights mw = TestWeights.random(8, 0.2, nn -> new ResnetBlock2D(nn, "r", c, c, groups, EPS));
        float[] x = VaeTestSupport.gauss(rnd, b * h * w * c, 1.0, 0);
        float[] got = NnTestSupport.run(mw, Precision.FP32, new long[] {b, h, w, c}, x,
                nn -> new ResnetBlock2D(nn, "r", c, c, groups, EPS)::apply);
        assertClose(Ref.resnet(mw, "r", x, b, h, w, c, c, groups), got, 1e-4);
    }

    @Test
    void midBlockAttentionMatchesReference() {
        int b = 2, h = 4, w = 5, c = 16, groups = 4;
        Random rnd = new Random(9);
        MapWeights mw = TestWeights.random(9, 0.2, nn -> new MidBlockAttention(nn, "a", c, groups, EPS));
        float[] x = VaeTestSupport.gauss(rnd, b * h * w * c, 1.0, 0.2);
        float[] got = NnTestSupport.run(mw, Precision.FP32, new long[] {b, h, w, c}, x,
                nn -> new MidBlockAttention(nn, "a", c, groups, EPS)::apply);
        assertClose(Ref.attention(mw, "a", x, b, h, w, c, groups), got, 1e-4);
    }

    static void assertClose(float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length, "length");
        double max = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            double d = Math.abs(want[i] - got[i]);
            if (d > max || Double.isNaN(d)) {
                max = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
                at = i;
            }
        }
        if (!(max <= tol)) {
            throw new AssertionError("max abs diff " + max + " at " + at + " (want " + want[at] + ", got " + got[at] + ") > " + tol);
        }
    }

    /** Plain-Java reference of the PyTorch layers on NHWC arrays. */
    static final class Ref {
        static float[] groupNorm(float[] x, int b, int h, int w, int c, int groups, float[] gamma, float[] beta) {
            float[] y = new float[x.length];
            int cg = c / groups;
            for (int n = 0; n < b; n++) {
                for (int g = 0; g < groups; g++) {
                    double sum = 0;
                    int count = h * w * cg;
                    for (int p = 0; p < h * w; p++)
                        for (int k = g * cg; k < (g + 1) * cg; k++)
                            sum += x[(n * h * w + p) * c + k];
                    double mean = sum / count;
                    double sq = 0;
                    for (int p = 0; p < h * w; p++)
                        for (int k = g * cg; k < (g + 1) * cg; k++) {
                            double d = x[(n * h * w + p) * c + k] - mean;
                            sq += d * d;
                        }
                    double inv = 1.0 / Math.sqrt(sq / count + EPS);
                    for (int p = 0; p < h * w; p++)
                        for (int k = g * cg; k < (g + 1) * cg; k++) {
                            int i = (n * h * w + p) * c + k;
                            y[i] = (float) ((x[i] - mean) * inv * gamma[k] + beta[k]);
                        }
                }
            }
            return y;
        }

        /** Stride-1 convolution with symmetric zero padding (k-1)/2; weight OIHW. */
        static float[] conv(float[] x, int b, int h, int w, int cin, float[] wt, float[] bias, int cout, int k) {
            int pad = (k - 1) / 2;
            float[] y = new float[b * h * w * cout];
            for (int n = 0; n < b; n++)
                for (int oy = 0; oy < h; oy++)
                    for (int ox = 0; ox < w; ox++)
                        for (int o = 0; o < cout; o++) {
                            double s = bias[o];
                            for (int ky = 0; ky < k; ky++) {
                                int iy = oy + ky - pad;
                                if (iy < 0 || iy >= h) continue;
                                for (int kx = 0; kx < k; kx++) {
                                    int ix = ox + kx - pad;
                                    if (ix < 0 || ix >= w) continue;
                                    for (int i = 0; i < cin; i++)
                                        s += x[((n * h + iy) * w + ix) * cin + i] * (double) wt[((o * cin + i) * k + ky) * k + kx];
                                }
                            }
                            y[((n * h + oy) * w + ox) * cout + o] = (float) s;
                        }
            return y;
        }

        static float[] silu(float[] x) {
            float[] y = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                y[i] = (float) (x[i] / (1 + Math.exp(-x[i])));
            }
            return y;
        }

        static float[] resnet(MapWeights mw, String p, float[] x, int b, int h, int w, int cin, int cout, int groups) {
            float[] t = silu(groupNorm(x, b, h, w, cin, groups, mw.floats(p + ".norm1.weight"), mw.floats(p + ".norm1.bias")));
            t = conv(t, b, h, w, cin, mw.floats(p + ".conv1.weight"), mw.floats(p + ".conv1.bias"), cout, 3);
            t = silu(groupNorm(t, b, h, w, cout, groups, mw.floats(p + ".norm2.weight"), mw.floats(p + ".norm2.bias")));
            t = conv(t, b, h, w, cout, mw.floats(p + ".conv2.weight"), mw.floats(p + ".conv2.bias"), cout, 3);
            float[] skip = cin == cout ? x
                    : conv(x, b, h, w, cin, mw.floats(p + ".conv_shortcut.weight"), mw.floats(p + ".conv_shortcut.bias"), cout, 1);
            float[] y = new float[t.length];
            for (int i = 0; i < y.length; i++) {
                y[i] = skip[i] + t[i];
            }
            return y;
        }

        /** rows [L, C] · Wᵀ + b for W [C, C]. */
        static double[][] linear(double[][] rows, float[] wt, float[] bias, int c) {
            double[][] y = new double[rows.length][c];
            for (int l = 0; l < rows.length; l++)
                for (int o = 0; o < c; o++) {
                    double s = bias[o];
                    for (int i = 0; i < c; i++) s += rows[l][i] * wt[o * c + i];
                    y[l][o] = s;
                }
            return y;
        }

        static float[] attention(MapWeights mw, String p, float[] x, int b, int h, int w, int c, int groups) {
            float[] normed = groupNorm(x, b, h, w, c, groups, mw.floats(p + ".group_norm.weight"), mw.floats(p + ".group_norm.bias"));
            int len = h * w;
            float[] y = new float[x.length];
            for (int n = 0; n < b; n++) {
                double[][] rows = new double[len][c];
                for (int l = 0; l < len; l++)
                    for (int k = 0; k < c; k++) rows[l][k] = normed[(n * len + l) * c + k];
                double[][] q = linear(rows, mw.floats(p + ".to_q.weight"), mw.floats(p + ".to_q.bias"), c);
                double[][] kk = linear(rows, mw.floats(p + ".to_k.weight"), mw.floats(p + ".to_k.bias"), c);
                double[][] v = linear(rows, mw.floats(p + ".to_v.weight"), mw.floats(p + ".to_v.bias"), c);
                double[][] o = new double[len][c];
                double scale = 1.0 / Math.sqrt(c);
                for (int i = 0; i < len; i++) {
                    double[] s = new double[len];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < len; j++) {
                        double d = 0;
                        for (int k = 0; k < c; k++) d += q[i][k] * kk[j][k];
                        s[j] = d * scale;
                        max = Math.max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < len; j++) {
                        s[j] = Math.exp(s[j] - max);
                        z += s[j];
                    }
                    for (int j = 0; j < len; j++)
                        for (int k = 0; k < c; k++) o[i][k] += s[j] / z * v[j][k];
                }
                double[][] out = linear(o, mw.floats(p + ".to_out.0.weight"), mw.floats(p + ".to_out.0.bias"), c);
                for (int l = 0; l < len; l++)
                    for (int k = 0; k < c; k++) {
                        int i = (n * len + l) * c + k;
                        y[i] = (float) (out[l][k] + x[i]);
                    }
            }
            return y;
        }
    }
}
