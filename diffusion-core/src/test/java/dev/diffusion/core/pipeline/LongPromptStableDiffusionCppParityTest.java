package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.image.Psnr;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.testing.Fixtures;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.core.tokenizer.PromptSyntax;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Prompts longer than 75 tokens and {@code BREAK} (all weights 1) on the random SD 1.5 checkpoint against
 * stable-diffusion.cpp's images of the same settings (test resources {@code sdcpp/long-prompts/}, made by sd-cli at
 * commit 97d2990; its README gives every command). Euler, discrete, 4 steps, cfg 7, 256×256, Philox noise, as the
 * cat fixture of {@link StableDiffusionCppParityTest}.
 *
 * <p>Each case's prompt, negative prompt and seed are read from the reference PNG's {@code parameters} chunk, which
 * sd-cli wrote from its command line, so the test and the README cannot disagree on them. Each case asserts:
 * <ul>
 *   <li>the chunk counts of the prompt and the negative prompt (ours, and the ones sd.cpp's log reported);</li>
 *   <li>PSNR ≥ 40 dB against sd.cpp's image (its fp16 convolutions against our float32: the plain cat case lands
 *       at ~48 dB);</li>
 *   <li>PSNR &lt; 30 dB against sd.cpp's image of the control prompt: the prompt cut to its first 75 tokens (the
 *       negative prompt too) for the long cases, the prompt without {@code BREAK} for the others. An engine that
 *       truncates, ignores BREAK or chunks elsewhere lands near the control, not near the reference.</li>
 * </ul>
 * The cond/uncond lengths differ in every case (prompt 2 or 3 chunks, negative 1 or 2), so the U-Net runs each at
 * its own length here ({@code GuidedSampling}).
 */
class LongPromptStableDiffusionCppParityTest {
    private static final String RESOURCES = "/sdcpp/long-prompts/";
    private static StableDiffusionPipeline pipeline;
    private static ClipTokenizer tokenizer;

    @BeforeAll
    static void load() throws IOException {
        pipeline = StableDiffusionPipeline.load(Fixtures.sd15Checkpoint(), Fixtures.clipVocabulary(), Precision.FP32);
        tokenizer = ClipTokenizer.fromBpeGz(Fixtures.clipVocabulary());
    }

    @AfterAll
    static void close() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        // case,            prompt chunks, negative chunks
        "long2-neg1-s7,     2, 1", // 112 tokens (75 + 37), negative ""
        "long3-neg2-s2024,  3, 2", // 174 tokens (75 + 75 + 24), negative 99 (75 + 24)
        "break-s42,         2, 1", // "a red house BREAK a blue sky"
        "break2-s99,        3, 1", // two BREAKs
        "break-long3-s5,    3, 1", // 21 tokens BREAK 102 tokens (75 + 27)
    })
    void matchesStableDiffusionCpp(String name, int promptChunks, int negativeChunks) {
        Png.Image reference = png(name, "image.png");
        Png.Image control = png(name, "control.png");
        GenerationParameters p = GenerationParameters.parse(reference.text().get("parameters"));
        Map<String, String> s = p.settings();
        // the settings this test does not read from the PNG: what every reference was made with
        assertEquals("4", s.get("Steps"), name);
        assertEquals("7.000000", s.get("CFG scale"), name);
        assertEquals("256x256", s.get("Size"), name);
        assertEquals("euler discrete", s.get("Sampler"), name);
        assertEquals("cuda", s.get("RNG"), name);
        long seed = Long.parseLong(s.get("Seed"));

        assertEquals(promptChunks, PromptSyntax.chunk(tokenizer, p.prompt(), 0).count(), name + ": prompt chunks");
        assertEquals(negativeChunks, PromptSyntax.chunk(tokenizer, p.negativePrompt(), 0).count(),
                name + ": negative prompt chunks");

        GenerationRequest request = new GenerationRequest(p.prompt(), p.negativePrompt(), 256, 256, 4, "euler",
                "discrete", 7.0, seed, 1, 1, RngKind.PHILOX);
        GeneratedImage image = pipeline.generate(request, ProgressListener.NONE).get(0);
        double psnr = Psnr.of8Bit(image.rgb(), reference.rgb());
        double psnrControl = Psnr.of8Bit(image.rgb(), control.rgb());
        System.out.printf("%s: PSNR %.2f dB against sd.cpp, %.2f dB against sd.cpp's control image%n", name, psnr,
                psnrControl);
        assertTrue(psnr >= 40, name + ": PSNR " + psnr + " dB against sd.cpp's image (≥ 40 expected)");
        assertTrue(psnrControl < 30, name + ": PSNR " + psnrControl
                + " dB against the control image: chunking or BREAK changed the image too little to prove anything");
        // the PNG keeps the prompt as typed, BREAK included
        assertEquals(p.prompt(), GenerationParameters.parse(Png.decode(image.png()).text().get("parameters")).prompt());
    }

    private static Png.Image png(String name, String file) {
        try (InputStream in = LongPromptStableDiffusionCppParityTest.class.getResourceAsStream(RESOURCES + name + "/" + file)) {
            assertNotNull(in, "test resource " + RESOURCES + name + "/" + file + " is missing");
            return Png.decode(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
