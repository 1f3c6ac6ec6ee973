package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.op.math.Mean;
import org.tensorflow.types.TFloat32;

/**
 * {@code torch.nn.GroupNorm} on NHWC input: channels split into {@code groups} contiguous groups,
 * each normalised over (H, W, channels of the group) with the biased variance, then scaled and
 * shifted per channel.
 */
public final class GroupNorm extends Module {
    public final int groups;
    public final long channels;
    public final double eps;
    private final Operand<TFloat32> gamma;
    private final Operand<TFloat32> beta;

    public GroupNorm(Nn nn, String prefix, int groups, long channels, double eps) {
        super(nn, prefix);
        if (channels % groups != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels do not split into " + groups + " groups");
        }
        this.groups = groups;
        this.channels = channels;
        this.eps = eps;
        this.gamma = nn.param(key("weight"), channels);
        this.beta = nn.param(key("bias"), channels);
    }

    public Operand<TFloat32> apply(Operand<TFloat32> x) {
        var tf = nn.tf;
        Operand<TFloat32> grouped = tf.reshape(x, nn.shape(nn.dim(x, 0), nn.dim(x, 1), nn.dim(x, 2),
                nn.ints(groups, (int) (channels / groups))));
        Operand<TFloat32> mean = tf.math.mean(grouped, nn.ints(1, 2, 4), Mean.keepDims(true));
        Operand<TFloat32> centred = tf.math.sub(grouped, mean);
        Operand<TFloat32> var = tf.math.mean(tf.math.square(centred), nn.ints(1, 2, 4), Mean.keepDims(true));
        Operand<TFloat32> normed = tf.math.mul(centred, tf.math.rsqrt(tf.math.add(var, nn.scalar(eps))));
        Operand<TFloat32> back = tf.reshape(normed, tf.shape(x));
        return tf.math.add(tf.math.mul(back, gamma), beta);
    }
}
