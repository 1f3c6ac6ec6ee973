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
}
