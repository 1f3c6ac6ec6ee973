package dev.diffusion.core.vae;

import java.util.Random;

/**
 * A cheap preview of a latent without running the decoder: each latent pixel (in the U-Net's scale) becomes one RGB
 * pixel through a linear map {@code rgb = z · W + b}. The map is fitted to the model's own decoder (least squares over
 * the decoded image's block means of a seeded random latent), so it holds for any VAE — the demo model's latents mean
 * something else than SD 1.x's, whose fixed "approximate cheap" factors A1111 uses.
 *
 * @param rows {@code channels + 1} rows of 3 (R, G, B, in [-1, 1]): one per latent channel, then the bias
 */
public record LatentRgbMap(double[][] rows) {
    /** The decoder as the fit sees it: latents NHWC [1, h, w, C] in the U-Net's scale → image NHWC [1, h·f, w·f, 3] in [-1, 1]. */
    @FunctionalInterface
    public interface Decoder {
        float[] decode(float[] latentsNhwc, int h, int w);
    }

    public LatentRgbMap {
        for (double[] r : rows) {
            if (r.length != 3) {
                throw new IllegalArgumentException("each row of the map has 3 values (R, G, B), got " + r.length);
            }
        }
    }

    public int channels() {
        return rows.length - 1;
    }

    /** The map of {@code vae}'s decoder, fitted on one seeded 16×16 latent (256 samples). */
    public static LatentRgbMap fit(AutoencoderKL vae) {
        return fit((z, h, w) -> vae.decode(z, 1, h, w), vae.config().latentChannels(), vae.config().downscale(), 16, 0);
    }

    /**
     * Least squares over the pixels of one random latent of {@code side}×{@code side}: the normal equations
     * (XᵀX) β = Xᵀy per colour, X = [z, 1] per latent pixel, y = the mean of its f×f block of the decoded image.
     */
    public static LatentRgbMap fit(Decoder decoder, int channels, int downscale, int side, long seed) {
        Random random = new Random(seed);
        float[] z = new float[side * side * channels];
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) random.nextGaussian();
        }
        float[] image = decoder.decode(z, side, side);
        int k = channels + 1;
        double[][] xtx = new double[k][k];
        double[][] xty = new double[k][3];
        int width = side * downscale;
        double[] x = new double[k];
        for (int py = 0; py < side; py++) {
            for (int px = 0; px < side; px++) {
                int p = py * side + px;
                for (int c = 0; c < channels; c++) {
                    x[c] = z[p * channels + c];
                }
                x[channels] = 1;
                double[] mean = new double[3];
                for (int dy = 0; dy < downscale; dy++) {
                    for (int dx = 0; dx < downscale; dx++) {
                        int o = ((py * downscale + dy) * width + px * downscale + dx) * 3;
                        for (int col = 0; col < 3; col++) {
                            mean[col] += image[o + col];
                        }
                    }
                }
                for (int a = 0; a < k; a++) {
                    for (int b = 0; b < k; b++) {
                        xtx[a][b] += x[a] * x[b];
                    }
                    for (int col = 0; col < 3; col++) {
                        xty[a][col] += x[a] * mean[col] / (downscale * downscale);
                    }
                }
            }
        }
        return new LatentRgbMap(solve(xtx, xty));
    }

    /** Gaussian elimination with partial pivoting: A β = B for the 3 columns of B. */
    private static double[][] solve(double[][] a, double[][] b) {
        int n = a.length;
        for (int col = 0; col < n; col++) {
            int pivot = col;
            for (int r = col + 1; r < n; r++) {
                if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) {
                    pivot = r;
                }
            }
            double[] t = a[col];
            a[col] = a[pivot];
            a[pivot] = t;
            t = b[col];
            b[col] = b[pivot];
            b[pivot] = t;
            for (int r = col + 1; r < n; r++) {
                double f = a[r][col] / a[col][col];
                for (int c = col; c < n; c++) {
                    a[r][c] -= f * a[col][c];
                }
                for (int c = 0; c < 3; c++) {
                    b[r][c] -= f * b[col][c];
                }
            }
        }
        double[][] out = new double[n][3];
        for (int r = n - 1; r >= 0; r--) {
            for (int c = 0; c < 3; c++) {
                double s = b[r][c];
                for (int j = r + 1; j < n; j++) {
                    s -= a[r][j] * out[j][c];
                }
                out[r][c] = s / a[r][r];
            }
        }
        return out;
    }

    /** RGB8 [h, w, 3] of a latent [1, h, w, C] (NHWC, the U-Net's scale), one pixel per latent pixel. */
    public byte[] rgb8(float[] latentNhwc, int h, int w) {
        int channels = channels();
        byte[] rgb = new byte[h * w * 3];
        for (int p = 0; p < h * w; p++) {
            for (int col = 0; col < 3; col++) {
                double v = rows[channels][col];
                for (int c = 0; c < channels; c++) {
                    v += latentNhwc[p * channels + c] * rows[c][col];
                }
                double u = Math.max(0, Math.min(1, (v + 1) / 2));
                rgb[p * 3 + col] = (byte) Math.round(u * 255);
            }
        }
        return rgb;
    }

    /** Row-major, as the VAE service's Info carries it. */
    public float[] flat() {
        float[] out = new float[rows.length * 3];
        for (int r = 0; r < rows.length; r++) {
            for (int c = 0; c < 3; c++) {
                out[r * 3 + c] = (float) rows[r][c];
            }
        }
        return out;
    }

    public static LatentRgbMap ofFlat(float[] flat) {
        if (flat.length < 6 || flat.length % 3 != 0) {
            throw new IllegalArgumentException("a latent RGB map has (channels + 1) x 3 values, got " + flat.length);
        }
        double[][] rows = new double[flat.length / 3][3];
        for (int i = 0; i < flat.length; i++) {
            rows[i / 3][i % 3] = flat[i];
        }
        return new LatentRgbMap(rows);
    }
}
