package dev.diffusion.core.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.WeightsException;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ClipTextModelTest {
    /** vocab 64, hidden 8, intermediate 16, 2 layers, 2 heads of 4, 77 positions. */
    static final ClipTextConfig TINY = new ClipTextConfig(64, 8, 16, 2, 2, 77, "quick_gelu", 1e-5);
    static final int L = 77;

    static MapWeights weights;
    static ClipTextModel model;

    @BeforeAll
    static void build() {
        weights = randomWeights(TINY, 7);
        model = new ClipTextModel(weights, TINY, Precision.FP32);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /**
     * Seeded weights for the keys the model reads, where every tensor matters: matrices N(0, 1/fan_in),
     * embeddings and biases N(0, 0.2²), norm scales 1 + N(0, 0.2²).
     */
    static MapWeights randomWeights(ClipTextConfig c, long seed) {
        return TestWeights.random(seed, 0.2,
                nn -> ClipTextModel.build(nn, c, TestWeights.tokenIds(nn, c.maxPositionEmbeddings())));
    }

    /** BOS 0, a few tokens, EOS 63 padding, like the real tokenizer's layout. */
    static int[] ids(long seed, int words) {
        Random r = new Random(seed);
        int[] ids = new int[L];
        java.util.Arrays.fill(ids, 63);
        ids[0] = 0;
        for (int i = 1; i <= words; i++) {
            ids[i] = 1 + r.nextInt(61);
        }
        return ids;
    }

    static float[] flatten(double[][] x) {
        float[] y = new float[x.length * x[0].length];
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < x[0].length; j++) {
                y[i * x[0].length + j] = (float) x[i][j];
            }
        }
        return y;
    }

    static float[] slice(float[] x, int batch, int index) {
        int n = x.length / batch;
        return java.util.Arrays.copyOfRange(x, index * n, (index + 1) * n);
    }

    @Test
    void matchesThePlainJavaReference() {
        int[] a = ids(1, 5);
        int[] b = ids(2, 12);
        float[] out = model.encode(new int[][] {a, b}, 1);
        assertEquals(2 * L * 8, out.length);
        ClipReference ref = new ClipReference(weights, TINY);
        assertArrayEquals(flatten(ref.encode(a, 1)), slice(out, 2, 0), 1e-5f);
        assertArrayEquals(flatten(ref.encode(b, 1)), slice(out, 2, 1), 1e-5f);
    }

    @Test
    void clipSkipTwoIsThePenultimateLayerThroughTheFinalNorm() {
        int[] a = ids(3, 9);
        float[] skip2 = model.encode(new int[][] {a}, 2);
        ClipReference ref = new ClipReference(weights, TINY);
        assertArrayEquals(flatten(ref.encode(a, 2)), skip2, 1e-5f);
        // and it is not the last layer's output
        float[] skip1 = model.encode(new int[][] {a}, 1);
        assertTrue(maxAbsDiff(skip1, skip2) > 1e-2, "clip skip 2 must differ from clip skip 1");
    }

    @Test
    void clipSkipOutOfRangeIsRejected() {
        for (int bad : new int[] {0, 3, -1}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.encode(new int[][] {ids(1, 2)}, bad));
            assertTrue(e.getMessage().contains("clipSkip") && e.getMessage().contains("1..2"), e.getMessage());
        }
    }

    @Test
    void badIdsAreRejected() {
        int[] tooShort = new int[10];
        assertThrows(IllegalArgumentException.class, () -> model.encode(new int[][] {tooShort}, 1));
        int[] outOfVocab = ids(1, 2);
        outOfVocab[4] = 64;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.encode(new int[][] {outOfVocab}, 1));
        assertTrue(e.getMessage().contains("ids[0][4]"), e.getMessage());
    }

    @Test
    void aTokenDoesNotChangeEarlierPositions() {
        int j = 6;
        int[] a = ids(4, 10);
        int[] b = a.clone();
        b[j] = a[j] == 5 ? 6 : 5;
        float[] out = model.encode(new int[][] {a, b}, 1);
        float[] ya = slice(out, 2, 0);
        float[] yb = slice(out, 2, 1);
        int d = 8;
        for (int pos = 0; pos < L; pos++) {
            double diff = maxAbsDiff(java.util.Arrays.copyOfRange(ya, pos * d, pos * d + d),
                    java.util.Arrays.copyOfRange(yb, pos * d, pos * d + d));
            if (pos < j) {
                assertTrue(diff < 1e-6, "position " + pos + " changed by " + diff);
            } else {
                assertTrue(diff > 1e-4, "position " + pos + " should see token " + j + " (diff " + diff + ")");
            }
        }
    }

    @Test
    void aBatchOfTwoEqualsTwoSingleRuns() {
        int[] a = ids(5, 3);
        int[] b = ids(6, 20);
        float[] both = model.encode(new int[][] {a, b}, 1);
        assertArrayEquals(model.encode(new int[][] {a}, 1), slice(both, 2, 0), 1e-6f);
        assertArrayEquals(model.encode(new int[][] {b}, 1), slice(both, 2, 1), 1e-6f);
    }

    @Test
    void twoInstancesGiveIdenticalOutputs() {
        int[][] batch = {ids(7, 4), ids(8, 8)};
        try (ClipTextModel other = new ClipTextModel(weights, TINY, Precision.FP32)) {
            assertArrayEquals(model.encode(batch, 1), other.encode(batch, 1));
            assertArrayEquals(model.encode(batch, 2), other.encode(batch, 2));
        }
    }

    @Test
    void bf16StaysCloseToFp32() {
        int[][] batch = {ids(9, 7)};
        float[] fp32 = model.encode(batch, 1);
        try (ClipTextModel bf16 = new ClipTextModel(weights, TINY, Precision.BF16)) {
            float[] y = bf16.encode(batch, 1);
            double diff = maxAbsDiff(fp32, y);
            // bf16 keeps 8 mantissa bits (~4e-3 relative); outputs are O(1) after the final norm
            assertTrue(diff < 0.1, "bf16 max abs diff " + diff);
            assertTrue(relErr(y, fp32) < 0.03, "bf16 rel err " + relErr(y, fp32));
            assertTrue(diff > 0, "bf16 should round somewhere");
        }
    }

    @Test
    void exactGeluVariantMatchesTheReference() {
        ClipTextConfig gelu = new ClipTextConfig(64, 8, 16, 2, 2, 77, "gelu", 1e-5);
        int[] a = ids(10, 6);
        try (ClipTextModel m = new ClipTextModel(weights, gelu, Precision.FP32)) {
            assertArrayEquals(flatten(new ClipReference(weights, gelu).encode(a, 1)), m.encode(new int[][] {a}, 1), 1e-5f);
        }
    }

    @Test
    void aMissingWeightIsNamed() {
        List<String> keys = List.copyOf(weights.keys());
        String missing = keys.get(keys.size() - 3); // a tensor of the last layer (the final norm comes after it)
        MapWeights partial = new MapWeights();
        for (String k : keys) {
            if (!k.equals(missing)) {
                partial.put(k, weights.info(k).shape(), weights.floats(k));
            }
        }
        WeightsException e = assertThrows(WeightsException.class, () -> new ClipTextModel(partial, TINY, Precision.FP32));
        assertTrue(e.getMessage().contains(missing), e.getMessage());
    }

    @Test
    void configFromDiffusersJson() throws Exception {
        // text_encoder/config.json of runwayml/stable-diffusion-v1-5 (fields this model reads, plus some it ignores)
        String json = """
                {"_name_or_path": "openai/clip-vit-large-patch14", "architectures": ["CLIPTextModel"],
                 "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
                 "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
                 "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
                 "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 12,
                 "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768, "torch_dtype": "float32",
                 "vocab_size": 49408}""";
        ObjectMapper om = new ObjectMapper();
        assertEquals(ClipTextConfig.sd15(), ClipTextConfig.fromJson(om.readTree(json)));
        ClipTextConfig sd2 = ClipTextConfig.fromJson(om.readTree(
                "{\"hidden_act\":\"gelu\",\"hidden_size\":1024,\"intermediate_size\":4096,\"num_attention_heads\":16,"
                        + "\"num_hidden_layers\":23}"));
        assertEquals(new ClipTextConfig(49408, 1024, 4096, 23, 16, 77, "gelu", 1e-5), sd2);
        assertEquals(64, sd2.headDim());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipTextConfig.fromJson(om.readTree("{\"hidden_act\":\"relu\"}")));
        assertTrue(e.getMessage().contains("hidden_act"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> ClipTextConfig.fromJson(om.readTree("{\"hidden_size\":770}")));
    }

    @Test
    void exposesSizes() {
        assertEquals(8, model.hiddenSize());
        assertEquals(77, model.maxLength());
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    static double relErr(float[] a, float[] b) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - b[i]) * (a[i] - b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }
}
