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
        if (image.width() == width && image.height() == height) {
            return image;
        }
        return resize(image, width, height, 0, 0, image.width(), image.height());
    }

    /**
     * The region (x0, y0)–(x1, y1) of {@code image} (Pillow's {@code box}; a side of zero length is the filter centred
     * on that edge, which A1111's "Resize and fill" uses to stretch the border rows) at {@code width} × {@code height}.
     */
    static Png.Image resize(Png.Image image, int width, int height, int x0, int y0, int x1, int y1) {
        return resize(image, width, height, x0, y0, x1, y1, false);
    }

    /** As above, with Pillow's bicubic filter (a = -0.5, its default for {@code resize}) where {@code bicubic}. */
    static Png.Image resize(Png.Image image, int width, int height, int x0, int y0, int x1, int y1, boolean bicubic) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("size must be at least 1x1, got " + width + "x" + height);
        }
        byte[] rgb = image.rgb();
        int w = image.width();
        int h = image.height();
        if (width != w || x0 != 0 || x1 != width) { // as Pillow: a pass only where it changes something
            // rows: line l, pixel p at l * w + p → at l * width + p
            rgb = pass(rgb, h, w, 1, new Weights(w, x0, x1, width, bicubic), width, 1);
            w = width;
        }
        if (height != h || y0 != 0 || y1 != height) {
            // columns: line l, pixel p at p * w + l, before and after
            rgb = pass(rgb, w, 1, w, new Weights(h, y0, y1, height, bicubic), 1, w);
        }
        return new Png.Image(width, height, rgb, Map.of());
    }

    /**
     * A1111's img2img "Crop and resize" ({@code resize_mode} 1): the image scaled, keeping its aspect ratio, until it
     * covers width × height, and centred; what sticks out is cut off.
     */
    public static Png.Image cropAndResize(Png.Image image, int width, int height) {
        boolean targetWider = (double) width / height > (double) image.width() / image.height();
        int sw = targetWider ? width : (int) ((long) image.width() * height / image.height());
        int sh = targetWider ? (int) ((long) image.height() * width / image.width()) : height;
        checkScaled(image, sw, sh);
        byte[] canvas = new byte[width * height * 3];
        paste(canvas, width, height, resize(image, sw, sh), width / 2 - sw / 2, height / 2 - sh / 2);
        return new Png.Image(width, height, canvas, Map.of());
    }

    /**
     * A1111's img2img "Resize and fill" ({@code resize_mode} 2): the image scaled, keeping its aspect ratio, to fit in
     * width × height and centred; the empty bands on two sides are its border rows (or columns) stretched across
     * (with Pillow's default filter, bicubic, as A1111 calls it there).
     */
    public static Png.Image resizeAndFill(Png.Image image, int width, int height) {
        double ratio = (double) width / height;
        double sourceRatio = (double) image.width() / image.height();
        int sw = ratio < sourceRatio ? width : (int) ((long) image.width() * height / image.height());
        int sh = ratio >= sourceRatio ? height : (int) ((long) image.height() * width / image.width());
        checkScaled(image, sw, sh);
        Png.Image resized = resize(image, sw, sh);
        byte[] canvas = new byte[width * height * 3];
        paste(canvas, width, height, resized, width / 2 - sw / 2, height / 2 - sh / 2);
        if (ratio < sourceRatio) {
            int band = height / 2 - sh / 2;
            if (band > 0) {
                paste(canvas, width, height, resize(resized, width, band, 0, 0, width, 0, true), 0, 0);
                paste(canvas, width, height, resize(resized, width, band, 0, sh, width, sh, true), 0, band + sh);
            }
        } else if (ratio > sourceRatio) {
            int band = width / 2 - sw / 2;
            if (band > 0) {
                paste(canvas, width, height, resize(resized, band, height, 0, 0, 0, height, true), 0, 0);
                paste(canvas, width, height, resize(resized, band, height, sw, 0, sw, height, true), band + sw, 0);
            }
        }
        return new Png.Image(width, height, canvas, Map.of());
    }

    /**
     * Refuses an aspect ratio so far from the target's that the scaled copy would be empty or larger than
     * {@link Png#MAX_DECODED_PIXELS} (a 20000×1 image cropped to 2048² would be 41 million pixels wide).
     */
    private static void checkScaled(Png.Image image, long sw, long sh) {
        if (sw < 1 || sh < 1 || sw * sh > Png.MAX_DECODED_PIXELS) {
            throw new IllegalArgumentException("the image is " + image.width() + "x" + image.height() + ": scaled to keep its"
                    + " aspect ratio it would be " + sw + "x" + sh + " pixels (at most " + Png.MAX_DECODED_PIXELS
                    + "); crop it closer to the target's shape first");
        }
    }

    /** {@code image} onto {@code canvas} with its top left corner at (x, y), clipped to the canvas. */
    private static void paste(byte[] canvas, int cw, int ch, Png.Image image, int x, int y) {
        for (int row = Math.max(0, y); row < Math.min(ch, y + image.height()); row++) {
            int from = Math.max(0, x);
            int to = Math.min(cw, x + image.width());
            if (to > from) {
                System.arraycopy(image.rgb(), ((row - y) * image.width() + from - x) * 3, canvas, (row * cw + from) * 3,
                        (to - from) * 3);
            }
        }
    }

    /**
     * One axis of the filter over {@code lines} lines: pixel p of line l is at {@code l * lineStep + p * step} in
     * {@code in} and at {@code l * outLineStep + p * outStep} in the result (a row pass: lineStep = width,
     * step = 1; a column pass: lineStep = 1, step = width).
     */
    private static byte[] pass(byte[] in, int lines, int lineStep, int step, Weights k, int outLineStep, int outStep) {
        int outCount = k.first.length;
        byte[] out = new byte[in.length / k.in * outCount];
        for (int l = 0; l < lines; l++) {
            for (int o = 0; o < outCount; o++) {
                for (int c = 0; c < 3; c++) {
                    long sum = 1L << (BITS - 1);
                    for (int i = 0; i < k.count[o]; i++) {
                        sum += (long) (in[(l * lineStep + (k.first[o] + i) * step) * 3 + c] & 0xff) * k.k[o][i];
                    }
                    out[(l * outLineStep + o * outStep) * 3 + c] = clip(sum);
                }
            }
        }
        return out;
    }

    private static byte clip(long sum) {
        long v = sum >> BITS; // floor, as an arithmetic shift
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    static double lanczos(double x) {
        return -SUPPORT <= x && x < SUPPORT ? sinc(x) * sinc(x / SUPPORT) : 0;
    }

    static double bicubic(double x) {
        double a = -0.5;
        double t = Math.abs(x);
        if (t < 1) {
            return ((a + 2) * t - (a + 3)) * t * t + 1;
        }
        return t < 2 ? (((t - 5) * t + 8) * t - 4) * a : 0;
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
        final int in;
        final int[] first;
        final int[] count;
        final int[][] k;

        /** {@code out} pixels from the input span [x0, x1) of an axis {@code in} pixels long. */
        Weights(int in, int x0, int x1, int out, boolean bicubic) {
            this.in = in;
            double scale = (double) (x1 - x0) / out;
            double filterScale = Math.max(scale, 1.0);
            double support = (bicubic ? 2 : SUPPORT) * filterScale;
            first = new int[out];
            count = new int[out];
            k = new int[out][];
            for (int o = 0; o < out; o++) {
                double center = x0 + (o + 0.5) * scale;
                int lo = Math.max(0, (int) (center - support + 0.5));
                int hi = Math.min(in, (int) (center + support + 0.5));
                int n = Math.max(0, hi - lo);
                double[] w = new double[n];
                double total = 0;
                double inverse = 1.0 / filterScale; // multiplied, not divided: the same bits as Pillow
                for (int i = 0; i < n; i++) {
                    double t = (i + lo - center + 0.5) * inverse;
                    w[i] = bicubic ? bicubic(t) : lanczos(t);
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
