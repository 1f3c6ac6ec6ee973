package dev.diffusion.core.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Against Pillow 9.4 ({@code Image.resize((w, h), resample=Image.LANCZOS)}, what A1111's img2img "Just resize" calls):
 * the PNGs in {@code pillow/} are Pillow's resizes of the 37×29 pattern below, written by a Python script from
 * the same formula ({@code pillow/make_reference.py}: growing, shrinking, mixed, one axis only). Every pixel
 * must be equal.
 */
class LanczosResizeTest {
    static final int W = 37;
    static final int H = 29;

    static int pattern(int x, int y, int c) {
        int v = (x * 29 + y * 53 + c * 71 + (x * y) % 23 * 11) % 256;
        if ((x / 5 + y / 4 + c) % 3 == 0) { // hard edges: the filter's negative lobes overshoot and clip
            v = v > 127 ? 255 : 0;
        }
        return v;
    }

    static Png.Image source() {
        byte[] rgb = new byte[W * H * 3];
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                for (int c = 0; c < 3; c++) {
                    rgb[(y * W + x) * 3 + c] = (byte) pattern(x, y, c);
                }
            }
        }
        return new Png.Image(W, H, rgb, Map.of());
    }

    static Png.Image reference(String name) throws IOException {
        try (InputStream in = LanczosResizeTest.class.getResourceAsStream("/pillow/" + name + ".png")) {
            return Png.decode(in.readAllBytes());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"64x48", "16x24", "40x8", "8x64", "37x16", "72x29", "13x11"})
    void equalsPillowsLanczosPixelForPixel(String size) throws IOException {
        assertSamePixels(size, reference(size), LanczosResize.resize(source(), reference(size).width(), reference(size).height()));
    }

    /** A1111's resize_mode 1: the target wider, taller, of the same ratio, and larger. */
    @ParameterizedTest
    @ValueSource(strings = {"64x32", "24x64", "74x58", "40x40"})
    void cropAndResizeEqualsA1111s(String size) throws IOException {
        Png.Image expected = reference("crop-" + size);
        assertSamePixels("crop " + size, expected, LanczosResize.cropAndResize(source(), expected.width(), expected.height()));
    }

    /** A1111's resize_mode 2: bands above and below, left and right (of odd width: one column stays black), none. */
    @ParameterizedTest
    @ValueSource(strings = {"64x32", "24x64", "33x64", "74x58", "40x40"})
    void resizeAndFillEqualsA1111s(String size) throws IOException {
        Png.Image expected = reference("fill-" + size);
        assertSamePixels("fill " + size, expected, LanczosResize.resizeAndFill(source(), expected.width(), expected.height()));
    }

    @Test
    void anAspectRatioFarFromTheTargetsIsRefusedNotScaledToMillionsOfPixels() {
        Png.Image line = new Png.Image(20000, 1, new byte[20000 * 3], Map.of());
        // cropped to 2048²: 41 million × 2048; filled into 2048 × 64: 0 pixels high
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> LanczosResize.cropAndResize(line, 2048, 2048));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> LanczosResize.resizeAndFill(new Png.Image(1, 20000, new byte[20000 * 3], Map.of()), 2048, 64));
    }

    static void assertSamePixels(String size, Png.Image expected, Png.Image got) {
        assertEquals(expected.width(), got.width());
        assertEquals(expected.height(), got.height());
        int differing = 0;
        for (int i = 0; i < got.rgb().length; i++) {
            differing += got.rgb()[i] != expected.rgb()[i] ? 1 : 0;
        }
        assertEquals(0, differing, size + ": bytes differing from Pillow's");
        assertArrayEquals(expected.rgb(), got.rgb());
    }

    @Test
    void theSameSizeIsTheImageItself() {
        Png.Image image = source();
        assertSame(image, LanczosResize.resize(image, W, H));
    }

    @Test
    void aFlatImageStaysFlatAndTheKernelIsLanczos3() {
        byte[] rgb = new byte[10 * 10 * 3];
        java.util.Arrays.fill(rgb, (byte) 200);
        Png.Image out = LanczosResize.resize(new Png.Image(10, 10, rgb, Map.of()), 23, 7);
        for (byte b : out.rgb()) {
            assertEquals(200, b & 0xff); // weights sum to one
        }
        assertEquals(1.0, LanczosResize.lanczos(0), 0);
        assertEquals(0.0, LanczosResize.lanczos(1), 1e-15); // zero at the integers
        assertEquals(0.0, LanczosResize.lanczos(3), 0); // outside the window
        // sinc(0.5) sinc(1/6) = (2/pi) (sin(pi/6) / (pi/6)) = (2/pi)(3/pi)
        assertEquals(6 / (Math.PI * Math.PI), LanczosResize.lanczos(0.5), 1e-15);
        // Keys' cubic with a = -0.5 (Pillow's bicubic): 1 at 0, 0 at 1 and 2, 9/16 at 1/2, -1/16 at 3/2
        assertEquals(1.0, LanczosResize.bicubic(0), 0);
        assertEquals(0.0, LanczosResize.bicubic(1), 0);
        assertEquals(0.0, LanczosResize.bicubic(2), 0);
        assertEquals(0.5625, LanczosResize.bicubic(-0.5), 1e-15);
        assertEquals(-0.0625, LanczosResize.bicubic(1.5), 1e-15);
    }
}
