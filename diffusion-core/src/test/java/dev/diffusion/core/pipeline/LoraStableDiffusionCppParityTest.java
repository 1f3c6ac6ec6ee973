package dev.diffusion.core.pipeline;

import dev.diffusion.core.image.Psnr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A kohya-format LoRA on the random SD 1.5 checkpoint against stable-diffusion.cpp's image of the same settings
 * ({@code fixtures/sd15-random/lora-euler-cat-s42-256}): "a photo of a cat {@code <lora:randlora:0.8>}", Euler,
 * 4 steps, seed 42, 256×256. sd.cpp merged the LoRA into fp16 weights, we into float32 ones; its own merged and
 * run-time modes differ by 52.6 dB, so 40 dB leaves room for that and none for a wrong key, scale or transpose (the
 * LoRA moves the image to 18 dB from the plain one; its U-Net half alone to 20 dB).
 */
class LoraStableDiffusionCppParityTest {
    private static final String FILE_SHA256 = "4f71f8fb19b49e60afe270ec8141b572b978b853172ea350b8f7e1e5659dc960";

    @Test
    void randomLoraAt08MatchesStableDiffusionCpp() throws Exception {
        Path fixture = Fixtures.fixtureCase("lora-euler-cat-s42-256");
        Path loras = Fixtures.randomLoraDir(1, false);
        assertEquals(FILE_SHA256, HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(Files.readAllBytes(loras.resolve("randlora.safetensors")))), "make_random_lora.py wrote another file");
        GenerationRequest request = new GenerationRequest("a photo of a cat <lora:randlora:0.8>", "", 256, 256, 4, "euler",
                "discrete", 7.0, 42, 1, 1, RngKind.PHILOX);
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(Fixtures.sd15Checkpoint().toString(),
                Fixtures.clipVocabulary(), Precision.FP32, loras, LoraRef.extract(request.prompt()).loras())) {
            assertEquals(List.of(), pipeline.loraWarnings(), "every tensor of the LoRA patches a layer");
            GeneratedImage image = pipeline.generate(request, ProgressListener.NONE).get(0);
            byte[] ref = Png.decode(Files.readAllBytes(fixture.resolve("image.png"))).rgb();
            byte[] plain = Png.decode(Files.readAllBytes(fixture.resolve("image_nolora.png"))).rgb();
            double psnr = Psnr.of8Bit(image.rgb(), ref);
            double psnrPlain = Psnr.of8Bit(image.rgb(), plain);
            System.out.printf("lora-euler-cat-s42-256: PSNR %.2f dB against sd.cpp with the LoRA, %.2f dB against it without%n",
                    psnr, psnrPlain);
            assertTrue(psnr >= 40, "PSNR " + psnr + " dB against sd.cpp's image with the LoRA");
            assertTrue(psnrPlain < 25, "the LoRA changed the image too little: " + psnrPlain + " dB from the plain one");
            // the PNG keeps the prompt as typed and names the LoRA's hash as A1111 does
            GenerationParameters p = GenerationParameters.parse(Png.decode(image.png()).text().get("parameters"));
            assertEquals(request.prompt(), p.prompt());
            assertTrue(p.settings().get("Lora hashes").matches("randlora: [0-9a-f]{12}"), p.settings().toString());
        }
    }
}
