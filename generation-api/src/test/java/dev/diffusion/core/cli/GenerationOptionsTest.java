package dev.diffusion.core.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.InpaintMask;
import dev.diffusion.core.image.LanczosResize;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.sampling.RngKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The request's options as ./sd submit checks them (./sd generate's GenerateCommandTest runs the same parser). */
class GenerationOptionsTest {

    private static void refused(String expected, String... argv) {
        UsageException e = assertThrows(UsageException.class, () -> GenerationOptions.parse(argv));
        assertEquals(expected, e.getMessage());
    }

    @Test
    void limitsAreTheRequestsAndRefusalsNameTheFlag() {
        refused("--prompt is required");
        refused("--steps must be between 1 and " + GenerationRequest.MAX_STEPS + ", got " + (GenerationRequest.MAX_STEPS + 1),
                "--prompt", "x", "--steps", Integer.toString(GenerationRequest.MAX_STEPS + 1));
        refused("--height must be between " + GenerationRequest.MIN_SIZE + " and " + GenerationRequest.MAX_SIZE + ", got 4096",
                "--prompt", "x", "--height", "4096");
        refused("--width must be a multiple of 8, got 100", "--prompt", "x", "--width", "100");
        refused("--batch-count must be between 1 and " + GenerationRequest.MAX_BATCH_COUNT + ", got 65",
                "--prompt", "x", "--batch-count", "65");
        refused("--cfg-scale must be between 0.0 and " + GenerationRequest.MAX_CFG + ", got 31", "--prompt", "x", "--cfg-scale", "31");
        refused("--scheduler must be 'discrete', 'karras' or 'automatic', got 'cosine'", "--prompt", "x", "--scheduler", "cosine");
        // A1111's Schedule type as our PNGs write it
        assertEquals(GenerationOptions.parse(new String[] {"--prompt", "x"}).request().samplerSpec(),
                GenerationOptions.parse(new String[] {"--prompt", "x", "--scheduler", "Automatic"}).request().samplerSpec());
        // numbers as typed: Java's parsers alone would take a float suffix, NaN, hex and digits of other scripts
        refused("--cfg-scale must be a number, got '7f'", "--prompt", "x", "--cfg-scale", "7f");
        refused("--cfg-scale must be a number, got 'NaN'", "--prompt", "x", "--cfg-scale", "NaN");
        refused("--cfg-scale must be a number, got '0x1p2'", "--prompt", "x", "--cfg-scale", "0x1p2");
        refused("--steps must be a whole number, got '\u0663\u0660'", "--prompt", "x", "--steps", "\u0663\u0660");
        refused("--seed must be a whole number, got '12L'", "--prompt", "x", "--seed", "12L");
        assertEquals(7.5, GenerationOptions.parse(new String[] {"--prompt", "x", "--cfg-scale", " 7.5 "}).request().cfgScale());
        assertEquals(2.0, GenerationOptions.parse(new String[] {"--prompt", "x", "--cfg-scale", ".2e1"}).request().cfgScale());
        assertEquals(30, GenerationOptions.parse(new String[] {"--prompt", "x", "--steps", "+30"}).request().steps());
        assertEquals("prompt: LoRA tag <lora:a:0.5f> has weight '0.5f', not a number", assertThrows(
                dev.diffusion.core.pipeline.InvalidRequestException.class,
                () -> dev.diffusion.core.pipeline.LoraRef.extract("x <lora:a:0.5f>")).getMessage());
        refused("--strength needs --init-image", "--prompt", "x", "--strength", "0.5");
        refused("--out must name a .png file, got 'out.jpg'", "--prompt", "x", "--out", "out.jpg");
        refused("unexpected argument 'cat' (values follow their flag, e.g. --prompt \"a cat\")", "--prompt", "x", "cat");
        // the options of generate's own JVM are not the request's: ./sd submit says so before it gets here
        refused("unknown option --model (see ./sd help)", "--prompt", "x", "--model", "demo");
        // LoRA tags are checked here (generate and submit alike), naming the option they are in
        refused("--prompt: LoRA tag <lora:a:> has weight '', not a number", "--prompt", "x <lora:a:>");
        refused("--negative-prompt: LoRA tag <lora:b:lots> has weight 'lots', not a number", "--prompt", "x",
                "--negative-prompt", "<lora:b:lots>");
        // short or single-dash options are not ours: said so, not taken for a stray value
        refused("unknown option -q (options are long, starting with --; see ./sd help)", "--prompt", "x", "-q");
        refused("unknown option -steps: did you mean --steps?", "--prompt", "x", "-steps=4");
        // a whole number too large for the type is out of range, not "not a whole number"
        refused("--steps must be between 1 and 150, got 99999999999999", "--prompt", "x", "--steps", "99999999999999");
        // a negative number is a value, not an option
        refused("--seed must be 0 or more (or -1 for a random seed), got -5", "--prompt", "x", "--seed", "-5");
        UsageException sampler = assertThrows(UsageException.class, () -> GenerationOptions.parse(new String[] {"--prompt", "x", "--sampler", "UniPC"}));
        assertTrue(sampler.getMessage().startsWith("--sampler: unknown sampler 'UniPC'; accepted: [Euler, Euler a, DPM++ 2M"),
                sampler.getMessage());
        UsageException rng = assertThrows(UsageException.class, () -> GenerationOptions.parse(new String[] {"--prompt", "x", "--rng", "mt"}));
        assertTrue(rng.getMessage().startsWith("--rng: unknown RNG 'mt'"), rng.getMessage());
    }

    @Test
    void defaultsAreTheRequestDefaults() {
        GenerationOptions o = GenerationOptions.parse(new String[] {"--prompt", "a cat"});
        assertEquals(GenerationRequest.of("a cat"), o.request());
        assertEquals(Path.of("output.png"), o.out());
        assertFalse(o.widthGiven());
        assertFalse(o.heightGiven());
    }

    @Test
    void everyFlagReachesTheRequest(@TempDir Path dir) {
        Path out = dir.resolve("fox.png");
        GenerationOptions o = GenerationOptions.parse(new String[] {"--prompt", "a fox", "--negative-prompt", "dark",
                "--width", "640", "--height=384", "--steps", "30", "--sampler", "DPM++ 2M", "--scheduler", "Karras",
                "--cfg-scale", "5.5", "--seed", "7", "--rng", "cpu", "--batch-count", "3", "--clip-skip", "2",
                "--out", out.toString()});
        assertEquals(new GenerationRequest("a fox", "dark", 640, 384, 30, "DPM++ 2M", "Karras", 5.5, 7, 3, 2, RngKind.CPU),
                o.request());
        assertEquals("dpmpp_2m_karras", o.request().samplerSpec().canonicalName());
        assertEquals(out, o.out());
        assertTrue(o.widthGiven() && o.heightGiven());
    }

    @Test
    void promptOptionsOfA1111AreOffByDefaultAndChecked() {
        GenerationRequest plain = GenerationOptions.parse(new String[] {"--prompt", "x"}).request();
        assertEquals(0, plain.commaBacktrack());
        assertFalse(plain.padCondUncond());
        GenerationRequest set = GenerationOptions.parse(new String[] {"--prompt", "x", "--comma-padding-backtrack", "20",
                "--pad-cond-uncond"}).request();
        assertEquals(20, set.commaBacktrack());
        assertTrue(set.padCondUncond());
        assertEquals(plain.withPromptOptions(20, true), set);
        refused("--comma-padding-backtrack must be between 0 and 74, got 75", "--prompt", "x", "--comma-padding-backtrack", "75");
        refused("--pad-cond-uncond takes no value", "--prompt", "x", "--pad-cond-uncond=yes");
    }

    @Test
    void initImageSetsTheSizeAndStrength(@TempDir Path dir) throws Exception {
        Path init = dir.resolve("init.png");
        byte[] rgb = new byte[85 * 70 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 7);
        }
        Png.Image image = new Png.Image(85, 70, rgb, Map.of());
        Files.write(init, Png.encodeRgb(85, 70, rgb, Map.of()));
        // the image's size down to a multiple of 8 (diffusers' rounding), the image resized to it (A1111's "Just resize")
        GenerationOptions o = GenerationOptions.parse(new String[] {"--prompt", "x", "--init-image", init.toString()});
        assertEquals(80, o.request().width());
        assertEquals(64, o.request().height());
        assertArrayEquals(LanczosResize.resize(image, 80, 64).rgb(), o.request().initImage().rgb());
        assertEquals(0.75, o.request().strength());
        assertEquals(15, o.request().stepsToRun());
        // a size given: the image is resized to it
        GenerationRequest tall = GenerationOptions.parse(new String[] {"--prompt", "x", "--init-image", init.toString(),
                "--height", "128"}).request();
        assertEquals(80, tall.width());
        assertEquals(128, tall.height());
        assertArrayEquals(LanczosResize.resize(image, 80, 128).rgb(), tall.initImage().rgb());
        Path small = dir.resolve("small.png");
        Files.write(small, Png.encodeRgb(100, 40, new byte[100 * 40 * 3], Map.of()));
        refused("--height must be between 64 and 2048: the --init-image is 100x40; give --width and --height to resize it",
                "--prompt", "x", "--init-image", small.toString());
        assertEquals(64, GenerationOptions.parse(new String[] {"--prompt", "x", "--init-image", small.toString(), "--height",
                "64"}).request().height());
        refused("--strength must be greater than 0 and at most 1, got 0.0", "--prompt", "x", "--init-image", init.toString(),
                "--strength", "0");
        // inpainting: --mask (any PNG: made black and white as A1111 does), --mask-blur 0..64 (4), --mask-invert
        GenerationRequest masked = GenerationOptions.parse(new String[] {"--prompt", "x", "--init-image", init.toString(),
                "--mask", init.toString()}).request();
        assertEquals(4, masked.inpaint().blur());
        assertFalse(masked.inpaint().invert());
        assertArrayEquals(InpaintMask.binary(Files.readAllBytes(init)).rgb(), masked.inpaint().mask().rgb());
        GenerationRequest set = GenerationOptions.parse(new String[] {"--prompt", "x", "--init-image", init.toString(),
                "--mask", init.toString(), "--mask-blur", "0", "--mask-invert"}).request();
        assertEquals(0, set.inpaint().blur());
        assertTrue(set.inpaint().invert());
        assertNull(o.request().inpaint());
        refused("--mask needs --init-image (it marks what of that image is repainted)", "--prompt", "x", "--mask", init.toString());
        refused("--mask-blur needs --mask", "--prompt", "x", "--init-image", init.toString(), "--mask-blur", "2");
        refused("--mask-blur must be between 0 and 64, got 65", "--prompt", "x", "--init-image", init.toString(), "--mask",
                init.toString(), "--mask-blur", "65");
        refused("--mask: cannot read " + dir.resolve("none.png") + " (no such file)", "--prompt", "x",
                "--init-image", init.toString(), "--mask", dir.resolve("none.png").toString());
        assertNull(GenerationOptions.parse(new String[] {"--prompt", "x"}).request().initImage());
    }
}
