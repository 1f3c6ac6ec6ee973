package dev.diffusion.core.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A1111's inpainting steps against Pillow 9.4 running them ({@code pillow/make_reference.py}), pixel for pixel; the
 * blur (OpenCV's in A1111, not available here) against hand-computed values.
 */
class InpaintMaskTest {
    static byte[] resource(String name) throws IOException {
        try (InputStream in = InpaintMaskTest.class.getResourceAsStream("/pillow/" + name)) {
            return in.readAllBytes();
        }
    }

    /** The reference pixel mask (64x48, one grey level per pixel). */
    static byte[] maskPixels() throws IOException {
        Png.Image pixels = Png.decode(resource("mask-pixels.png"));
        byte[] grey = new byte[pixels.width() * pixels.height()];
        for (int p = 0; p < grey.length; p++) {
            grey[p] = pixels.rgb()[3 * p];
        }
        return grey;
    }

    @Test
    void binaryMasksAreA1111s() throws IOException {
        // an RGB mask: Pillow's luminance above 128
        assertArrayEquals(Png.decode(resource("mask-rgb-binary.png")).rgb(), InpaintMask.binary(resource("mask-rgb.png")).rgb());
        // an RGBA mask with transparent pixels: its alpha above 128 (opaque = repaint)
        assertArrayEquals(Png.decode(resource("mask-rgba-binary.png")).rgb(), InpaintMask.binary(resource("rgba.png")).rgb());
        // Pillow's L of pure red, green, blue: 76, 150, 29 (ITU-R 601-2, rounded)
        assertEquals(76, InpaintMask.luminance(255, 0, 0));
        assertEquals(150, InpaintMask.luminance(0, 255, 0));
        assertEquals(29, InpaintMask.luminance(0, 0, 255));
    }

    @Test
    void theLatentMaskIsTheBicubicResizeRounded() throws IOException {
        byte[] grey = maskPixels();
        float[] repaint = InpaintMask.latentRepaint(grey, 64, 48, 8, 6);
        Png.Image expected = Png.decode(resource("mask-latent.png"));
        for (int p = 0; p < repaint.length; p++) {
            assertEquals((expected.rgb()[3 * p] & 0xff) / 255f, repaint[p], "latent pixel " + p);
        }
    }

    @Test
    void theOverlayIsA1111sApplyOverlay() throws IOException {
        byte[] grey = maskPixels();
        byte[] got = InpaintMask.overlay(Png.decode(resource("overlay-decoded.png")).rgb(),
                Png.decode(resource("overlay-init.png")).rgb(), grey);
        assertArrayEquals(Png.decode(resource("overlay-result.png")).rgb(), got);
    }

    @Test
    void theBlurIsAGaussianOfA1111sKernelWithOpenCvsBorder() {
        // reflect 101: gfedcb|abcdefgh|gfedcba
        assertEquals(1, InpaintMask.reflect101(-1, 8));
        assertEquals(6, InpaintMask.reflect101(8, 8));
        assertEquals(2, InpaintMask.reflect101(-10, 4)); // -10 → 10 → -4 → 4 → 2
        assertEquals(0, InpaintMask.reflect101(5, 1));
        // sigma 1: 2·round(2.5) + 1 = 7 taps (int(3.0) = 3); an impulse of 255 at x = 10 of a row of 21
        byte[] row = new byte[21];
        row[10] = (byte) 255;
        byte[] out = InpaintMask.blur(row, 21, 1, 1, true);
        double sum = 0;
        for (int i = -3; i <= 3; i++) {
            sum += Math.exp(-i * i / 2.0);
        }
        for (int i = -4; i <= 4; i++) {
            long want = Math.abs(i) > 3 ? 0 : Math.round(255 * Math.exp(-i * i / 2.0) / sum);
            assertEquals(want, out[10 + i] & 0xff, "x = " + (10 + i));
        }
        // the 7 weights sum to 1 + 2(e^-1/2 + e^-2 + e^-9/2) = 2.50596: 255 / 2.50596 = 101.76 → 102 at the centre,
        // 255 · 0.60653 / 2.50596 = 61.72 → 62 beside it (by hand)
        assertEquals(102, out[10] & 0xff);
        assertEquals(62, out[11] & 0xff);
        // a flat image stays flat, along columns too
        byte[] flat = new byte[5 * 9];
        java.util.Arrays.fill(flat, (byte) 200);
        for (byte b : InpaintMask.blur(flat, 5, 9, 4, false)) {
            assertEquals(200, b & 0xff);
        }
    }

    @Test
    void pixelsAreInvertedBlurredAndResized() {
        // a 16x8 mask, left half white: inverted it is the right half; unblurred, resized to 32x16 the halves stay
        byte[] rgb = new byte[16 * 8 * 3];
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                rgb[(y * 16 + x) * 3] = rgb[(y * 16 + x) * 3 + 1] = rgb[(y * 16 + x) * 3 + 2] = (byte) 255;
            }
        }
        Png.Image mask = new Png.Image(16, 8, rgb, Map.of());
        byte[] plain = InpaintMask.pixels(mask, false, 0, 32, 16);
        byte[] inverted = InpaintMask.pixels(mask, true, 0, 32, 16);
        assertEquals(255, plain[5 * 32 + 2] & 0xff);
        assertEquals(0, plain[5 * 32 + 29] & 0xff);
        assertEquals(0, inverted[5 * 32 + 2] & 0xff);
        assertEquals(255, inverted[5 * 32 + 29] & 0xff);
        // blurred: the edge becomes a ramp, the far sides stay
        byte[] soft = InpaintMask.pixels(mask, false, 2, 16, 8);
        assertEquals(255, soft[3 * 16] & 0xff);
        assertEquals(0, soft[3 * 16 + 15] & 0xff);
        int atEdge = soft[3 * 16 + 8] & 0xff;
        assertEquals(true, atEdge > 0 && atEdge < 255, "edge " + atEdge);
    }
}
