package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.diffusion.core.weights.MapWeights;
import org.junit.jupiter.api.Test;

class AttentionTest {
    /** √2·ln 3: with the 1/√d scale (d = 2) a dot product of q = [1, 0] with [K, 0] becomes ln 3. */
    static final float K = 1.5536724f;

    // Two tokens, one head, d = 2; q is the graph input, k and v are constants:
    //   k0 = [0, 0], k1 = [√2·ln3, 0];  v0 = [4, 0], v1 = [0, 8]
    //   q0 = [1, 0]: scores/√2 = [0, ln 3] -> softmax [1/4, 3/4] -> 1/4·[4,0] + 3/4·[0,8] = [1, 6]
    //   q1 = [0, 1]: scores [0, 0] -> [1/2, 1/2] -> [2, 4]
    // Without the 1/√d scale q0 would weigh exp(√2·ln3) = 4.73 : 1 and give [0.70, 6.60].
    static final float[][][] KEYS = {{{0, 0}, {K, 0}}};
    static final float[][][] VALUES = {{{4, 0}, {0, 8}}};
    static final float[] QUERIES = {1, 0, 0, 1};

    @Test
    void softmaxOfScaledDotProducts() {
        for (Precision p : Precision.values()) {
            float[] y = NnTestSupport.run(new MapWeights(), p, new long[] {1, 2, 2}, QUERIES,
                    nn -> q -> Attention.apply(nn, q, nn.tf.constant(KEYS), nn.tf.constant(VALUES), 1, 2, null));
            // bf16 rounds K and the probabilities to 8 bits: 1/4 vs 3/4 stays within ~1%
            assertArrayEquals(new float[] {1, 6, 2, 4}, y, p == Precision.FP32 ? 1e-5f : 0.08f, p.name());
        }
    }

    @Test
    void causalMaskHidesLaterKeys() {
        // additive mask [[0, -1e9], [0, 0]]: query 0 sees only key 0 -> v0 = [4, 0]; query 1 sees both -> [2, 4] as above.
        // A transposed mask would give query 0 [1, 6] and query 1 only v1 = [0, 8].
        float[][] mask = {{0, -1e9f}, {0, 0}};
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {1, 2, 2}, QUERIES,
                nn -> q -> Attention.apply(nn, q, nn.tf.constant(KEYS), nn.tf.constant(VALUES), 1, 2, nn.tf.constant(mask)));
        assertArrayEquals(new float[] {4, 0, 2, 4}, y, 1e-5f);
    }

    @Test
    void headsAttendIndependentlyOverTheirOwnChannels() {
        // 2 heads of d = 1 (scale 1): head h uses channel h of q, k, v.
        //   k0 = [0, 0], k1 = [1, 1]; v0 = [4, 2], v1 = [0, 6]; L = ln 3
        //   q0 = [L, 0]: head 0 scores [0, L] -> [1/4, 3/4] -> 1/4·4 + 3/4·0 = 1; head 1 scores [0, 0] -> 1/2·2 + 1/2·6 = 4
        //   q1 = [0, L]: head 0 -> 1/2·4 + 1/2·0 = 2;                              head 1 [1/4, 3/4] -> 1/2 + 9/2 = 5
        float ln3 = (float) Math.log(3);
        float[][][] k = {{{0, 0}, {1, 1}}};
        float[][][] v = {{{4, 2}, {0, 6}}};
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {1, 2, 2}, new float[] {ln3, 0, 0, ln3},
                nn -> q -> Attention.apply(nn, q, nn.tf.constant(k), nn.tf.constant(v), 2, 1, null));
        assertArrayEquals(new float[] {1, 4, 2, 5}, y, 1e-5f);
    }
}
