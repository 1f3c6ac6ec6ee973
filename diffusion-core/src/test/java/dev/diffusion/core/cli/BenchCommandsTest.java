package dev.diffusion.core.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.OpProfile;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code ./sd bench --profile} and {@code ./sd bench-precision} on the built-in tiny model: what they print adds up. */
class BenchCommandsTest {
    private static CliOutcome run(String... argv) {
        return CliOutcome.run(argv);
    }

    /** Only runs made on the profiling thread while a profile is started are traced, and every U-Net run is. */
    @Test
    void aProfileRecordsTheRunsOfItsThreadOnly() throws Exception {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.tinyRandom(Precision.FP32)) {
            int lh = p.nativeImageSize() / p.latentScale();
            float[] latents = new float[2 * lh * lh * p.latentChannels()];
            float[] context = p.encodePrompts("", "a red circle", 1, dev.diffusion.core.pipeline.ProgressListener.NONE);
            OpProfile profile = OpProfile.start();
            Thread other = new Thread(() -> p.predictNoise(latents, 2, lh, lh, new float[] {10, 10}, context));
            other.start();
            other.join();
            assertEquals(0, profile.micros("U-Net", null), "a run on another thread is not traced");
            p.predictNoise(latents, 2, lh, lh, new float[] {10, 10}, context);
            long afterOne = profile.micros("U-Net", null);
            assertTrue(afterOne > 0, "the run on this thread is traced");
            assertTrue(profile.micros("U-Net", "Softmax") + profile.micros("U-Net", "_MklSoftmax") > 0,
                    "the attention's softmax is among the op types");
            profile.stop();
            p.predictNoise(latents, 2, lh, lh, new float[] {10, 10}, context);
            assertEquals(afterOne, profile.micros("U-Net", null), "nothing is traced after stop()");
        }
    }

    /** The per-type shares of each network add up to 100 %, and all three networks of an image are there. */
    @Test
    void benchProfilePrintsEveryNetworkByOpType() {
        CliOutcome o = run("bench", "--profile", "--steps", "2");
        assertEquals(0, o.code(), o.err());
        String profile = o.out().substring(o.out().indexOf("profile "));
        for (String network : new String[] {"text encoder:", "U-Net:", "VAE decoder:"}) {
            assertTrue(profile.contains(network), network + " missing in\n" + profile);
        }
        for (String section : profile.split("\n  (?=\\S)")) {
            if (!section.contains("traced run")) {
                continue;
            }
            Matcher m = Pattern.compile(" ([0-9.]+) %").matcher(section);
            double sum = 0;
            while (m.find()) {
                sum += Double.parseDouble(m.group(1));
            }
            assertEquals(100, sum, 0.6, "shares of\n" + section);
        }
    }

    @Test
    void benchPrecisionPrintsRatiosAndThePsnr() {
        CliOutcome o = run("bench-precision", "--model", "tiny-random", "--size", "64", "--rounds", "2", "--steps", "2");
        assertEquals(0, o.code(), o.err());
        Matcher ratio = Pattern.compile("U-Net step .* bf16 / fp32 = ([0-9.]+) \\(median\\)").matcher(o.out());
        assertTrue(ratio.find(), o.out());
        assertTrue(Double.parseDouble(ratio.group(1)) > 0, o.out());
        Matcher psnr = Pattern.compile("image PSNR +bf16 vs fp32: ([0-9.]+) dB").matcher(o.out());
        assertTrue(psnr.find(), o.out());
        // bf16 keeps 8 significant bits: the image is close to fp32's, and not identical (an fp32 "bf16" would be ∞)
        double db = Double.parseDouble(psnr.group(1));
        assertTrue(db > 20 && db < 90, "PSNR " + db);
    }

    @Test
    void benchPrecisionNamesWhatIsMissing() {
        CliOutcome o = run("bench-precision", "--size", "64");
        assertEquals(2, o.code());
        assertEquals("sd: --model is required (see ./sd bench-precision --help)", o.err().strip());
        CliOutcome bad = run("bench-precision", "--model", "tiny-random", "--size", "100");
        assertEquals(2, bad.code());
        assertEquals("sd: --size must be a multiple of 8, got 100", bad.err().strip());
    }
}
