package dev.diffusion.core.image;

import java.util.Map;

/**
 * Resizes an RGB image as AUTOMATIC1111's img2img "Just resize" does (Pillow's {@code Image.resize} with its Lanczos
 * filter, a = 3): a separable filter, rows first and then columns, whose window widens by the scale factor when the
 * image shrinks (so that shrinking averages instead of skipping pixels). The weights of each output pixel are
 * normalised to sum to 1 and rounded to fixed point with 22 fractional bits, and the first pass is rounded to 8 bits
 * before the second, as Pillow's 8-bit path does, so the pixels equal Pillow's ({@code LanczosResizeTest}).
 */
public final class LanczosResize {
    private static final int BITS = 22; // 32 bits - 8 for the pixel - 2 for the sum's headroom
    private static final double SUPPORT = 3;

    private LanczosResize() {}

    /** {@code image} at {@code width} × {@code height}; the image itself when it already has that size. */
    public static Png.Image resize(Png.Image image, int width, int height) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("size must be at least 1x1, got " + width + "x" + height);
        }
        if (image.width() == width && image.height() == height) {
            return image;
        }
        byte[] rgb = image.rgb();
        int w = image.width();
        int h = image.height();
        if (width != w) {
            Weights x = new Weights(w, width);
            byte[] out = new byte[width * h * 3];
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < width; xx++) {
                    for (int c = 0; c < 3; c++) {
                        long sum = 1L << (BITS - 1);
                        for (int i = 0; i < x.count[xx]; i++) {
                            sum += (long) (rgb[(y * w + x.first[xx] + i) * 3 + c] & 0xff) * x.k[xx][i];
                        }
                        out[(y * width + xx) * 3 + c] = clip(sum);
                    }
                }
            }
            rgb = out;
            w = width;
        }
        if (height != h) {
            Weights y = new Weights(h, height);
            byte[] out = new byte[w * height * 3];
            for (int yy = 0; yy < height; yy++) {
                for (int xx = 0; xx < w; xx++) {
                    for (int c = 0; c < 3; c++) {
                        long sum = 1L << (BITS - 1);
                        for (int i = 0; i < y.count[yy]; i++) {
                            sum += (long) (rgb[((y.first[yy] + i) * w + xx) * 3 + c] & 0xff) * y.k[yy][i];
                        }
                        out[(yy * w + xx) * 3 + c] = clip(sum);
                    }
                }
            }
            rgb = out;
        }
        return new Png.Image(width, height, rgb, Map.of());
    }

    private static byte clip(long sum) {
        long v = sum >> BITS; // floor, as an arithmetic shift
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    static double lanczos(double x) {
        return -SUPPORT <= x && x < SUPPORT ? sinc(x) * sinc(x / SUPPORT) : 0;
    }

    private static double sinc(double x) {
        if (x == 0) {
            return 1;
        }
        double px = x * Math.PI;
        return Math.sin(px) / px;
    }

    /** For each output pixel along one axis: the first input pixel it reads, how many, and their fixed-point weights. */
    private static final class Weights {
        final int[] first;
        final int[] count;
        final int[][] k;

        Weights(int in, int out) {
            double scale = (double) in / out;
            double filterScale = Math.max(scale, 1.0);
            double support = SUPPORT * filterScale;
            first = new int[out];
            count = new int[out];
            k = new int[out][];
            for (int o = 0; o < out; o++) {
                double center = (o + 0.5) * scale;
                int lo = Math.max(0, (int) (center - support + 0.5));
                int hi = Math.min(in, (int) (center + support + 0.5));
                int n = Math.max(0, hi - lo);
                double[] w = new double[n];
                double total = 0;
                double inverse = 1.0 / filterScale; // multiplied, not divided: the same bits as Pillow
                for (int i = 0; i < n; i++) {
                    w[i] = lanczos((i + lo - center + 0.5) * inverse);
                    total += w[i];
                }
                k[o] = new int[n];
                for (int i = 0; i < n; i++) {
                    double v = total != 0 ? w[i] / total : w[i];
                    // to fixed point, rounding half away from zero
                    k[o][i] = (int) (v < 0 ? -0.5 + v * (1 << BITS) : 0.5 + v * (1 << BITS));
                }
                first[o] = lo;
                count[o] = n;
            }
        }
    }
}
