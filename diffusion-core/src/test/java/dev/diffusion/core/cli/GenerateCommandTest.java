package dev.diffusion.core.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line as a user meets it: refusals name the flag and the limit; files and exit codes. */
class GenerateCommandTest {
    private static CliOutcome run(String... argv) {
        return CliOutcome.run(argv);
    }

    private static void refused(String expected, String... argv) {
        CliOutcome o = run(argv);
        assertEquals(2, o.code(), o.err());
        assertEquals("sd: " + expected, o.err().strip());
    }

    /** Attention is sliced by default only above SD 1.x's native 512×512, where it would need GBs at once. */
    /** U-Net replicas share the cores; without their own thread pools (an environment variable) they are refused. */
    @Test
    void unetReplicasAreCheckedAndNeedTheirOwnThreadPools() {
        assertEquals(1, GenerateCommand.parse(new String[] {"--prompt", "x"}).unetReplicas());
        refused("--unet-replicas must be between 1 and 64, got 0", "generate", "--prompt", "x", "--unet-replicas", "0");
        if (!dev.diffusion.core.nn.TfNetwork.ownPools()) { // this JVM's environment (surefire's default run)
            refused("--unet-replicas 2 needs TF_OVERRIDE_GLOBAL_THREADPOOL=1 in the environment (./sd sets it)",
                    "generate", "--prompt", "x", "--unet-replicas", "2");
        }
    }

    @Test
    void attentionIsSlicedAboveTheNativeSize() {
        assertEquals(0, GenerateCommand.parse(new String[] {"--prompt", "x"}).attentionSliceMb());
        assertEquals(0, GenerateCommand.parse(new String[] {"--prompt", "x", "--width", "512", "--height", "512"})
                .attentionSliceMb());
        assertEquals(512, GenerateCommand.parse(new String[] {"--prompt", "x", "--width", "1024", "--height", "1024"})
                .attentionSliceMb());
        assertEquals(512, GenerateCommand.parse(new String[] {"--prompt", "x", "--width", "768", "--height", "512"})
                .attentionSliceMb());
        assertEquals(0, GenerateCommand.parse(new String[] {"--prompt", "x", "--width", "1024", "--height", "1024",
                "--attention-slice-mb", "0"}).attentionSliceMb());
    }

    @Test
    void badValuesAreRefusedNamingTheFlagAndTheLimit() {
        refused("--prompt is required", "generate");
        refused("--width must be a multiple of 8, got 100", "generate", "--prompt", "x", "--width", "100");
        refused("--height must be between 64 and 2048, got 4096", "generate", "--prompt", "x", "--height", "4096");
        refused("--steps must be between 1 and 150, got 0", "generate", "--prompt", "x", "--steps", "0");
        refused("--steps must be a whole number, got 'ten'", "generate", "--prompt", "x", "--steps", "ten");
        refused("--cfg-scale must be between 0.0 and 30.0, got -1", "generate", "--prompt", "x", "--cfg-scale", "-1");
        refused("--batch-count must be between 1 and 64, got 65", "generate", "--prompt", "x", "--batch-count", "65");
        refused("--clip-skip must be between 1 and 12, got 0", "generate", "--prompt", "x", "--clip-skip", "0");
        refused("--scheduler must be 'discrete', 'karras' or 'automatic', got 'cosine'", "generate", "--prompt", "x", "--scheduler", "cosine");
        refused("--out must name a .png file, got 'out.jpg'", "generate", "--prompt", "x", "--out", "out.jpg");
        refused("--seed must be 0 or more (or -1 for a random seed), got -5", "generate", "--prompt", "x", "--seed", "-5");
        refused("--seed 9223372036854775807 is too large for --batch-count 2: image i uses seed + i, and the last must be at most "
                + Long.MAX_VALUE, "generate", "--prompt", "x", "--seed", "9223372036854775807", "--batch-count", "2");
        refused("--strength needs --init-image", "generate", "--prompt", "x", "--strength", "0.5");
        refused("unknown option --sample (see ./sd help)", "generate", "--prompt", "x", "--sample", "euler");
        refused("--model: /nonexistent/model does not exist", "generate", "--prompt", "x", "--model", "/nonexistent/model");
        refused("--attention-slice-mb must be between 0 and 1048576, got -1", "generate", "--prompt", "x",
                "--attention-slice-mb", "-1");
        CliOutcome o = run("generate", "--prompt", "x", "--sampler", "UniPC");
        assertEquals(2, o.code());
        assertTrue(o.err().startsWith("sd: --sampler: unknown sampler 'UniPC'; accepted: [Euler, Euler a, DPM++ 2M"), o.err());
        assertFalse(o.err().contains("Exception"), o.err());
    }

    /** What needs the model's configuration or tokenizer is refused before any weight is loaded, naming the flag. */
    @Test
    void modelDependentLimitsAreRefusedBeforeLoading(@TempDir Path dir) throws Exception {
        // the demo model's text encoder has 2 layers
        refused("--clip-skip must be 1 to 2 (the text encoder's layers), got 3", "generate", "--prompt", "x",
                "--clip-skip", "3", "--out", dir.resolve("a.png").toString());
        // 760 words of one token each ("a" is one token in every CLIP vocabulary): 11 chunks of 75
        String longPrompt = "a ".repeat(760).strip();
        refused("--prompt is 760 tokens in 11 chunks of 75; the limit is 10 chunks (750 tokens)", "generate", "--prompt",
                longPrompt, "--out", dir.resolve("b.png").toString());
        refused("--negative-prompt is 760 tokens in 11 chunks of 75; the limit is 10 chunks (750 tokens)", "generate",
                "--prompt", "x", "--negative-prompt", longPrompt, "--out", dir.resolve("c.png").toString());
        assertFalse(Files.exists(dir.resolve("a.png")));
    }

    /** Any multiple of 8 runs (a latent of 9x11 here, odd sides the U-Net's up path matches), as in diffusers. */
    @Test
    void sidesThatAreMultiplesOfEightOnlyRun(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("odd.png");
        CliOutcome o = run("generate", "--prompt", "a red circle", "--width", "72", "--height", "88", "--steps", "2",
                "--quiet", "--out", out.toString());
        assertEquals(0, o.code(), o.err());
        Png.Image image = Png.decode(Files.readAllBytes(out));
        assertEquals(72, image.width());
        assertEquals(88, image.height());
        assertEquals("72x88", GenerationParameters.parse(image.text().get("parameters")).settings().get("Size"));
    }

    @Test
    void generatesNumberedPngsWithParametersAndPrintsProgress(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("cat.png");
        CliOutcome o = run("generate", "--prompt", "a photo of a cat", "--negative-prompt", "dark", "--width", "64", "--height", "64",
                "--steps", "2", "--sampler", "Euler a", "--seed", "7", "--batch-count", "2", "--out", out.toString());
        assertEquals(0, o.code(), o.err());
        assertTrue(o.err().contains("sd: image 2/2 step 2/2"), o.err());
        for (int i = 0; i < 2; i++) {
            Path file = dir.resolve("cat-" + i + ".png");
            assertTrue(Files.exists(file), file.toString());
            Png.Image png = Png.decode(Files.readAllBytes(file));
            GenerationParameters p = GenerationParameters.parse(png.text().get("parameters"));
            assertEquals("a photo of a cat", p.prompt());
            assertEquals("dark", p.negativePrompt());
            assertEquals(Integer.toString(7 + i), p.settings().get("Seed"));
            assertEquals("Euler a", p.settings().get("Sampler"));
            assertTrue(o.out().contains(file + "  (seed " + (7 + i) + ")"), o.out());
        }
        assertFalse(Files.exists(out), "with --batch-count 2 the files are numbered");
    }

    /** Without --width/--height, img2img runs at the init image's size, not the model's native one. */
    @Test
    void img2imgTakesTheInitImagesSize(@TempDir Path dir) throws Exception {
        Path init = dir.resolve("init.png");
        Files.write(init, Png.encodeRgb(128, 96, new byte[128 * 96 * 3], java.util.Map.of()));
        Path out = dir.resolve("out.png");
        CliOutcome o = run("generate", "--prompt", "a red circle", "--steps", "2", "--init-image", init.toString(),
                "--out", out.toString(), "--quiet");
        assertEquals(0, o.code(), o.err());
        Png.Image png = Png.decode(Files.readAllBytes(out));
        assertEquals(128, png.width());
        assertEquals(96, png.height());
        assertEquals("128x96", GenerationParameters.parse(png.text().get("parameters")).settings().get("Size"));
    }

    @Test
    void helpOfACommandPrintsItsOptions() {
        CliOutcome o = run("generate", "--help");
        assertEquals(0, o.code(), o.err());
        assertEquals(GenerateCommand.HELP, o.out());
        assertEquals(BenchCommand.HELP, run("bench", "-h").out());
    }

    @Test
    void numberedNamesUseTheStem() {
        assertEquals(Path.of("/tmp/x/fox-3.png"), GenerateCommand.numbered(Path.of("/tmp/x/fox.png"), 3));
    }
}
