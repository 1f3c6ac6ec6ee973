package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * Sinusoidal timestep features (Vaswani et al. 2017; DDPM, Ho et al. 2020), as the SD U-Net
 * uses them: for half = dim/2 frequencies f_i = exp(−ln(maxPeriod)·i/(half − shift)), the
 * features of t are [cos(t·f), sin(t·f)] with {@code flipSinToCos}, else [sin, cos].
 */
public final class TimestepEmbedding {
    private TimestepEmbedding() {}

    /** The frequencies, computed in float32 as PyTorch does. */
    public static float[] frequencies(int dim, double downscaleFreqShift, double maxPeriod) {
        int half = dim / 2;
        float[] f = new float[half];
        float logMax = (float) -Math.log(maxPeriod);
        for (int i = 0; i < half; i++) {
            float exponent = (logMax * (float) i) / (float) (half - downscaleFreqShift);
            f[i] = (float) Math.exp(exponent);
        }
        return f;
    }

    /** t [B] (float, possibly fractional) → [B, dim]. */
    public static Operand<TFloat32> apply(Nn nn, Operand<TFloat32> timesteps, int dim, boolean flipSinToCos,
                                          double downscaleFreqShift) {
        if (dim % 2 != 0) {
            throw new IllegalArgumentException("timestep embedding dim must be even, got " + dim);
        }
        var tf = nn.tf;
        Operand<TFloat32> freqs = tf.constant(frequencies(dim, downscaleFreqShift, 10000.0));
        Operand<TFloat32> args = tf.math.mul(tf.expandDims(timesteps, tf.constant(1)), tf.expandDims(freqs, tf.constant(0)));
        Operand<TFloat32> sin = tf.math.sin(args);
        Operand<TFloat32> cos = tf.math.cos(args);
        return flipSinToCos
                ? tf.concat(java.util.List.of(cos, sin), tf.constant(1))
                : tf.concat(java.util.List.of(sin, cos), tf.constant(1));
    }
}
