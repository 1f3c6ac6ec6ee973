package dev.diffusion.core.image;

import java.util.Map;

/**
 * Inpainting masks as AUTOMATIC1111's img2img prepares them for a model without inpainting channels (its steps in
 * {@code processing.py}; white = repaint, black = keep):
 * <ol>
 *   <li>{@link #binary}: the mask made black and white — by its alpha when it is an RGBA image with transparent
 *       pixels (opaque = repaint), else by its luminance — at 128 ({@code create_binary_mask});</li>
 *   <li>{@link #pixels}: inverted if asked, blurred ({@code mask_blur}, a Gaussian of A1111's kernel size across
 *       the rows, then down the columns, each rounded to 8 bits as its two OpenCV calls are), resized to the
 *       image's size (Lanczos);</li>
 *   <li>{@link #latentRepaint}: those pixels resized to the latent's size (bicubic, Pillow's default) and rounded to
 *       0 or 1: where the sampler's denoised estimate is replaced by the init image's latent at every step, and the
 *       final latent too;</li>
 *   <li>{@link #overlay}: the init image pasted back over the decoded image through the pixels doubled
 *       ({@code mask_for_overlay}), with Pillow's premultiplied paste and alpha composite, so that what is kept is
 *       the init image's own pixels.</li>
 * </ol>
 */
public final class InpaintMask {
    public static final int DEFAULT_BLUR = 4;
    public static final int MAX_BLUR = 64;

    private InpaintMask() {}

    /** A PNG mask as black (keep) and white (repaint), one grey level per pixel spread to RGB. */
    public static Png.Image binary(byte[] png) {
        byte[][] alpha = new byte[1][];
        Png.Image image = Png.decodeWithAlpha(png, alpha);
        boolean byAlpha = alpha[0] != null && png.length > 25 && png[25] == 6; // an RGBA image (Pillow's mode) not opaque
        byte[] rgb = image.rgb();
        byte[] out = new byte[rgb.length];
        for (int p = 0; p < rgb.length / 3; p++) {
            int v = byAlpha ? alpha[0][p] & 0xff : luminance(rgb[3 * p] & 0xff, rgb[3 * p + 1] & 0xff, rgb[3 * p + 2] & 0xff);
            byte b = v > 128 ? (byte) 255 : 0;
            out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = b;
        }
        return new Png.Image(image.width(), image.height(), out, Map.of());
    }

    /** Pillow's RGB to L: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
    static int luminance(int r, int g, int b) {
        return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }

    /** Above this many blur taps over a mask's pixels the mask is blurred at the image's size instead (below). */
    static final long MAX_BLUR_WORK = 1L << 31;

    /**
     * The mask for an image of width × height: one byte per pixel, 255 = repaint. A mask far larger than the image
     * with a wide blur (over {@link #MAX_BLUR_WORK} taps, e.g. 8192² at blur 64) is first resized to the image and
     * blurred there, its blur scaled alike: seconds instead of minutes, the edge within a pixel or two of A1111's.
     */
    public static byte[] pixels(Png.Image binary, boolean invert, int blur, int width, int height) {
        long taps = 2L * (2 * (int) (2.5 * blur + 0.5) + 1);
        if (blur > 0 && (long) binary.width() * binary.height() * taps > MAX_BLUR_WORK
                && (binary.width() > width || binary.height() > height)) {
            double scale = Math.sqrt((double) width * height / ((double) binary.width() * binary.height()));
            Png.Image smaller = LanczosResize.resize(binary, width, height);
            return pixels(smaller, invert, (int) Math.round(blur * scale), width, height);
        }
        int w = binary.width();
        int h = binary.height();
        byte[] grey = new byte[w * h];
        for (int p = 0; p < grey.length; p++) {
            grey[p] = (byte) (invert ? 255 - (binary.rgb()[3 * p] & 0xff) : binary.rgb()[3 * p] & 0xff);
        }
        if (blur > 0) {
            grey = blur(grey, w, h, blur, true);
            grey = blur(grey, w, h, blur, false);
        }
        byte[] rgb = new byte[grey.length * 3];
        for (int p = 0; p < grey.length; p++) {
            rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = grey[p];
        }
        Png.Image sized = LanczosResize.resize(new Png.Image(w, h, rgb, Map.of()), width, height);
        byte[] out = new byte[width * height];
        for (int p = 0; p < out.length; p++) {
            out[p] = sized.rgb()[3 * p];
        }
        return out;
    }

    /** Per latent pixel, 1 where the sampler repaints and 0 where it keeps the init image's latent. */
    public static float[] latentRepaint(byte[] pixels, int width, int height, int latentWidth, int latentHeight) {
        byte[] rgb = new byte[pixels.length * 3];
        for (int p = 0; p < pixels.length; p++) {
            rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = pixels[p];
        }
        Png.Image small = LanczosResize.resize(new Png.Image(width, height, rgb, Map.of()), latentWidth, latentHeight, 0, 0,
                width, height, true);
        float[] repaint = new float[latentWidth * latentHeight];
        for (int p = 0; p < repaint.length; p++) {
            repaint[p] = (small.rgb()[3 * p] & 0xff) >= 128 ? 1f : 0f; // numpy's around of v / 255 (never exactly 1/2)
        }
        return repaint;
    }

    /**
     * The decoded image with the init image pasted back where the mask keeps it: through alpha 255 - min(255, 2·mask),
     * premultiplied and back as Pillow's RGBa paste and conversion, then Pillow's alpha composite.
     */
    public static byte[] overlay(byte[] decoded, byte[] init, byte[] pixels) {
        byte[] out = decoded.clone();
        for (int p = 0; p < pixels.length; p++) {
            int a = 255 - Math.min(255, 2 * (pixels[p] & 0xff));
            if (a == 0) {
                continue;
            }
            for (int c = 0; c < 3; c++) {
                int src = div255((init[3 * p + c] & 0xff) * a); // pasted premultiplied onto transparent black
                if (a != 255) {
                    src = Math.min(255, 255 * src / a); // RGBa → RGBA
                }
                out[3 * p + c] = (byte) Png.composite(src, a, decoded[3 * p + c] & 0xff);
            }
        }
        return out;
    }

    private static int div255(int v) {
        int t = v + 128;
        return ((t >> 8) + t) >> 8;
    }

    /**
     * One direction of a Gaussian blur of {@code sigma} pixels over 8-bit values: A1111's kernel of
     * 2·round(2.5σ) + 1 taps, OpenCV's weights exp(-x²/2σ²) normalised, its default border (reflected, the edge
     * pixel not repeated), rounded to 8 bits.
     */
    static byte[] blur(byte[] in, int w, int h, int sigma, boolean rows) {
        int size = 2 * (int) (2.5 * sigma + 0.5) + 1;
        int r = size / 2;
        double[] k = new double[size];
        double sum = 0;
        for (int i = 0; i < size; i++) {
            k[i] = Math.exp(-(double) (i - r) * (i - r) / (2.0 * sigma * sigma));
            sum += k[i];
        }
        for (int i = 0; i < size; i++) {
            k[i] /= sum;
        }
        byte[] out = new byte[in.length];
        int len = rows ? w : h;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double v = 0;
                for (int i = 0; i < size; i++) {
                    int at = reflect101((rows ? x : y) + i - r, len);
                    v += k[i] * (in[rows ? y * w + at : at * w + x] & 0xff);
                }
                out[y * w + x] = (byte) Math.min(255, (int) Math.floor(v + 0.5));
            }
        }
        return out;
    }

    /** OpenCV's BORDER_REFLECT_101 of an index outside [0, len): gfedcb|abcdefgh|gfedcba. */
    static int reflect101(int p, int len) {
        if (len == 1) {
            return 0;
        }
        while (p < 0 || p >= len) {
            p = p < 0 ? -p : 2 * len - p - 2;
        }
        return p;
    }
}
