package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/**
 * torch.manual_seed(0) outputs as printed (4 decimals) in public documentation and tutorials:
 * kornia's CenterCrop docstring for torch.randn(1, 1, 4, 4); a worked backprop example that draws
 * torch.randn(10, 4), torch.randn(4, 4), torch.randn(10, 4) in a row; torch.distributions'
 * Normal(0, 1).rsample((8,)) and a 12-value table for the scalar path below 16 values.
 */
class TorchCpuGeneratorTest {
    private static final float[] SEED0_RANDN_16 = {
        -1.1258f, -1.1524f, -0.2506f, -0.4339f, 0.8487f, 0.6920f, -0.3160f, -2.1152f,
        0.3223f, -1.2633f, 0.3500f, 0.3081f, 0.1198f, 1.2377f, 1.1168f, -0.2473f};

    @Test
    void sixteenValuesFromSeedZero() {
        assertArrayEquals(SEED0_RANDN_16, new TorchCpuGenerator(0).randn(16), 6e-5f);
    }

    @Test
    void fortyValuesRecomputeTheLastSixteenThenTheStreamContinues() {
        TorchCpuGenerator g = new TorchCpuGenerator(0);
        float[] x = g.randn(40);
        float[] expectedX = {
            -1.1258f, -1.1524f, -0.2506f, -0.4339f, 0.8487f, 0.6920f, -0.3160f, -2.1152f,
            0.3223f, -1.2633f, 0.3500f, 0.3081f, 0.1198f, 1.2377f, 1.1168f, -0.2473f,
            -1.3527f, -1.6959f, 0.5667f, 0.7935f, 0.5988f, -1.5551f, -0.3414f, 1.8530f,
            -0.2159f, -0.7425f, 0.5627f, 0.2596f, -0.1740f, -0.6787f, 0.9383f, 0.4889f,
            1.2032f, 0.0845f, -1.2001f, -0.0048f, -0.5181f, -0.3067f, -1.5810f, 1.7066f};
        assertArrayEquals(expectedX, x, 6e-5f);
        float[] w = g.randn(16);
        float[] expectedW = {
            0.2055f, -0.4503f, -0.5731f, -0.5554f, 0.5943f, 1.5419f, 0.5073f, -0.5910f,
            -1.3253f, 0.1886f, -0.0691f, -0.4949f, -1.4959f, -0.1938f, 0.4455f, 1.3253f};
        assertArrayEquals(expectedW, w, 6e-5f);
        float[] y = g.randn(40);
        assertEquals(1.5091f, y[0], 6e-5f);
        assertEquals(2.3804f, y[3], 6e-5f);
        assertEquals(1.3873f, y[39], 6e-5f);
        // 40 + 16 uniforms for x (16 redrawn for the tail), 16 for w, 56 for y.
        assertEquals(128, g.position());
        assertArrayEquals(y, NoiseGenerator.create(RngKind.CPU, 0, 72).randn(40));
    }

    @Test
    void fewerThanSixteenValuesUseTheScalarDoublePath() {
        float[] expected = {1.5410f, -0.2934f, -2.1788f, 0.5684f, -1.0845f, -1.3986f, 0.4033f, 0.8380f,
            -0.7193f, -0.4033f, -0.5966f, 0.1820f};
        assertArrayEquals(expected, new TorchCpuGenerator(0).randn(12), 6e-5f);
        // Split draws give the same values: the cached sine branch carries across calls.
        TorchCpuGenerator g = new TorchCpuGenerator(0);
        float[] a = g.randn(3);
        assertThrows(IllegalStateException.class, g::position);
        float[] b = g.randn(3);
        assertArrayEquals(new float[] {1.5410f, -0.2934f, -2.1788f}, a, 6e-5f);
        assertArrayEquals(new float[] {0.5684f, -1.0845f, -1.3986f}, b, 6e-5f);
    }
}
