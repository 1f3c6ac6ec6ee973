package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/** The activation functions of SD 1.x, from their definitions. */
public final class Activations {
    private Activations() {}

    /** SiLU / swish: x·σ(x). */
    public static Operand<TFloat32> silu(Ops tf, Operand<TFloat32> x) {
        return tf.math.mul(x, tf.math.sigmoid(x));
    }

    /** Exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)); TensorFlow Java has no Gelu op. */
    public static Operand<TFloat32> gelu(Ops tf, Operand<TFloat32> x) {
        Operand<TFloat32> phi = tf.math.add(tf.constant(1f), tf.math.erf(tf.math.mul(x, tf.constant((float) (1.0 / Math.sqrt(2.0))))));
        return tf.math.mul(tf.math.mul(x, tf.constant(0.5f)), phi);
    }

    /** CLIP's quick GELU: x·σ(1.702x) (Radford et al. 2021, OpenAI CLIP code). */
    public static Operand<TFloat32> quickGelu(Ops tf, Operand<TFloat32> x) {
        return tf.math.mul(x, tf.math.sigmoid(tf.math.mul(x, tf.constant(1.702f))));
    }
}
