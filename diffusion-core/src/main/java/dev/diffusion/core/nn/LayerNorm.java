package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;

/** {@code torch.nn.LayerNorm} over the last axis, biased variance. */
public final class LayerNorm extends Module {
    public final long dim;
    public final double eps;
    private final Operand<TFloat32> gamma;
    private final Operand<TFloat32> beta;

    public LayerNorm(Nn nn, String prefix, long dim, double eps) {
        super(nn, prefix);
        this.dim = dim;
        this.eps = eps;
        this.gamma = nn.param(key("weight"), dim);
        this.beta = nn.param(key("bias"), dim);
    }

    public Operand<TFloat32> apply(Operand<TFloat32> x) {
        var tf = nn.tf;
        Operand<TFloat32> mean = tf.math.mean(x, nn.ints(-1), Mean.keepDims(true));
        Operand<TFloat32> centred = tf.math.sub(x, mean);
        Operand<TFloat32> var = tf.math.mean(tf.math.square(centred), nn.ints(-1), Mean.keepDims(true));
        Operand<TFloat32> normed = tf.math.mul(centred, tf.math.rsqrt(tf.math.add(var, nn.scalar(eps))));
        return tf.math.add(tf.math.mul(normed, gamma), beta);
    }
}
