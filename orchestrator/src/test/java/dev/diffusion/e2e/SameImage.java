package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.image.Png;
import dev.diffusion.core.image.Psnr;
import dev.diffusion.core.pipeline.GeneratedImage;

/**
 * Whether an image the suite made is the in-process pipeline's image for the same job. Jobs that run at the same time
 * share U-Net runs (cross-job batching), and oneDNN may pick another kernel, with other float rounding, for another
 * batch size; so a pixel may be off by a level or two. The bound: at most {@value #MAX_LEVELS} levels anywhere and a
 * PSNR of at least {@value #MIN_PSNR_DB} dB. A wrong seed, sampler, step count, guidance scale or prompt moves the
 * picture by tens of levels (well under 30 dB). Size and the embedded parameters must be equal, and where the pixels
 * are equal the PNG must be equal byte for byte (the encoder is deterministic).
 */
final class SameImage {
    static final int MAX_LEVELS = 2;
    static final double MIN_PSNR_DB = 50;

    private SameImage() {}

    static void assertSame(GeneratedImage want, byte[] gotPng, String what) {
        Png.Image got = Png.decode(gotPng);
        assertEquals(want.width(), got.width(), what + ": width");
        assertEquals(want.height(), got.height(), what + ": height");
        assertEquals(want.parameters().format(), got.text().get("parameters"), what + ": the PNG's parameters");
        byte[] a = want.rgb();
        byte[] b = got.rgb();
        assertEquals(a.length, b.length, what + ": RGB size");
        int worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs((a[i] & 0xff) - (b[i] & 0xff)));
        }
        double psnr = Psnr.of8Bit(a, b);
        final int maxLevels = worst;
        assertTrue(worst <= MAX_LEVELS && psnr >= MIN_PSNR_DB,
                () -> what + ": not the pipeline's image (max pixel difference " + maxLevels + ", PSNR " + psnr + " dB)");
        if (worst == 0) {
            assertArrayEquals(want.png(), gotPng, what + ": equal pixels, yet other PNG bytes");
        }
    }
}
