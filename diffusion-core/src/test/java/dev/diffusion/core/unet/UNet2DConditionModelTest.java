package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.CompVisKeys;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.ModelComponent;
import dev.diffusion.core.weights.RandomWeights;
import dev.diffusion.core.weights.TinyStableDiffusion;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
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
    /** Records the keys the model asks for (and draws their values). */
    private static RandomWeights weights;
    private static UNet2DConditionModel model;

    static RandomWeights randomWeights(long seed) {
        return new RandomWeights(seed, RandomWeights.fanIn(TestWeights.SPREAD));
    }

    @BeforeAll
    static void build() {
        weights = randomWeights(1234);
        model = new UNet2DConditionModel(tiny(), weights, Precision.FP32);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void readsExactlyTheDiffusersKeysOfItsConfig() {
        // The keys and shapes diffusers' UNet2DConditionModel has for this config, pinned by count, parameters and
        // fingerprint (TestWeights.fingerprint of the listing this test held, written from diffusers'
        // unet_2d_condition / unet_2d_blocks independently of this code). The full-size set is compared with the
        // real SD 1.5 checkpoint's keys in CompVisKeysTest.
        assertEquals(208, weights.keys().size());
        assertEquals(787_844L, model.parameterCount());
        assertEquals(787_844L, TestWeights.elements(weights));
        assertEquals("b2393e63d665e6c0", TestWeights.fingerprint(weights), "keys and shapes read by the model");
        // and each has its place in the CompVis layout, by this config's index arithmetic
        CompVisKeys compVis = CompVisKeys.fromConfigs(Optional.of((JsonNode) tiny().toJson()), Optional.empty());
        for (String key : weights.keys()) {
            String converted = compVis.toCompVis(ModelComponent.UNET, key);
            assertEquals(key, compVis.toDiffusers(converted).orElseThrow().key(), converted);
        }
    }

    @Test
    void sd15ModuleTreeHasTheSd15ParameterCount() {
        // declared only (a throwaway graph): no value is drawn
        assertEquals(859_520_964L, TestWeights.elements(TinyStableDiffusion.unet(UNetConfig.sd15(), 0)));
    }

    @Test
    void downsamplePaddingZeroRunsAtEverySizeAndDiffersFromPaddingOne() {
        UNetConfig padZero = tiny().toBuilder().downsamplePadding(0).build();
        float[] x = UNetBlocksTest.gaussian(8 * 16 * 4, 71);
        float[] ctx = UNetBlocksTest.gaussian(CTX * 16, 72);
        try (UNet2DConditionModel m = new UNet2DConditionModel(padZero, randomWeights(1234), Precision.FP32)) {
            float[] eps = m.predict(x, 1, 8, 16, new float[] {500}, ctx, CTX);
            assertEquals(8 * 16 * 4, eps.length);
            float[] padOne = model.predict(x, 1, 8, 16, new float[] {500}, ctx, CTX);
            assertTrue(RefMath.relativeError(eps, padOne) > 1e-3, "downsample padding has no effect");
        }
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
    void oddLatentSidesRunWithTheUpPathMatchingEachSkipAndBatchLikeSingleRuns() {
        // 9x7: the stride-2 convolution makes 5x4, whose 2x upsampling (10x8) would not match the 9x7 skip
        int h = 9;
        int w = 7;
        int one = h * w * 4;
        float[] x = UNetBlocksTest.gaussian(2 * one, 61);
        float[] ctx = UNetBlocksTest.gaussian(2 * CTX * 16, 62);
        float[] both = model.predict(x, 2, h, w, new float[] {800, 120}, ctx, CTX);
        assertEquals(2 * one, both.length);
        for (float v : both) {
            assertTrue(Float.isFinite(v));
        }
        float[] second = model.predict(Arrays.copyOfRange(x, one, 2 * one), 1, h, w, new float[] {120},
                Arrays.copyOfRange(ctx, CTX * 16, 2 * CTX * 16), CTX);
        assertArrayEquals(second, Arrays.copyOfRange(both, one, 2 * one), 1e-4f);
        // not a crop of a larger run: the 10x8 run's top-left 9x7 differs (zero padding sees the other border)
        float[] padded = new float[10 * 8 * 4];
        for (int r = 0; r < h; r++) {
            System.arraycopy(x, r * w * 4, padded, r * 8 * 4, w * 4);
        }
        float[] larger = model.predict(padded, 1, 10, 8, new float[] {800}, Arrays.copyOfRange(ctx, 0, CTX * 16), CTX);
        double diff = 0;
        for (int r = 0; r < h; r++) {
            for (int i = 0; i < w * 4; i++) {
                diff = Math.max(diff, Math.abs(larger[r * 8 * 4 + i] - both[r * w * 4 + i]));
            }
        }
        assertTrue(diff > 1e-3, "the odd-size run equals a crop of the padded run: " + diff);
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
                () -> model.predict(new float[0], 1, 0, 8, new float[] {1}, ctx, CTX));
        assertTrue(e1.getMessage().contains("height and width must be positive"), e1.getMessage());
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
        MapWeights all = weights.snapshot();
        List<String> keys = List.copyOf(all.keys());
        String missing = keys.get(keys.size() - 10); // in the last up block's last attention
        MapWeights partial = new MapWeights();
        keys.stream().filter(k -> !k.equals(missing)).forEach(k -> partial.put(k, all.info(k).shape(), all.floats(k)));
        var e = assertThrows(RuntimeException.class, () -> new UNet2DConditionModel(tiny(), partial, Precision.FP32).close());
        assertTrue(e.getMessage().contains(missing), e.getMessage());
    }

    @Test
    void bf16StaysCloseToFp32() {
        float[] x = UNetBlocksTest.gaussian(8 * 8 * 4, 61);
        float[] ctx = UNetBlocksTest.gaussian(CTX * 16, 62);
        float[] fp32 = model.predict(x, 1, 8, 8, new float[] {700}, ctx, CTX);
        try (UNet2DConditionModel bf16 = new UNet2DConditionModel(tiny(), randomWeights(1234), Precision.BF16)) {
            float[] y = bf16.predict(x, 1, 8, 8, new float[] {700}, ctx, CTX);
            double err = RefMath.relativeError(y, fp32);
            assertTrue(err < 5e-2, "bf16 vs fp32 relative error " + err);
        }
    }
}
