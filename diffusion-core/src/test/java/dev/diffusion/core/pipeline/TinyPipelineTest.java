package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.sampling.SamplerState;
import dev.diffusion.core.sampling.SamplingLoop;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.core.weights.ModelWriter;
import dev.diffusion.core.weights.TensorDtype;
import dev.diffusion.core.weights.TinyStableDiffusion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The in-process pipeline on tiny models: layouts, determinism, seeds, guidance, img2img. */
class TinyPipelineTest {
    private static StableDiffusionPipeline tiny;

    @BeforeAll
    static void load() {
        tiny = StableDiffusionPipeline.tinyRandom(Precision.FP32);
    }

    @AfterAll
    static void close() {
        tiny.close();
    }

    private static GenerationRequest request(String prompt) {
        return new GenerationRequest(prompt, "blurry", 64, 64, 4, "euler", null, 7.0, 42, 1, 1, RngKind.PHILOX);
    }

    @Test
    void diffusersFolderAndSingleFileGiveIdenticalImages(@TempDir Path dir) throws Exception {
        // configs a single file can be read back to: the shapes tell widths and counts; head counts follow
        // SD 1.x (CLIP: hidden / 64; U-Net: 8), norm groups 32
        String clip = """
                {"vocab_size": 600, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 1,
                 "num_hidden_layers": 2, "max_position_embeddings": 77}""";
        String unet = TinyStableDiffusion.UNET_CONFIG.replace("\"cross_attention_dim\": 32", "\"cross_attention_dim\": 64");
        var parts = TinyStableDiffusion.random(7, unet, TinyStableDiffusion.VAE_CONFIG, clip)
                .withSchedulerConfig(TinyStableDiffusion.SCHEDULER_CONFIG);
        Path folder = dir.resolve("tiny-diffusers");
        Path single = dir.resolve("tiny.safetensors");
        ModelWriter.writeDiffusersFolder(folder, parts, TensorDtype.F16);
        ModelWriter.writeSingleFile(single, parts, TensorDtype.F16);
        ClipTokenizer.byteLevel().write(folder.resolve("tokenizer"));
        GenerationRequest r = request("a red circle").withSampling("DPM++ 2M Karras", null, 3, 5.0);
        byte[] a;
        byte[] b;
        try (var p = StableDiffusionPipeline.load(folder, null, Precision.FP32)) {
            a = p.generate(r, ProgressListener.NONE).get(0).rgb();
        }
        try (var p = StableDiffusionPipeline.load(single, folder.resolve("tokenizer"), Precision.FP32)) {
            b = p.generate(r, ProgressListener.NONE).get(0).rgb();
        }
        assertArrayEquals(a, b, "the two layouts of the same weights must give the same image");
        // and the image is not trivially constant (a broken decoder would give that in both)
        assertTrue(distinctValues(a) > 16, "image has only " + distinctValues(a) + " distinct values");
    }

    @Test
    void singleFileWithoutTokenizerIsRefusedNamingTheFlag(@TempDir Path dir) {
        Path single = dir.resolve("tiny.safetensors");
        ModelWriter.writeSingleFile(single, TinyStableDiffusion.random(1), TensorDtype.F16);
        // product code never looks for the CLIP vocabulary in ../shared (a user's machine has none): it says what to pass
        System.setProperty("sd.shared.dir", dev.diffusion.core.testing.Fixtures.sharedLocation().toString());
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> StableDiffusionPipeline.load(single, null, Precision.FP32));
            assertTrue(e.getMessage().contains("--tokenizer"), e.getMessage());
        } finally {
            System.clearProperty("sd.shared.dir");
        }
    }

    @Test
    void sameRequestSameBytesAndBatchImageIUsesSeedPlusI() {
        GenerationRequest r = request("a cat");
        byte[] first = tiny.generate(r, ProgressListener.NONE).get(0).png();
        byte[] again = tiny.generate(r, ProgressListener.NONE).get(0).png();
        assertArrayEquals(first, again);

        GenerationRequest batch = new GenerationRequest("a cat", "blurry", 64, 64, 4, "euler", null, 7.0, 42, 2, 1,
                RngKind.PHILOX);
        List<GeneratedImage> two = tiny.generate(batch, ProgressListener.NONE);
        assertEquals(2, two.size());
        assertEquals(43, two.get(1).seed());
        assertArrayEquals(first, two.get(0).png());
        byte[] seed43 = tiny.generate(r.withSeed(43), ProgressListener.NONE).get(0).rgb();
        assertArrayEquals(seed43, two.get(1).rgb());
        assertNotEquals(Arrays.hashCode(two.get(0).rgb()), Arrays.hashCode(two.get(1).rgb()));
    }

    @Test
    void guidanceAndEulerStepFollowTheirFormulas() {
        List<ProgressListener.StepTrace> traces = new ArrayList<>();
        GeneratedImage img = tiny.generate(request("a cat"), new ProgressListener() {
            @Override
            public void onStepTrace(StepTrace t) {
                traces.add(t);
            }
        }).get(0);
        assertEquals(4, traces.size());
        for (int k = 0; k < traces.size(); k++) {
            ProgressListener.StepTrace t = traces.get(k);
            double sigmaNext = k + 1 < traces.size() ? traces.get(k + 1).sigma() : 0.0;
            float[] xNext = k + 1 < traces.size() ? traces.get(k + 1).x() : img.latent();
            for (int i = 0; i < t.x().length; i += 97) {
                double eps = t.epsUncond()[i] + 7.0 * (t.epsCond()[i] - t.epsUncond()[i]);
                double denoised = t.x()[i] - t.sigma() * eps;
                assertEquals(denoised, t.denoised()[i], 1e-4 * (1 + Math.abs(denoised)), "denoised at step " + (k + 1));
                // Euler (Karras et al. 2022, alg. 2): x' = x + (σ' − σ)·(x − D)/σ
                double expected = t.x()[i] + (sigmaNext - t.sigma()) * (t.x()[i] - denoised) / t.sigma();
                assertEquals(expected, xNext[i], 1e-4 * (1 + Math.abs(expected)), "x after step " + (k + 1));
            }
        }
    }

    @Test
    void cfgScaleOneUsesTheConditionalPredictionAlone() {
        List<ProgressListener.StepTrace> traces = new ArrayList<>();
        tiny.generate(request("a cat").withSampling("euler", null, 2, 1.0), new ProgressListener() {
            @Override
            public void onStepTrace(StepTrace t) {
                traces.add(t);
            }
        });
        assertNull(traces.get(0).epsUncond());
        ProgressListener.StepTrace t = traces.get(0);
        for (int i = 0; i < t.x().length; i += 31) {
            assertEquals(t.x()[i] - t.sigma() * t.epsCond()[i], t.denoised()[i], 1e-4);
        }
    }

    /** A 64x64 mask of grey level {@code v} on the left {@code columns} columns and black elsewhere. */
    private static Png.Image leftMask(int columns, int v) {
        byte[] rgb = new byte[64 * 64 * 3];
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < columns; x++) {
                rgb[(y * 64 + x) * 3] = rgb[(y * 64 + x) * 3 + 1] = rgb[(y * 64 + x) * 3 + 2] = (byte) v;
            }
        }
        return new Png.Image(64, 64, rgb, java.util.Map.of());
    }

    @Test
    void inpaintingRepaintsTheMaskAndKeepsTheRestOfTheInitImage() {
        Png.Image init = Png.decode(tiny.generate(request("a cat"), ProgressListener.NONE).get(0).png());
        GenerationRequest img2img = request("a dog").withSampling("euler", null, 6, 7.0).withInitImage(init, 0.8);
        byte[] plain = tiny.generate(img2img, ProgressListener.NONE).get(0).rgb();
        // all white, unblurred: the whole image is repainted, the same bits as plain img2img
        assertArrayEquals(plain, tiny.generate(img2img.withInpaint(new GenerationRequest.Inpaint(leftMask(64, 255), 0, false)),
                ProgressListener.NONE).get(0).rgb());
        // all black: nothing is repainted, the init image comes back as it is
        assertArrayEquals(init.rgb(), tiny.generate(img2img.withInpaint(new GenerationRequest.Inpaint(leftMask(0, 255), 0,
                false)), ProgressListener.NONE).get(0).rgb());
        // the left 32 columns, blur 4 (A1111's 21 taps: the mask reaches x = 32 + 10): the right side beyond the blur
        // (x ≥ 44) is the init image's, the left side (x < 20) is repainted, and every denoised estimate holds the
        // init latent in the kept latent columns (x ≥ 4 of 8)
        GenerationRequest half = img2img.withInpaint(new GenerationRequest.Inpaint(leftMask(32, 255), 4, false));
        List<ProgressListener.StepTrace> traces = new ArrayList<>();
        GeneratedImage out = tiny.generate(half, new ProgressListener() {
            @Override
            public void onStepTrace(StepTrace t) {
                traces.add(t);
            }
        }).get(0);
        float[] z = tiny.encodeImage(init);
        int c = tiny.latentChannels();
        for (ProgressListener.StepTrace t : traces) {
            for (int i = 0; i < z.length; i++) {
                int x = (i / c) % 8;
                if (x >= 4) {
                    assertEquals(z[i], t.denoised()[i], 0f, "kept latent at step " + t.step());
                }
            }
        }
        int keptSame = 0;
        int repaintedSame = 0;
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                int p = (y * 64 + x) * 3;
                boolean same = out.rgb()[p] == init.rgb()[p] && out.rgb()[p + 1] == init.rgb()[p + 1]
                        && out.rgb()[p + 2] == init.rgb()[p + 2];
                if (x >= 44) {
                    keptSame += same ? 1 : 0;
                } else if (x < 20) {
                    repaintedSame += same ? 1 : 0;
                }
            }
        }
        assertEquals(20 * 64, keptSame, "pixels right of the mask and its blur equal the init image's");
        assertTrue(repaintedSame < 20 * 64 / 4, "the masked part is repainted: " + repaintedSame + " pixels unchanged");
        // inverted: the other side is repainted
        byte[] inverted = tiny.generate(img2img.withInpaint(new GenerationRequest.Inpaint(leftMask(32, 255), 4, true)),
                ProgressListener.NONE).get(0).rgb();
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 20; x++) {
                assertEquals(init.rgb()[(y * 64 + x) * 3], inverted[(y * 64 + x) * 3]);
            }
        }
        GenerationParameters p = GenerationParameters.parse(Png.decode(out.png()).text().get("parameters"));
        assertEquals("4", p.settings().get("Mask blur"));
        // a mask without an init image is refused, naming it
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> request("x")
                .withInpaint(new GenerationRequest.Inpaint(leftMask(32, 255), 4, false)).validate());
        assertEquals("mask", e.field());
    }

    @Test
    void img2imgStartsFromTheEncodedImageNoisedToTheStrengthSigma() {
        GeneratedImage source = tiny.generate(request("a cat"), ProgressListener.NONE).get(0);
        Png.Image init = Png.decode(source.png());
        GenerationRequest r = request("a dog").withSampling("euler", null, 10, 7.0).withInitImage(init, 0.35);
        assertEquals(3, r.stepsToRun()); // floor(10 × 0.35)
        List<ProgressListener.StepTrace> traces = new ArrayList<>();
        GeneratedImage out = tiny.generate(r, new ProgressListener() {
            @Override
            public void onStepTrace(StepTrace t) {
                traces.add(t);
            }
        }).get(0);
        assertEquals(3, traces.size());
        // the entry sigma is the full 10-step schedule's sigma at index 10 − 3 = 7
        SamplingLoop full = tiny.samplingLoop(r.withInitImage(null, 1.0));
        double sigma7 = full.schedule().sigma(7);
        assertEquals(sigma7, traces.get(0).sigma(), 1e-9);
        // x = z + σ·n with z the encoder's mean and n the seed's first Philox draw
        float[] z = tiny.encodeImage(init);
        float[] n = SamplerState.create(RngKind.PHILOX, 42, dev.diffusion.core.sampling.LatentShape.nhwc(1, 4, 8, 8)).nextNoise();
        float[] x = traces.get(0).x();
        for (int i = 0; i < x.length; i++) {
            assertEquals(z[i] + sigma7 * n[i], x[i], 1e-5 * (1 + Math.abs(x[i])));
        }
        GenerationParameters p = GenerationParameters.parse(Png.decode(out.png()).text().get("parameters"));
        assertEquals("0.35", p.settings().get("Denoising strength"));
        assertEquals("10", p.settings().get("Steps"));
    }

    @Test
    void img2imgOfAnotherSizeIsResizedAndBadStrengthIsRefusedNamingTheField() {
        byte[] tall = new byte[64 * 128 * 3];
        for (int i = 0; i < tall.length; i++) {
            tall[i] = (byte) (i / 3 / 64 * 2); // a vertical ramp: rows 0..127 → 0..254
        }
        Png.Image init = new Png.Image(64, 128, tall, java.util.Map.of());
        GenerationRequest r = request("x").withInitImage(init, 0.5);
        // A1111's "Just resize": the image is resized to the job's 64x64, as Pillow's Lanczos does (LanczosResizeTest)
        assertEquals(64, r.initImage().width());
        assertEquals(64, r.initImage().height());
        assertArrayEquals(dev.diffusion.core.image.LanczosResize.resize(init, 64, 64).rgb(), r.initImage().rgb());
        List<GeneratedImage> fromTall = tiny.generate(r, ProgressListener.NONE);
        assertEquals(1, fromTall.size());
        Png.Image ok = new Png.Image(64, 64, new byte[64 * 64 * 3], java.util.Map.of());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tiny.generate(request("x").withInitImage(ok, 1.5), ProgressListener.NONE));
        assertTrue(e.getMessage().startsWith("strength must be"), e.getMessage());
    }

    @Test
    void pngCarriesTheRequestAsA1111Parameters() {
        GenerationRequest r = new GenerationRequest("a photo of a cat", "blurry, dark", 64, 64, 3, "DPM++ 2M Karras", null, 6.5,
                1234, 1, 2, RngKind.PHILOX);
        GeneratedImage img = tiny.generate(r, ProgressListener.NONE).get(0);
        Png.Image png = Png.decode(img.png());
        assertEquals(64, png.width());
        assertArrayEquals(img.rgb(), png.rgb());
        GenerationParameters p = GenerationParameters.parse(png.text().get("parameters"));
        assertEquals("a photo of a cat", p.prompt());
        assertEquals("blurry, dark", p.negativePrompt());
        assertEquals("3", p.settings().get("Steps"));
        assertEquals("DPM++ 2M", p.settings().get("Sampler"));
        assertEquals("Karras", p.settings().get("Schedule type"));
        assertEquals("6.5", p.settings().get("CFG scale"));
        assertEquals("1234", p.settings().get("Seed"));
        assertEquals("64x64", p.settings().get("Size"));
        assertEquals("2", p.settings().get("Clip skip"));
        assertEquals("tiny-random", p.settings().get("Model"));
    }

    @Test
    void longPromptIsChunkedNotTruncated() {
        List<String> warnings = new ArrayList<>();
        tiny.generate(request("word ".repeat(100)).withSampling("euler", null, 1, 7.0), new ProgressListener() {
            @Override
            public void onWarning(String message) {
                warnings.add(message);
            }
        });
        assertEquals(List.of(), warnings);
        // byte-level tokens: "word" is 4, so 400 tokens = 6 chunks of 75 (the last 25 + padding); "" is one chunk
        float[][] pair = tiny.encodePair("", "word ".repeat(100), 1, ProgressListener.NONE);
        int d = pair[0].length / 77;
        assertEquals(77 * d, pair[0].length);
        assertEquals(6 * 77 * d, pair[1].length);
    }

    @Test
    void padCondUncondPadsTheNegativePromptWithTheEmptyPromptsChunk() {
        String prompt = "word ".repeat(100); // 6 chunks against the negative prompt's 1
        GenerationRequest plain = request(prompt).withSampling("euler", null, 2, 7.0);
        GenerationRequest pad = plain.withPromptOptions(0, true);
        float[][] pair = tiny.encodePair("blurry", prompt, 1, ProgressListener.NONE);
        float[] empty = tiny.encodePair("", "", 1, ProgressListener.NONE)[0];
        assertArrayEquals(empty, tiny.emptyChunk(1));
        // what A1111 feeds the U-Net: the negative prompt's chunk, then 5 chunks of the empty prompt
        float[] uncond = Arrays.copyOf(pair[0], pair[1].length);
        for (int c = 1; c < 6; c++) {
            System.arraycopy(empty, 0, uncond, c * empty.length, empty.length);
        }
        int side = 64 / tiny.latentScale();
        GeneratedImage padded = tiny.generate(pad, ProgressListener.NONE).get(0);
        assertArrayEquals(tiny.sample(pad, new float[][] {uncond, pair[1]}, 42, null, side, side, 0, ProgressListener.NONE),
                padded.latent());
        GeneratedImage unpadded = tiny.generate(plain, ProgressListener.NONE).get(0);
        assertArrayEquals(tiny.sample(plain, pair, 42, null, side, side, 0, ProgressListener.NONE), unpadded.latent());
        assertTrue(!Arrays.equals(padded.latent(), unpadded.latent()));
        // A1111 writes "Pad conds: True" when it padded, and nothing otherwise
        assertEquals("True", padded.parameters().settings().get("Pad conds"));
        assertNull(unpadded.parameters().settings().get("Pad conds"));
        GeneratedImage same = tiny.generate(request("x").withSampling("euler", null, 1, 7.0).withPromptOptions(0, true),
                ProgressListener.NONE).get(0);
        assertNull(same.parameters().settings().get("Pad conds")); // equal lengths: nothing padded
    }

    @Test
    void commaBacktrackReachesTheEncoder() {
        // byte-level tokens: 70 + comma + 10 fill a chunk with the comma 5 back (see PromptSyntaxTest)
        String prompt = "a".repeat(70) + "," + "b".repeat(10);
        GenerationRequest off = request(prompt).withSampling("euler", null, 1, 7.0);
        GenerationRequest on = off.withPromptOptions(20, false);
        float[][] pairOn = tiny.encodePair("blurry", prompt, 1, 20, ProgressListener.NONE);
        float[][] pairOff = tiny.encodePair("blurry", prompt, 1, ProgressListener.NONE);
        assertEquals(pairOff[1].length, pairOn[1].length); // two chunks either way, holding different tokens
        assertTrue(!Arrays.equals(pairOff[1], pairOn[1]));
        int side = 64 / tiny.latentScale();
        assertArrayEquals(tiny.sample(on, pairOn, 42, null, side, side, 0, ProgressListener.NONE),
                tiny.generate(on, ProgressListener.NONE).get(0).latent());
        assertMessage("comma_padding_backtrack must be between 0 and 74 tokens, got 75", off.withPromptOptions(75, false));
    }

    @Test
    void badRequestsAreRefusedBeforeAnyWork() {
        assertMessage("width must be a multiple of 8 between 64 and 2048, got 100",
                new GenerationRequest("x", "", 100, 64, 4, "euler", null, 7, 1, 1, 1, RngKind.PHILOX));
        assertMessage("steps must be between 1 and 150, got 0",
                new GenerationRequest("x", "", 64, 64, 0, "euler", null, 7, 1, 1, 1, RngKind.PHILOX));
        assertMessage("cfg_scale must be between 0 and 30.0, got 31.0",
                new GenerationRequest("x", "", 64, 64, 4, "euler", null, 31, 1, 1, 1, RngKind.PHILOX));
        assertMessage("scheduler must be 'discrete', 'karras' or 'automatic', got 'exponential'",
                new GenerationRequest("x", "", 64, 64, 4, "euler", "exponential", 7, 1, 1, 1, RngKind.PHILOX));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new GenerationRequest("x", "", 64, 64, 4, "UniPC", null, 7, 1, 1, 1, RngKind.PHILOX).validate());
        assertTrue(e.getMessage().startsWith("unknown sampler 'UniPC'"), e.getMessage());
    }

    private static void assertMessage(String expected, GenerationRequest r) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tiny.generate(r, ProgressListener.NONE));
        assertEquals(expected, e.getMessage());
    }

    private static int distinctValues(byte[] b) {
        boolean[] seen = new boolean[256];
        int n = 0;
        for (byte v : b) {
            if (!seen[v & 0xff]) {
                seen[v & 0xff] = true;
                n++;
            }
        }
        return n;
    }
}
