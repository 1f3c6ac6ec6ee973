package dev.diffusion.core.clip;

import dev.diffusion.core.weights.Weights;

/**
 * A plain-Java CLIP text transformer in double precision, written from transformers'
 * {@code modeling_clip.py} description with straightforward loops, to check the TF graph against.
 */
final class ClipReference {
    private final Weights w;
    private final ClipTextConfig c;

    ClipReference(Weights weights, ClipTextConfig config) {
        this.w = weights;
        this.c = config;
    }

    /** Hidden states after each encoder layer (index 0 = after layer 1), before the final norm: [layers][L][D]. */
    double[][][] layerOutputs(int[] ids) {
        int len = ids.length;
        int d = c.hiddenSize();
        float[] tok = w.floats("text_model.embeddings.token_embedding.weight");
        float[] pos = w.floats("text_model.embeddings.position_embedding.weight");
        double[][] h = new double[len][d];
        for (int i = 0; i < len; i++) {
            for (int j = 0; j < d; j++) {
                h[i][j] = tok[ids[i] * d + j] + pos[i * d + j];
            }
        }
        double[][][] out = new double[c.numHiddenLayers()][][];
        for (int layer = 0; layer < c.numHiddenLayers(); layer++) {
            String p = "text_model.encoder.layers." + layer + ".";
            double[][] a = attention(layerNorm(h, p + "layer_norm1"), p + "self_attn.");
            h = add(h, a);
            double[][] m = linear(layerNorm(h, p + "layer_norm2"), p + "mlp.fc1");
            for (double[] row : m) {
                for (int j = 0; j < row.length; j++) {
                    double x = row[j];
                    row[j] = "quick_gelu".equals(c.hiddenAct())
                            ? x / (1 + Math.exp(-1.702 * x))
                            : 0.5 * x * (1 + erf(x / Math.sqrt(2)));
                }
            }
            h = add(h, linear(m, p + "mlp.fc2"));
            out[layer] = h;
        }
        return out;
    }

    /** The model's output for a clip skip: the final norm of the hidden state (skip - 1) layers from the end. */
    double[][] encode(int[] ids, int clipSkip) {
        double[][][] states = layerOutputs(ids);
        return layerNorm(states[states.length - clipSkip], "text_model.final_layer_norm");
    }

    private double[][] attention(double[][] x, String p) {
        int len = x.length;
        int heads = c.numAttentionHeads();
        int hd = c.headDim();
        double[][] q = linear(x, p + "q_proj");
        double[][] k = linear(x, p + "k_proj");
        double[][] v = linear(x, p + "v_proj");
        double[][] o = new double[len][c.hiddenSize()];
        for (int head = 0; head < heads; head++) {
            int off = head * hd;
            for (int i = 0; i < len; i++) {
                // causal: query i attends to keys 0..i only
                double[] s = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int e = 0; e < hd; e++) {
                        dot += q[i][off + e] * k[j][off + e];
                    }
                    s[j] = dot / Math.sqrt(hd);
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j <= i; j++) {
                    for (int e = 0; e < hd; e++) {
                        o[i][off + e] += s[j] / sum * v[j][off + e];
                    }
                }
            }
        }
        return linear(o, p + "out_proj");
    }

    private double[][] linear(double[][] x, String p) {
        float[] wt = w.floats(p + ".weight");
        float[] b = w.floats(p + ".bias");
        int out = b.length;
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int r = 0; r < x.length; r++) {
            for (int o = 0; o < out; o++) {
                double acc = b[o];
                for (int i = 0; i < in; i++) {
                    acc += wt[o * in + i] * x[r][i];
                }
                y[r][o] = acc;
            }
        }
        return y;
    }

    private double[][] layerNorm(double[][] x, String p) {
        float[] g = w.floats(p + ".weight");
        float[] b = w.floats(p + ".bias");
        double[][] y = new double[x.length][];
        for (int r = 0; r < x.length; r++) {
            int n = x[r].length;
            double mean = 0;
            for (double v : x[r]) {
                mean += v;
            }
            mean /= n;
            double var = 0;
            for (double v : x[r]) {
                var += (v - mean) * (v - mean);
            }
            var /= n;
            y[r] = new double[n];
            for (int j = 0; j < n; j++) {
                y[r][j] = (x[r][j] - mean) / Math.sqrt(var + c.layerNormEps()) * g[j] + b[j];
            }
        }
        return y;
    }

    private static double[][] add(double[][] a, double[][] b) {
        double[][] y = new double[a.length][a[0].length];
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[0].length; j++) {
                y[i][j] = a[i][j] + b[i][j];
            }
        }
        return y;
    }

    /** erf to ~1e-15: Maclaurin series below 2.5, the erfc continued fraction above. */
    static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 2.5) {
            // Maclaurin series: erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
            double term = ax;
            double sum = ax;
            for (int n = 1; n < 80; n++) {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail
            double t = 0;
            for (int n = 60; n >= 1; n--) {
                t = n / 2.0 / (ax + t);
            }
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + t);
        }
        return x < 0 ? -r : r;
    }
}
