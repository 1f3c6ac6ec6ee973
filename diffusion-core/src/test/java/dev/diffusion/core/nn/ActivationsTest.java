package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.diffusion.core.weights.MapWeights;
import org.junit.jupiter.api.Test;

class ActivationsTest {
    static final float[] X = {-1, 0, 0.5f, 1, 2};

    @Test
    void exactGelu() {
        // x·Φ(x): Φ(1) = 0.8413447 -> 0.8413447; Φ(-1) = 0.1586553 -> -0.1586553; Φ(0.5) = 0.6914625 -> 0.3457312;
        // Φ(2) = 0.9772499 -> 1.9544997. (The tanh approximation gives 0.8411920 at 1, off by 1.5e-4.)
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {5}, X,
                nn -> x -> Activations.gelu(nn.tf, x));
        assertArrayEquals(new float[] {-0.1586553f, 0, 0.3457312f, 0.8413447f, 1.9544997f}, y, 1e-6f);
    }

    @Test
    void quickGelu() {
        // x·σ(1.702x): e^-1.702 = e^-1.7·e^-0.002 = 0.1826835·0.9980020 = 0.1823185, σ(1.702) = 1/1.1823185 = 0.8457958;
        // at -1: -(1 - 0.8457958) = -0.1542042; at 0.5: 0.5·σ(0.851) = 0.5/(1 + e^-0.851 = 1.4269779) = 0.3503884;
        // at 2: 2·σ(3.404) = 2/(1 + 0.0332413) = 1.9356586
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {5}, X,
                nn -> x -> Activations.quickGelu(nn.tf, x));
        assertArrayEquals(new float[] {-0.1542042f, 0, 0.3503884f, 0.8457958f, 1.9356586f}, y, 1e-6f);
    }

    @Test
    void silu() {
        // x·σ(x): σ(1) = 1/(1 + 0.3678794) = 0.7310586; at -1: -(1 - 0.7310586) = -0.2689414;
        // at 0.5: 0.5/(1 + 0.6065307) = 0.3112297; at 2: 2/(1 + 0.1353353) = 1.7615942
        float[] y = NnTestSupport.run(new MapWeights(), Precision.FP32, new long[] {5}, X,
                nn -> x -> Activations.silu(nn.tf, x));
        assertArrayEquals(new float[] {-0.2689414f, 0, 0.3112297f, 0.7310586f, 1.7615942f}, y, 1e-6f);
    }
}
