package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.diffusion.core.weights.MapWeights;
import org.junit.jupiter.api.Test;

class TimestepEmbeddingTest {
    @Test
    void frequenciesFollowTheDiffusersFormula() {
        // half = 2; f_i = exp(-ln(10000)·i/(half - shift))
        // shift 0: [1, 10000^(-1/2)] = [1, 0.01]; shift 1: [1, 10000^(-1)] = [1, 1e-4]
        assertArrayEquals(new float[] {1, 0.01f}, TimestepEmbedding.frequencies(4, 0, 10000), 1e-8f);
        assertArrayEquals(new float[] {1, 1e-4f}, TimestepEmbedding.frequencies(4, 1, 10000), 1e-9f);
    }

    @Test
    void cosThenSinWithFlip() {
        // t = [0, 1], dim 4, shift 0, freqs [1, 0.01]:
        //   t = 0 -> [cos 0, cos 0, sin 0, sin 0] = [1, 1, 0, 0]
        //   t = 1 -> [cos 1, cos 0.01, sin 1, sin 0.01] = [0.5403023, 0.99995, 0.84147098, 0.00999983]
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {2}, new float[] {0, 1},
                nn -> t -> TimestepEmbedding.apply(nn, t, 4, true, 0));
        assertArrayEquals(new float[] {1, 1, 0, 0, 0.5403023f, 0.99995f, 0.84147098f, 0.00999983f}, y, 1e-6f);
    }

    @Test
    void sinThenCosWithoutFlip() {
        // same arguments, halves swapped: t = 0 -> [0, 0, 1, 1]; t = 1 -> [sin 1, sin 0.01, cos 1, cos 0.01]
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {2}, new float[] {0, 1},
                nn -> t -> TimestepEmbedding.apply(nn, t, 4, false, 0));
        assertArrayEquals(new float[] {0, 0, 1, 1, 0.84147098f, 0.00999983f, 0.5403023f, 0.99995f}, y, 1e-6f);
    }
}
