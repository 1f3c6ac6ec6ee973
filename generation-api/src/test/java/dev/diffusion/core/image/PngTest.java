package dev.diffusion.core.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class PngTest {
    @Test
    void javaImageIoReadsOurPixelsExactly() throws Exception {
        int w = 5;
        int h = 3;
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 17 + 3);
        }
        byte[] png = Png.encodeRgb(w, h, rgb, Map.of("parameters", "a cat\nSteps: 4"));
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y);
                int o = (y * w + x) * 3;
                assertEquals(rgb[o] & 0xff, (p >> 16) & 0xff);
                assertEquals(rgb[o + 1] & 0xff, (p >> 8) & 0xff);
                assertEquals(rgb[o + 2] & 0xff, p & 0xff);
            }
        }
    }

    @Test
    void textChunksRoundTripIncludingUnicode() {
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "a café, ☕\nSteps: 4");
        text.put("Software", "diffusion");
        byte[] png = Png.encodeRgb(1, 1, new byte[] {1, 2, 3}, text);
        Png.Image img = Png.decode(png);
        assertEquals(text, img.text());
        assertArrayEquals(new byte[] {1, 2, 3}, img.rgb());
    }

    @Test
    void decodesFilteredPngWrittenByImageIo() throws Exception {
        BufferedImage src = new BufferedImage(7, 4, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 7; x++) {
                src.setRGB(x, y, (x * 40) << 16 | (y * 60) << 8 | ((x * y * 9) & 0xff));
            }
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        ImageIO.write(src, "png", out);
        Png.Image img = Png.decode(out.toByteArray());
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 7; x++) {
                int o = (y * 7 + x) * 3;
                int p = src.getRGB(x, y);
                assertEquals((p >> 16) & 0xff, img.rgb()[o] & 0xff);
                assertEquals((p >> 8) & 0xff, img.rgb()[o + 1] & 0xff);
                assertEquals(p & 0xff, img.rgb()[o + 2] & 0xff);
            }
        }
    }

    @Test
    void rejectsNonPng() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Png.decode(new byte[] {1, 2, 3}));
        assertEquals("not a PNG file (bad signature)", e.getMessage());
    }

    @Test
    void a1111ParametersFormatAndParseBack() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("Steps", "20");
        s.put("Sampler", "DPM++ 2M");
        s.put("Schedule type", "Karras");
        s.put("CFG scale", "7");
        s.put("Seed", "42");
        s.put("Size", "512x768");
        s.put("Model", "my, model");
        GenerationParameters p = new GenerationParameters("a red fox\nin the snow", "blurry", s);
        String text = p.format();
        assertEquals("a red fox\nin the snow\nNegative prompt: blurry\n"
                + "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x768, Model: \"my, model\"",
                text);
        GenerationParameters back = GenerationParameters.parse(text);
        assertEquals(p, back);
    }

    @Test
    void parsesA1111TextWithoutNegativePrompt() {
        GenerationParameters p = GenerationParameters.parse("a cat\nSteps: 4, Sampler: Euler, Seed: 1");
        assertEquals("a cat", p.prompt());
        assertEquals("", p.negativePrompt());
        assertEquals("Euler", p.settings().get("Sampler"));
        assertEquals("1", p.settings().get("Seed"));
    }

    private static byte[] viaImageIo(BufferedImage image) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }

    /** PNGs of every colour type and depth, written by ImageIO (an independent encoder), read as 8-bit RGB. */
    @Test
    void readsGreyscalePaletteSixteenBitAndAlphaPngs() throws Exception {
        int w = 13;
        int h = 7; // odd sizes: rows that end inside a byte at 1, 2 and 4 bits
        java.util.Random random = new java.util.Random(3);
        // 8- and 16-bit greyscale: the sample (its high byte) in all three channels
        BufferedImage grey = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        BufferedImage grey16 = new BufferedImage(w, h, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                grey.getRaster().setSample(x, y, 0, random.nextInt(256));
                grey16.getRaster().setSample(x, y, 0, random.nextInt(65536));
            }
        }
        Png.Image g = Png.decode(viaImageIo(grey));
        byte[] file16 = viaImageIo(grey16);
        assertEquals(16, file16[24], "IHDR bit depth");
        assertEquals(0, file16[25], "IHDR colour type: greyscale");
        Png.Image g16 = Png.decode(file16);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = (y * w + x) * 3;
                for (int c = 0; c < 3; c++) {
                    assertEquals(grey.getRaster().getSample(x, y, 0), g.rgb()[i + c] & 0xff);
                    assertEquals(grey16.getRaster().getSample(x, y, 0) >> 8, g16.rgb()[i + c] & 0xff);
                }
            }
        }
        // palettes of 2, 4 and 16 colours (1, 2 and 4 bits per pixel) and of 256; RGBA with its alpha dropped
        for (int bits : new int[] {1, 2, 4, 8}) {
            int n = 1 << bits;
            byte[][] colours = new byte[3][n];
            for (byte[] channel : colours) {
                random.nextBytes(channel);
            }
            java.awt.image.IndexColorModel model = new java.awt.image.IndexColorModel(bits, n, colours[0], colours[1], colours[2]);
            BufferedImage indexed = bits == 8 ? new BufferedImage(w, h, BufferedImage.TYPE_BYTE_INDEXED, model)
                    : new BufferedImage(w, h, BufferedImage.TYPE_BYTE_BINARY, model);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    indexed.getRaster().setSample(x, y, 0, random.nextInt(n));
                }
            }
            byte[] file = viaImageIo(indexed);
            assertEquals(bits, file[24], "IHDR bit depth"); // ImageIO kept the palette's depth
            assertEquals(3, file[25], "IHDR colour type: palette");
            assertSameRgb(indexed, Png.decode(file), bits + "-bit palette");
        }
        BufferedImage rgba = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                rgba.setRGB(x, y, (random.nextInt(255) + 1) << 24 | random.nextInt(1 << 24));
            }
        }
        assertSameRgb(rgba, Png.decode(viaImageIo(rgba)), "RGBA");
        // a header that claims more pixels than are read is refused, saying so
        byte[] huge = viaImageIo(grey);
        huge[16] = 0x7f; // width's high byte: 2 Gi pixels wide
        assertEquals("PNG is 2130706445x7 pixels; at most " + Png.MAX_DECODED_PIXELS + " pixels are read",
                assertThrows(IllegalArgumentException.class, () -> Png.decode(huge)).getMessage());
    }

    private static void assertSameRgb(BufferedImage expected, Png.Image actual, String what) {
        for (int y = 0; y < expected.getHeight(); y++) {
            for (int x = 0; x < expected.getWidth(); x++) {
                int argb = expected.getRGB(x, y);
                int i = (y * expected.getWidth() + x) * 3;
                int got = (actual.rgb()[i] & 0xff) << 16 | (actual.rgb()[i + 1] & 0xff) << 8 | (actual.rgb()[i + 2] & 0xff);
                assertEquals(argb & 0xffffff, got, what + " at " + x + "," + y);
            }
        }
    }

    /**
     * A1111 flattens an RGBA init image onto its background colour with Pillow's alpha_composite: against Pillow 9.4
     * ({@code pillow/make_reference.py}) for alphas 0..255 over white and over a colour, pixel for pixel; without
     * flattening, decode drops the alpha.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"white, ffffff", "teal, 20a0c0"})
    void rgbaFlattensOntoTheBackgroundAsPillow(String name, String colour) throws Exception {
        byte[] rgba = resource("rgba.png");
        Png.Image expected = Png.decode(resource("flat-" + name + ".png"));
        Png.Image got = Png.decodeFlattened(rgba, Integer.parseInt(colour, 16));
        assertArrayEquals(expected.rgb(), got.rgb());
        // the last row is opaque: its colours stay; alpha 0 (pixel 0,0) is the background
        Png.Image plain = Png.decode(rgba);
        assertEquals(plain.rgb()[(15 * 16 + 3) * 3] & 0xff, got.rgb()[(15 * 16 + 3) * 3] & 0xff);
        assertEquals(Integer.parseInt(colour.substring(0, 2), 16), got.rgb()[0] & 0xff);
    }

    @Test
    void anOpaqueOrAlphaFreePngIsNotFlattened() {
        byte[] rgb = new byte[4 * 4 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 5);
        }
        assertArrayEquals(rgb, Png.decodeFlattened(Png.encodeRgb(4, 4, rgb, Map.of()), 0xffffff).rgb());
    }

    /** A JPEG (a photo as OpenAI's edits and A1111 take it) is read too: its size, and its colours within JPEG's loss. */
    @Test
    void jpegsAreReadAsRgb() throws Exception {
        BufferedImage img = new BufferedImage(40, 24, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 24; y++) {
            for (int x = 0; x < 40; x++) {
                img.setRGB(x, y, x < 16 ? 0xC81E1E : 0x1E3CDC); // red 8x8 blocks on the left, blue on the right
            }
        }
        java.io.ByteArrayOutputStream jpeg = new java.io.ByteArrayOutputStream();
        ImageIO.write(img, "jpeg", jpeg);
        byte[] bytes = jpeg.toByteArray();
        assertArrayEquals(new int[] {40, 24}, Png.size(bytes));
        Png.Image decoded = Png.decode(bytes);
        assertEquals(40, decoded.width());
        assertEquals(24, decoded.height());
        int[] red = {0xC8, 0x1E, 0x1E};
        int[] blue = {0x1E, 0x3C, 0xDC};
        for (int c = 0; c < 3; c++) {
            assertEquals(red[c], decoded.rgb()[(12 * 40 + 4) * 3 + c] & 0xff, 12, "red block, channel " + c);
            assertEquals(blue[c], decoded.rgb()[(12 * 40 + 36) * 3 + c] & 0xff, 12, "blue block, channel " + c);
        }
        assertArrayEquals(new int[] {5, 3}, Png.size(Png.encodeRgb(5, 3, new byte[45], Map.of())));
        assertEquals(null, Png.size(new byte[] {1, 2, 3}));
    }

    /** tRNS transparency (palette, grey, RGB) read as Pillow reads it (its RGBA conversion's alpha, pixel for pixel). */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"palette", "grey", "rgb"})
    void trnsTransparencyIsTheAlphaPillowReads(String kind) throws Exception {
        byte[][] alpha = new byte[1][];
        Png.decodeWithAlpha(resource("trns-" + kind + ".png"), alpha);
        Png.Image expected = Png.decode(resource("trns-" + kind + "-alpha.png"));
        assertEquals(16 * 8, alpha[0].length);
        for (int p = 0; p < alpha[0].length; p++) {
            assertEquals(expected.rgb()[3 * p] & 0xff, alpha[0][p] & 0xff, kind + " pixel " + p);
        }
    }

    private static byte[] resource(String name) throws java.io.IOException {
        try (java.io.InputStream in = PngTest.class.getResourceAsStream("/pillow/" + name)) {
            return in.readAllBytes();
        }
    }
}
