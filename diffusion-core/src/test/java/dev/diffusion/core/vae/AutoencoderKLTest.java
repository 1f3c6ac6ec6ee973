package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.WeightsException;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A tiny AutoencoderKL (levels [8, 16], one ResNet per level, 4 groups) with seeded random weights. */
class AutoencoderKLTest {
    static final VaeConfig TINY = new VaeConfig(3, 3, 4, List.of(8, 16), 1, 4, 1e-6, 0.18215, 0.0, true, true, true);

    @Test
    void readsEveryKeyOfTheDiffusersTreeAndOnlyThose() {
        MapWeights w = VaeTestSupport.randomWeights(TINY, 1);
        // The keys and shapes diffusers' AutoencoderKL has for this config, pinned by count and fingerprint
        // (TestWeights.fingerprint of the listing this test held, written from the diffusers module tree
        // independently of this code); the full-size set is compared with the real SD 1.5 checkpoint's keys in
        // CompVisKeysTest.
        assertEquals(124, w.keys().size());
        assertEquals("aad6aacff4d56f74", TestWeights.fingerprint(w));
        try (VaeDecoder d = new VaeDecoder(TINY, w, Precision.FP32); VaeEncoder e = new VaeEncoder(TINY, w, Precision.FP32)) {
            assertEquals(26_231, TestWeights.elements(w, "decoder.", "post_quant_conv."));
            assertEquals(17_480, TestWeights.elements(w, "encoder.", "quant_conv."));
            assertEquals(26_231, d.parameterCount());
            assertEquals(17_480, e.parameterCount());
            assertEquals(TestWeights.elements(w), d.parameterCount() + e.parameterCount());
        }
    }

    @Test
    void decodeShapeBatchingAndDeterminism() {
        MapWeights w = VaeTestSupport.randomWeights(TINY, 2);
        Random rnd = new Random(3);
        int h = 3, wd = 5; // odd, non-square latent sizes
        float[] a = VaeTestSupport.gauss(rnd, h * wd * 4, 1, 0);
        float[] b = VaeTestSupport.gauss(rnd, h * wd * 4, 1, 0);
        try (AutoencoderKL vae = AutoencoderKL.decoderOnly(TINY, w, Precision.FP32)) {
            float[] ya = vae.decode(a, 1, h, wd);
            float[] yb = vae.decode(b, 1, h, wd);
            assertEquals(2 * h * 2 * wd * 3, ya.length); // two levels: 2x per side
            float[] both = new float[a.length * 2];
            System.arraycopy(a, 0, both, 0, a.length);
            System.arraycopy(b, 0, both, a.length, b.length);
            float[] y2 = vae.decode(both, 2, h, wd);
            VaeLayersTest.assertClose(ya, Arrays.copyOfRange(y2, 0, ya.length), 1e-5);
            VaeLayersTest.assertClose(yb, Arrays.copyOfRange(y2, ya.length, y2.length), 1e-5);
            assertArrayEquals(ya, vae.decode(a, 1, h, wd), "same input, same output");
            assertFalse(Arrays.equals(ya, yb));
            // another spatial size on the same graph
            assertEquals(2 * 4 * 2 * 4 * 3, vae.decode(Arrays.copyOf(a, 4 * 4 * 4), 1, 4, 4).length);
            assertThrows(IllegalStateException.class, () -> vae.encode(new float[4 * 4 * 3], 1, 4, 4));
        }
    }

    @Test
    void decodeDividesByTheScalingFactor() {
        // the same network with scaling_factor 1 fed latents / 0.18215 gives the same images
        MapWeights w = VaeTestSupport.randomWeights(TINY, 4);
        VaeConfig unscaled = new VaeConfig(3, 3, 4, List.of(8, 16), 1, 4, 1e-6, 1.0, 0.0, true, true, true);
        float[] z = VaeTestSupport.gauss(new Random(5), 2 * 2 * 4, 1, 0);
        float[] zOverS = new float[z.length];
        for (int i = 0; i < z.length; i++) {
            zOverS[i] = (float) (z[i] / 0.18215);
        }
        try (AutoencoderKL a = AutoencoderKL.decoderOnly(TINY, w, Precision.FP32);
             AutoencoderKL b = AutoencoderKL.decoderOnly(unscaled, w, Precision.FP32)) {
            VaeLayersTest.assertClose(b.decode(zOverS, 1, 2, 2), a.decode(z, 1, 2, 2), 1e-4);
        }
    }

    @Test
    void partsLoadWithoutTheOtherHalfsWeights() {
        MapWeights all = VaeTestSupport.randomWeights(TINY, 6);
        MapWeights decoderOnly = new MapWeights();
        MapWeights encoderOnly = new MapWeights();
        for (String k : all.keys()) {
            MapWeights target = k.startsWith("decoder.") || k.startsWith("post_quant_conv.") ? decoderOnly : encoderOnly;
            target.put(k, all.info(k).shape(), all.floats(k));
        }
        float[] z = VaeTestSupport.gauss(new Random(1), 2 * 2 * 4, 1, 0);
        float[] img = VaeTestSupport.gauss(new Random(2), 4 * 4 * 3, 0.5, 0);
        try (AutoencoderKL full = AutoencoderKL.load(TINY, all, Precision.FP32);
             AutoencoderKL dec = AutoencoderKL.decoderOnly(TINY, decoderOnly, Precision.FP32);
             AutoencoderKL enc = AutoencoderKL.encoderOnly(TINY, encoderOnly, Precision.FP32)) {
            assertTrue(dec.hasDecoder() && !dec.hasEncoder() && enc.hasEncoder() && !enc.hasDecoder());
            assertArrayEquals(full.decode(z, 1, 2, 2), dec.decode(z, 1, 2, 2));
            assertArrayEquals(full.encode(img, 1, 4, 4).mean(), enc.encode(img, 1, 4, 4).mean());
            assertThrows(IllegalStateException.class, () -> enc.decode(z, 1, 2, 2));
        }
        WeightsException missing = assertThrows(WeightsException.class,
                () -> AutoencoderKL.load(TINY, decoderOnly, Precision.FP32));
        assertTrue(missing.getMessage().contains("encoder."), missing.getMessage());
    }

    @Test
    void encodeSplitsMeanAndLogvarAndClampsLogvar() {
        MapWeights w = VaeTestSupport.randomWeights(TINY, 7);
        // quant_conv bias: mean channels +0, logvar channels 0..3 pushed to +1000 / -1000 / 0 / 0
        float[] qb = w.floats("quant_conv.bias");
        qb[4] = 1000;
        qb[5] = -1000;
        float[] img = VaeTestSupport.gauss(new Random(8), 2 * 6 * 4 * 3, 0.5, 0);
        try (AutoencoderKL vae = AutoencoderKL.encoderOnly(TINY, w, Precision.FP32)) {
            Moments m = vae.encode(img, 2, 6, 4);
            assertEquals(2 * 3 * 2 * 4, m.mean().length);
            assertEquals(List.of(2, 3, 2, 4), List.of(m.batch(), m.height(), m.width(), m.channels()));
            for (int i = 0; i < m.logvar().length; i += 4) {
                assertEquals(20f, m.logvar()[i]);
                assertEquals(-30f, m.logvar()[i + 1]);
                assertTrue(Math.abs(m.logvar()[i + 2]) < 20);
            }
            float[] noise = new float[m.mean().length];
            Arrays.fill(noise, 1f);
            float[] z = vae.sample(m, noise);
            for (int i = 0; i < z.length; i++) {
                double want = 0.18215 * (m.mean()[i] + Math.exp(m.logvar()[i] / 2) * 1.0);
                assertEquals(want, z[i], Math.abs(want) * 1e-6 + 1e-6);
            }
            assertThrows(IllegalArgumentException.class, () -> vae.encode(new float[5 * 4 * 3], 1, 5, 4));
        }
    }

    @Test
    void toRgb8RoundsLikeDiffusersAndTheSdCppFixtures() {
        float[] x = {-1f, 1f, 0f, -2f, 3f, Float.NaN, 0.5f, -0.5f, 0.9f / 255f - 1f, 1.1f / 255f - 1f};
        byte[] y = AutoencoderKL.toRgb8(x);
        int[] got = new int[y.length];
        for (int i = 0; i < y.length; i++) {
            got[i] = y[i] & 0xff;
        }
        // clamped ends; 0 → 127.5 → 128 (A1111's truncation: 127); 0.5 → 191.25 → 191; -0.5 → 63.75 → 64;
        // (x+1)/2·255 = 0.45 → 0 and 0.55 → 1; NaN → 0
        assertArrayEquals(new int[] {0, 255, 128, 0, 255, 0, 191, 64, 0, 1}, got);
    }
}
