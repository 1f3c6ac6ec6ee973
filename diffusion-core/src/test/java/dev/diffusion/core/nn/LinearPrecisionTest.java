package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.weights.MapWeights;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LinearPrecisionTest {
    @Test
    void bf16LinearStaysWithinBf16RoundingOfTheExactProduct() {
        // 3 rows of 64 inputs to 32 outputs with N(0, 1) values: bf16 keeps 8 significant bits (relative step 2^-8 = 0.4%),
        // so with fp32 accumulation the result should sit within ~1% of the exact product, and fp32 within 1e-5.
        int in = 64;
        int out = 32;
        int rows = 3;
        Random r = new Random(11);
        float[] wt = new float[out * in];
        float[] b = new float[out];
        float[] x = new float[rows * in];
        for (int i = 0; i < wt.length; i++) {
            wt[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        double[] exact = new double[rows * out];
        for (int row = 0; row < rows; row++) {
            for (int o = 0; o < out; o++) {
                double acc = b[o];
                for (int i = 0; i < in; i++) {
                    acc += (double) wt[o * in + i] * x[row * in + i];
                }
                exact[row * out + o] = acc;
            }
        }
        MapWeights w = new MapWeights().put("fc.weight", new long[] {out, in}, wt).put("fc.bias", new long[] {out}, b);
        float[] fp32 = NnTestSupport.run(w, Precision.FP32, new long[] {rows, in}, x, nn -> new Linear(nn, "fc", in, out, true)::apply);
        float[] bf16 = NnTestSupport.run(w, Precision.BF16, new long[] {rows, in}, x, nn -> new Linear(nn, "fc", in, out, true)::apply);
        assertEquals(exact.length, bf16.length);
        assertTrue(relErr(fp32, exact) < 1e-6, "fp32 rel err " + relErr(fp32, exact));
        double bf = relErr(bf16, exact);
        assertTrue(bf < 1e-2, "bf16 rel err " + bf);
        assertTrue(bf > 1e-5, "bf16 should actually round (rel err " + bf + ")");
    }

    private static double relErr(float[] a, double[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - ref[i]) * (a[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }
}
