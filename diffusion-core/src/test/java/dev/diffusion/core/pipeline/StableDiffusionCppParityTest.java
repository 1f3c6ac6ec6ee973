package dev.diffusion.core.pipeline;

import dev.diffusion.core.image.Psnr;
import static dev.diffusion.core.testing.Fixtures.maxAbsDiff;
import static dev.diffusion.core.testing.Fixtures.nchwToNhwc;
import static dev.diffusion.core.testing.Fixtures.readF32;
import static dev.diffusion.core.testing.Fixtures.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.Png;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The proof of correctness: the whole pipeline on a full-size SD 1.5 checkpoint (random weights)
 * against stable-diffusion.cpp's recorded run on the same checkpoint and settings — initial
 * noise, prompt embeddings, every step's noise predictions and latents, the decoded image.
 *
 * <p>Tolerances. sd.cpp runs its matrix products with fp16 inputs even on CPU (the fixture README:
 * its fp16 and fp32 modes differ by 0.34/255 per pixel), so a correct float32 implementation sits
 * near 1e-3 relative error on embeddings and noise predictions, not at 1e-6. Those differences feed
 * forward through the latents, so later steps drift a little more: we allow 1e-3 on embeddings (the
 * issue's figure), 1e-2 on each step's ε and latents (10× the per-network figure, still far below
 * what any structural error gives: a wrong key, a missing residual, a swapped sin/cos or a wrong
 * c_in each gives errors of order 1), and ≥ 30 dB PSNR on the final image.
 */
class StableDiffusionCppParityTest {
    private static StableDiffusionPipeline pipeline;

    @BeforeAll
    static void load() {
        Path checkpoint = Fixtures.sd15Checkpoint();
        Path vocab = Fixtures.clipVocabulary();
        pipeline = StableDiffusionPipeline.load(checkpoint, vocab, Precision.FP32);
    }

    @AfterAll
    static void close() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void eulerCatSeed42MatchesStableDiffusionCpp() throws Exception {
        Path dir = Fixtures.fixtureCase("euler-cat-s42-256");
        GenerationRequest request = new GenerationRequest("a photo of a cat", "", 256, 256, 4, "euler", "discrete", 7.0, 42,
                1, 1, RngKind.PHILOX);
        checkCase(dir, request, 4);
    }

    @Test
    void dpmpp2mKarrasFoxSeed1234MatchesStableDiffusionCpp() throws Exception {
        Path dir = Fixtures.fixtureCase("dpmpp2m-karras-fox-s1234-256");
        GenerationRequest request = new GenerationRequest("a red fox sitting in the snow", "", 256, 256, 6, "DPM++ 2M Karras",
                null, 6.0, 1234, 1, 1, RngKind.PHILOX);
        checkCase(dir, request, 6);
    }

    private void checkCase(Path dir, GenerationRequest request, int steps) throws Exception {
        String name = dir.getFileName().toString();
        // prompt embeddings, uncond first
        float[] context = pipeline.encodePrompts(request.negativePrompt(), request.prompt(), 1, ProgressListener.NONE);
        int half = context.length / 2;
        float[] uncond = Arrays.copyOfRange(context, 0, half);
        float[] cond = Arrays.copyOfRange(context, half, context.length);
        double condErr = relativeError(cond, readF32(dir.resolve("cond_crossattn.f32")));
        double uncondErr = relativeError(uncond, readF32(dir.resolve("uncond_crossattn.f32")));
        System.out.printf("%s: embeddings rel err cond %.2e uncond %.2e%n", name, condErr, uncondErr);
        assertTrue(condErr <= 1e-3, "prompt embedding rel err " + condErr);
        assertTrue(uncondErr <= 1e-3, "negative prompt embedding rel err " + uncondErr);

        List<ProgressListener.StepTrace> traces = new ArrayList<>();
        GeneratedImage image = pipeline.generate(request, new ProgressListener() {
            @Override
            public void onStepTrace(StepTrace trace) {
                traces.add(trace);
            }
        }).get(0);
        assertEquals(steps, traces.size());

        // initial noise: bit for bit up to float rounding (x₀ = noise·σ_max)
        float[] noise = nchwToNhwc(readF32(dir.resolve("noise_b0.f32")), 1, 4, 32, 32);
        float[] x1 = traces.get(0).x();
        float sigmaMax = (float) traces.get(0).sigma();
        float[] ourNoise = new float[x1.length];
        for (int i = 0; i < x1.length; i++) {
            ourNoise[i] = x1[i] / sigmaMax;
        }
        double noiseDiff = maxAbsDiff(ourNoise, noise);
        System.out.printf("%s: initial noise max abs diff %.2e%n", name, noiseDiff);
        assertTrue(noiseDiff <= 2e-6, "initial noise differs by " + noiseDiff);

        for (ProgressListener.StepTrace t : traces) {
            int k = t.step();
            double xErr = relativeError(t.x(), nhwc(dir, "step" + k + "_x.f32"));
            double ec = relativeError(t.epsCond(), nhwc(dir, "step" + k + "_eps_cond.f32"));
            double eu = relativeError(t.epsUncond(), nhwc(dir, "step" + k + "_eps_uncond.f32"));
            double de = relativeError(t.denoised(), nhwc(dir, "step" + k + "_denoised.f32"));
            System.out.printf("%s: step %d sigma %.6f t %.3f  rel err x %.2e eps_cond %.2e eps_uncond %.2e denoised %.2e%n",
                    name, k, t.sigma(), t.timestep(), xErr, ec, eu, de);
            assertTrue(xErr <= 1e-2, "step " + k + " latent rel err " + xErr);
            assertTrue(ec <= 1e-2, "step " + k + " eps_cond rel err " + ec);
            assertTrue(eu <= 1e-2, "step " + k + " eps_uncond rel err " + eu);
            assertTrue(de <= 1e-2, "step " + k + " denoised rel err " + de);
        }
        double x0Err = relativeError(image.latent(), nhwc(dir, "x0_b0.f32"));
        System.out.printf("%s: final latent rel err %.2e%n", name, x0Err);
        assertTrue(x0Err <= 1e-2, "final latent rel err " + x0Err);

        // decoded image in [0, 1] against sd.cpp's float image, and our 8-bit PNG against its PNG
        float[] ref = nchwToNhwc(readF32(dir.resolve("image_b0.f32")), 1, 3, 256, 256);
        float[] ours = new float[image.decoded().length];
        for (int i = 0; i < ours.length; i++) {
            ours[i] = Math.min(1f, Math.max(0f, (image.decoded()[i] + 1f) / 2f));
        }
        double psnr = Fixtures.psnr(ours, ref, 1.0);
        Png.Image refPng = Png.decode(Files.readAllBytes(dir.resolve("image.png")));
        double psnr8 = Psnr.of8Bit(image.rgb(), refPng.rgb());
        System.out.printf("%s: image PSNR %.2f dB (float), %.2f dB (8-bit PNG)%n", name, psnr, psnr8);
        assertTrue(psnr >= 30, "image PSNR " + psnr + " dB");
        assertTrue(psnr8 >= 30, "PNG PSNR " + psnr8 + " dB");
    }

    private static float[] nhwc(Path dir, String file) {
        return nchwToNhwc(readF32(dir.resolve(file)), 1, 4, 32, 32);
    }
}
