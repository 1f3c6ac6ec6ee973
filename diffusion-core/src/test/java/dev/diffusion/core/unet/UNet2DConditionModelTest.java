package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.weights.MapWeights;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The whole network on a tiny config with seeded random weights. */
class UNet2DConditionModelTest {
    /** Two blocks (one with cross-attention), one resnet per block, 2 heads, 8 groups, 16-wide context. */
    static UNetConfig tiny() {
        return UNetConfig.builder().blockOutChannels(32, 64).layersPerBlock(1)
                .downBlockTypes(UNetConfig.CROSS_ATTN_DOWN, UNetConfig.DOWN).upBlockTypes(UNetConfig.UP, UNetConfig.CROSS_ATTN_UP)
                .crossAttentionDim(16).attentionHeads(2).normNumGroups(8).build();
    }

    private static final int CTX = 5;
    private static Map<String, long[]> keys;
    private static UNetKeys.Recording weights;
    private static UNet2DConditionModel model;

    @BeforeAll
    static void build() {
        keys = UNetKeys.of(tiny());
        weights = new UNetKeys.Recording(UNetKeys.random(keys, 1234));
        model = new UNet2DConditionModel(tiny(), weights, Precision.FP32);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void readsExactlyTheDiffusersKeysOfItsConfig() {
        assertEquals(keys.keySet(), weights.asked, "keys read by the model vs the keys diffusers' tree has");
        long expected = keys.values().stream().mapToLong(s -> Arrays.stream(s).reduce(1, (a, b) -> a * b)).sum();
        assertEquals(expected, model.parameterCount());
    }

    @Test
    void batchOfTwoWithOwnTimestepsEqualsTwoSingleRuns() {
        int h = 8, w = 8;
        float[] x = UNetBlocksTest.gaussian(2 * h * w * 4, 21);
        float[] ctx = UNetBlocksTest.gaussian(2 * CTX * 16, 22);
        float[] both = model.predict(x, 2, h, w, new float[] {999f, 333.5f}, ctx, CTX);
        int half = h * w * 4;
        float[] first = model.predict(Arrays.copyOfRange(x, 0, half), 1, h, w, new float[] {999f},
                Arrays.copyOfRange(ctx, 0, CTX * 16), CTX);
        float[] second = model.predict(Arrays.copyOfRange(x, half, 2 * half), 1, h, w, new float[] {333.5f},
                Arrays.copyOfRange(ctx, CTX * 16, 2 * CTX * 16), CTX);
        assertArrayEquals(first, Arrays.copyOfRange(both, 0, half), 1e-4f);
        assertArrayEquals(second, Arrays.copyOfRange(both, half, 2 * half), 1e-4f);
        // and the timestep does matter: sample 1 at t = 999 differs from sample 1 at t = 333.5
        float[] secondAt999 = model.predict(Arrays.copyOfRange(x, half, 2 * half), 1, h, w, new float[] {999f},
                Arrays.copyOfRange(ctx, CTX * 16, 2 * CTX * 16), CTX);
        assertTrue(RefMath.relativeError(secondAt999, second) > 1e-3, "timestep has no effect");
    }

    @Test
    void contextMatters() {
        float[] x = UNetBlocksTest.gaussian(8 * 8 * 4, 31);
        float[] a = model.predict(x, 1, 8, 8, new float[] {500}, UNetBlocksTest.gaussian(CTX * 16, 32), CTX);
        float[] b = model.predict(x, 1, 8, 8, new float[] {500}, UNetBlocksTest.gaussian(CTX * 16, 33), CTX);
        assertTrue(RefMath.relativeError(a, b) > 1e-3, "context has no effect");
    }

    @Test
    void deterministic() {
        float[] x = UNetBlocksTest.gaussian(8 * 8 * 4, 41);
        float[] ctx = UNetBlocksTest.gaussian(CTX * 16, 42);
        float[] a = model.predict(x, 1, 8, 8, new float[] {10}, ctx, CTX);
        float[] b = model.predict(x, 1, 8, 8, new float[] {10}, ctx, CTX);
        assertArrayEquals(a, b, 0f);
        for (float v : a) {
            assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void nonSquareSizeAndOtherContextLength() {
        float[] x = UNetBlocksTest.gaussian(8 * 16 * 4, 51);
        float[] ctx = UNetBlocksTest.gaussian(7 * 16, 52);
        float[] eps = model.predict(x, 1, 8, 16, new float[] {250}, ctx, 7);
        assertEquals(8 * 16 * 4, eps.length);
        for (float v : eps) {
            assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void rejectsBadInputsNamingTheArgument() {
        float[] ctx = new float[CTX * 16];
        var e1 = assertThrows(IllegalArgumentException.class,
                () -> model.predict(new float[7 * 8 * 4], 1, 7, 8, new float[] {1}, ctx, CTX));
        assertTrue(e1.getMessage().contains("multiples of 2"), e1.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class,
                () -> model.predict(new float[8 * 8 * 3], 1, 8, 8, new float[] {1}, ctx, CTX));
        assertTrue(e2.getMessage().contains("latentsNhwc"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class,
                () -> model.predict(new float[2 * 8 * 8 * 4], 2, 8, 8, new float[] {1}, new float[2 * CTX * 16], CTX));
        assertTrue(e3.getMessage().contains("timesteps"), e3.getMessage());
        var e4 = assertThrows(IllegalArgumentException.class,
                () -> model.predict(new float[8 * 8 * 4], 1, 8, 8, new float[] {1}, ctx, CTX + 1));
        assertTrue(e4.getMessage().contains("context"), e4.getMessage());
    }

    @Test
    void missingWeightIsNamed() {
        MapWeights partial = new MapWeights();
        UNetKeys.random(keys, 1).keys().stream().filter(k -> !k.equals("up_blocks.1.attentions.0.proj_out.weight"))
                .forEach(k -> partial.put(k, keys.get(k), new float[Math.toIntExact(Arrays.stream(keys.get(k)).reduce(1, (a, b) -> a * b))]));
        var e = assertThrows(RuntimeException.class, () -> new UNet2DConditionModel(tiny(), partial, Precision.FP32).close());
        assertTrue(e.getMessage().contains("up_blocks.1.attentions.0.proj_out.weight"), e.getMessage());
    }

    @Test
    void bf16StaysCloseToFp32() {
        float[] x = UNetBlocksTest.gaussian(8 * 8 * 4, 61);
        float[] ctx = UNetBlocksTest.gaussian(CTX * 16, 62);
        float[] fp32 = model.predict(x, 1, 8, 8, new float[] {700}, ctx, CTX);
        try (UNet2DConditionModel bf16 = new UNet2DConditionModel(tiny(), UNetKeys.random(keys, 1234), Precision.BF16)) {
            float[] y = bf16.predict(x, 1, 8, 8, new float[] {700}, ctx, CTX);
            double err = RefMath.relativeError(y, fp32);
            assertTrue(err < 5e-2, "bf16 vs fp32 relative error " + err);
        }
    }
}
