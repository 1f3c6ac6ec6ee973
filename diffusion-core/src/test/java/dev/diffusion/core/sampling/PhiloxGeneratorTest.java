package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PhiloxGeneratorTest {

    @Test
    void firstValuesOfSeed42MatchTheFixtureReadme() {
        float[] n = new PhiloxGenerator(42).randn(3);
        assertEquals(0.19401887f, n[0], 1e-7);
        assertEquals(2.1613739f, n[1], 1e-6);
        assertEquals(-0.1720506f, n[2], 1e-7);
    }

    @Test
    void initialNoiseOfBothFixtureCasesMatchesStableDiffusionCpp() {
        float[] euler = SeededNoise.initialNoiseNchw(RngKind.PHILOX, 42, 1, 4, 32, 32);
        float[] eulerRef = Fixtures.f32(Fixtures.EULER, "noise_b0");
        assertEquals(4096, eulerRef.length);
        assertTrue(Fixtures.maxAbsDiff(euler, eulerRef) <= 1e-6, "seed 42: " + Fixtures.maxAbsDiff(euler, eulerRef));

        float[] fox = SeededNoise.initialNoiseNchw(RngKind.PHILOX, 1234, 1, 4, 32, 32);
        float[] foxRef = Fixtures.f32(Fixtures.DPMPP, "noise_b0");
        assertTrue(Fixtures.maxAbsDiff(fox, foxRef) <= 1e-6, "seed 1234: " + Fixtures.maxAbsDiff(fox, foxRef));
    }

    @Test
    void a1111DoublePrecisionBoxMullerDiffersOnlyByRounding() {
        float[] a1111 = new PhiloxGenerator(42, 0, PhiloxGenerator.Precision.FLOAT64).randn(4096);
        float[] ref = Fixtures.f32(Fixtures.EULER, "noise_b0");
        double diff = Fixtures.maxAbsDiff(a1111, ref);
        assertTrue(diff <= 3e-6 && diff > 0, "A1111 rounding vs sd.cpp: " + diff);
    }

    @Test
    void eachDrawAdvancesTheOffsetByOneAndPositionRestoresTheStream() {
        PhiloxGenerator g = new PhiloxGenerator(42);
        float[] first = g.randn(100);
        assertEquals(1, g.position());
        float[] second = g.randn(100);
        assertEquals(2, g.position());
        assertTrue(Fixtures.maxAbsDiff(first, second) > 0.5, "a new draw gives new numbers");
        // The counter of element i does not depend on the draw's size: a prefix is the same.
        assertArrayEquals(first, java.util.Arrays.copyOf(new PhiloxGenerator(42).randn(1000), 100));
        assertArrayEquals(second, NoiseGenerator.create(RngKind.PHILOX, 42, 1).randn(100));
    }

    @Test
    void valuesAreStandardNormal() {
        float[] n = new PhiloxGenerator(7).randn(200_000);
        double mean = 0;
        double sq = 0;
        for (float v : n) {
            mean += v;
            sq += v * v;
        }
        mean /= n.length;
        double var = sq / n.length - mean * mean;
        assertEquals(0, mean, 0.01);
        assertEquals(1, var, 0.01);
    }

    @Test
    void batchImageIUsesSeedPlusI() {
        float[] batch = SeededNoise.initialNoiseNchw(RngKind.PHILOX, 42, 2, 4, 32, 32);
        float[] second = new PhiloxGenerator(43).randn(4096);
        assertArrayEquals(second, java.util.Arrays.copyOfRange(batch, 4096, 8192));
        assertArrayEquals(Fixtures.f32(Fixtures.EULER, "noise_b0"), java.util.Arrays.copyOf(batch, 4096), 1e-6f);
    }

    @Test
    void layoutConversionRoundTripsAndPutsChannelsLast() {
        float[] nchw = new float[2 * 3 * 2 * 2];
        for (int i = 0; i < nchw.length; i++) {
            nchw[i] = i;
        }
        float[] nhwc = SeededNoise.nchwToNhwc(nchw, 2, 3, 2, 2);
        // image 0, pixel (0,1), channel 2 is NCHW index 2*4 + 1 = 9 and NHWC index 1*3 + 2 = 5.
        assertEquals(9f, nhwc[5]);
        // image 1, pixel (1,0), channel 1: NCHW 12 + 1*4 + 2 = 18; NHWC 12 + 2*3 + 1 = 19.
        assertEquals(18f, nhwc[19]);
        assertArrayEquals(nchw, SeededNoise.nhwcToNchw(nhwc, 2, 3, 2, 2));
    }
}
