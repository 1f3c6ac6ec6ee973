package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.Fixtures;
import dev.diffusion.core.weights.CompVisKeys;
import dev.diffusion.core.weights.ModelComponent;
import dev.diffusion.core.weights.SafeTensorsFile;
import dev.diffusion.core.weights.Weights;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decoding the final latents of stable-diffusion.cpp's runs on the random-weight SD 1.5
 * checkpoint gives its images: ≥ 30 dB PSNR against its float image and its 8-bit PNG.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AutoencoderKLParityTest {
    private SafeTensorsFile checkpoint;
    private Weights weights;
    private AutoencoderKL vae;
    private Path fixtures;

    @BeforeAll
    void load() {
        Path ckpt = Fixtures.sd15Checkpoint();
        fixtures = Fixtures.sd15Fixtures();
        checkpoint = SafeTensorsFile.open(ckpt);
        weights = CompVisKeys.sd1().diffusersView(checkpoint, ModelComponent.VAE);
        vae = AutoencoderKL.decoderOnly(VaeConfig.sd15(), weights, Precision.FP32);
    }

    @AfterAll
    void close() {
        if (vae != null) {
            vae.close();
        }
        if (checkpoint != null) {
            checkpoint.close();
        }
    }

    /** bf16 convolutions and matmuls (norms, softmax and sums in fp32) stay well above 30 dB. */
    @org.junit.jupiter.api.Test
    void bf16DecodeStaysClose() throws Exception {
        Path dir = fixtures.resolve("euler-cat-s42-256");
        float[] x0 = Fixtures.nchwToNhwc(Fixtures.readF32(dir.resolve("x0_b0.f32")), 1, 4, 32, 32);
        float[] want = Fixtures.nchwToNhwc(Fixtures.readF32(dir.resolve("image_b0.f32")), 1, 3, 256, 256);
        float[] decoded;
        try (AutoencoderKL bf16 = AutoencoderKL.decoderOnly(VaeConfig.sd15(), weights, Precision.BF16)) {
            decoded = bf16.decode(x0, 1, 32, 32);
        }
        double se = 0, maxDiff = 0;
        for (int i = 0; i < want.length; i++) {
            double d = Math.min(1f, Math.max(0f, (decoded[i] + 1f) / 2f)) - want[i];
            se += d * d;
            maxDiff = Math.max(maxDiff, Math.abs(d));
        }
        double psnr = 10 * Math.log10(want.length / se);
        System.out.printf("VAE parity bf16 euler-cat-s42-256: PSNR %.2f dB (max abs diff %.5f) vs image_b0.f32%n", psnr, maxDiff);
        assertTrue(psnr >= 30, "bf16 PSNR " + psnr);
    }

    @ParameterizedTest
    @ValueSource(strings = {"euler-cat-s42-256", "dpmpp2m-karras-fox-s1234-256"})
    void decodeMatchesStableDiffusionCpp(String name) throws Exception {
        Path dir = fixtures.resolve(name);
        float[] x0 = Fixtures.nchwToNhwc(Fixtures.readF32(dir.resolve("x0_b0.f32")), 1, 4, 32, 32);
        long start = System.nanoTime();
        float[] decoded = vae.decode(x0, 1, 32, 32);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(256 * 256 * 3, decoded.length);

        float[] want = Fixtures.nchwToNhwc(Fixtures.readF32(dir.resolve("image_b0.f32")), 1, 3, 256, 256);
        double se = 0, maxDiff = 0;
        for (int i = 0; i < want.length; i++) {
            float v = Math.min(1f, Math.max(0f, (decoded[i] + 1f) / 2f));
            double d = v - want[i];
            se += d * d;
            maxDiff = Math.max(maxDiff, Math.abs(d));
        }
        double psnr = 10 * Math.log10(1.0 / (se / want.length));

        BufferedImage png = ImageIO.read(dir.resolve("image.png").toFile());
        byte[] ours = AutoencoderKL.toRgb8(decoded);
        double se8 = 0;
        int max8 = 0, exact = 0, refTruncated = 0, refRounded = 0;
        for (int y = 0; y < 256; y++) {
            for (int x = 0; x < 256; x++) {
                int rgb = png.getRGB(x, y);
                for (int c = 0; c < 3; c++) {
                    int i = (y * 256 + x) * 3 + c;
                    int ref = (rgb >> (16 - 8 * c)) & 0xff;
                    int d = (ours[i] & 0xff) - ref;
                    se8 += (double) d * d;
                    max8 = Math.max(max8, Math.abs(d));
                    exact += d == 0 ? 1 : 0;
                    // the reference's own PNG from its float image: truncation, as toRgb8 does
                    refTruncated += (int) (want[i] * 255.0f) == ref ? 1 : 0;
                    refRounded += Math.round(want[i] * 255.0f) == ref ? 1 : 0;
                }
            }
        }
        double psnr8 = 10 * Math.log10(255.0 * 255.0 / (se8 / ours.length));
        System.out.printf("VAE parity %s: PSNR %.2f dB (max abs diff %.5f) vs image_b0.f32; PSNR %.2f dB (max %d/255, %.1f%% exact) vs image.png;"
                        + " sd.cpp png = trunc(float) for %.2f%%, round(float) for %.2f%%; decode %d ms (first call)%n",
                name, psnr, maxDiff, psnr8, max8, 100.0 * exact / ours.length, 100.0 * refTruncated / ours.length, 100.0 * refRounded / ours.length, millis);
        assertTrue(psnr >= 30, name + ": PSNR " + psnr + " dB < 30 vs sd.cpp's float image");
        assertTrue(psnr8 >= 30, name + ": PSNR " + psnr8 + " dB < 30 vs sd.cpp's PNG");
        assertTrue(refRounded > 0.999 * ours.length, "the fixture PNG is no longer round(float image·255); revisit toRgb8");
        assertTrue(max8 <= 2, "8-bit difference " + max8);
    }
}
