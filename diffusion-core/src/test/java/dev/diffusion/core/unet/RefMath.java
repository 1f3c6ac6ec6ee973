package dev.diffusion.core.unet;

/**
 * Plain-Java loops for the U-Net's layers on NHWC / [B, L, D] arrays, written from the PyTorch definitions,
 * to pin the TensorFlow graph's numbers. Slow and obvious on purpose; accumulates in double.
 */
public final class RefMath {
    private RefMath() {}

    /** torch.nn.GroupNorm on x [B, H, W, C]: groups of C/groups contiguous channels, biased variance. */
    static float[] groupNorm(float[] x, int b, int h, int w, int c, int groups, double eps, float[] gamma, float[] beta) {
        float[] y = new float[x.length];
        int per = c / groups;
        int hw = h * w;
        for (int n = 0; n < b; n++) {
            for (int g = 0; g < groups; g++) {
                double sum = 0;
                for (int p = 0; p < hw; p++) {
                    for (int k = 0; k < per; k++) {
                        sum += x[(n * hw + p) * c + g * per + k];
                    }
                }
                double mean = sum / (hw * per);
                double sq = 0;
                for (int p = 0; p < hw; p++) {
                    for (int k = 0; k < per; k++) {
                        double d = x[(n * hw + p) * c + g * per + k] - mean;
                        sq += d * d;
                    }
                }
                double inv = 1 / Math.sqrt(sq / (hw * per) + eps);
                for (int p = 0; p < hw; p++) {
                    for (int k = 0; k < per; k++) {
                        int ch = g * per + k;
                        int i = (n * hw + p) * c + ch;
                        y[i] = (float) ((x[i] - mean) * inv * gamma[ch] + beta[ch]);
                    }
                }
            }
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

    /** torch.nn.Conv2d (weights OIHW, symmetric zero padding) on x [B, H, W, cin] → [B, H', W', cout]. */
    static float[] conv2d(float[] x, int b, int h, int w, int cin, float[] weight, float[] bias, int cout, int k,
                          int stride, int pad) {
        int ho = (h + 2 * pad - k) / stride + 1;
        int wo = (w + 2 * pad - k) / stride + 1;
        float[] y = new float[b * ho * wo * cout];
        for (int n = 0; n < b; n++) {
            for (int oy = 0; oy < ho; oy++) {
                for (int ox = 0; ox < wo; ox++) {
                    for (int o = 0; o < cout; o++) {
                        double s = bias == null ? 0 : bias[o];
                        for (int ky = 0; ky < k; ky++) {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= h) {
                                continue;
                            }
                            for (int kx = 0; kx < k; kx++) {
                                int ix = ox * stride - pad + kx;
                                if (ix < 0 || ix >= w) {
                                    continue;
                                }
                                for (int i = 0; i < cin; i++) {
                                    s += x[((n * h + iy) * w + ix) * cin + i] * weight[((o * cin + i) * k + ky) * k + kx];
                                }
                            }
                        }
                        y[((n * ho + oy) * wo + ox) * cout + o] = (float) s;
                    }
                }
            }
        }
        return y;
    }

    /** torch.nn.Linear on rows × in (weight [out, in]) → rows × out. */
    static float[] linear(float[] x, int rows, int in, float[] weight, float[] bias, int out) {
        float[] y = new float[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = bias == null ? 0 : bias[o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * weight[o * in + i];
                }
                y[r * out + o] = (float) s;
            }
        }
        return y;
    }

    static float[] layerNorm(float[] x, int rows, int dim, double eps, float[] gamma, float[] beta) {
        float[] y = new float[x.length];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int i = 0; i < dim; i++) {
                mean += x[r * dim + i];
            }
            mean /= dim;
            double var = 0;
            for (int i = 0; i < dim; i++) {
                double d = x[r * dim + i] - mean;
                var += d * d;
            }
            double inv = 1 / Math.sqrt(var / dim + eps);
            for (int i = 0; i < dim; i++) {
                y[r * dim + i] = (float) ((x[r * dim + i] - mean) * inv * gamma[i] + beta[i]);
            }
        }
        return y;
    }

    /** Multi-head softmax(q·kᵀ/√d)·v; q [B, L, heads·d], k and v [B, Lk, heads·d]. */
    public static float[] attention(float[] q, float[] k, float[] v, int b, int l, int lk, int heads, int d) {
        int inner = heads * d;
        float[] out = new float[b * l * inner];
        double scale = 1 / Math.sqrt(d);
        double[] scores = new double[lk];
        for (int n = 0; n < b; n++) {
            for (int hd = 0; hd < heads; hd++) {
                for (int i = 0; i < l; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < lk; j++) {
                        double s = 0;
                        for (int e = 0; e < d; e++) {
                            s += q[(n * l + i) * inner + hd * d + e] * k[(n * lk + j) * inner + hd * d + e];
                        }
                        scores[j] = s * scale;
                        max = Math.max(max, scores[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < lk; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        z += scores[j];
                    }
                    for (int e = 0; e < d; e++) {
                        double s = 0;
                        for (int j = 0; j < lk; j++) {
                            s += scores[j] / z * v[(n * lk + j) * inner + hd * d + e];
                        }
                        out[(n * l + i) * inner + hd * d + e] = (float) s;
                    }
                }
            }
        }
        return out;
    }

    /** Exact GELU x·Φ(x) with erf from Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7). */
    static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    static double erf(double x) {
        double sign = Math.signum(x);
        double a = Math.abs(x);
        double t = 1 / (1 + 0.3275911 * a);
        double poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
        return sign * (1 - poly * Math.exp(-a * a));
    }

    static float[] add(float[] a, float[] b) {
        float[] y = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            y[i] = a[i] + b[i];
        }
        return y;
    }

    /** max |a - b| / max |b|: the error relative to the reference's scale. */
    static double relativeError(float[] actual, float[] expected) {
        if (actual.length != expected.length) {
            throw new IllegalArgumentException("lengths differ: " + actual.length + " vs " + expected.length);
        }
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < actual.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        return maxDiff / maxRef;
    }
}
