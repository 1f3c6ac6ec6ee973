package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TFloating;

/** {@code torch.nn.Linear}: y = x·Wᵀ + b over the last axis, any rank ≥ 2. */
public final class Linear extends Module {
    public final long in;
    public final long out;
    private final Operand<? extends TFloating> weight;
    private final Operand<TFloat32> bias;

    public Linear(Nn nn, String prefix, long in, long out, boolean bias) {
        super(nn, prefix);
        this.in = in;
        this.out = out;
        this.weight = nn.linearWeight(key("weight"), out, in);
        this.bias = bias ? nn.param(key("bias"), out) : null;
    }

    public Operand<TFloat32> apply(Operand<TFloat32> x) {
        int rank = x.shape().numDimensions();
        if (rank < 2) {
            throw new IllegalArgumentException(prefix + ": input must have rank >= 2, got " + x.shape());
        }
        Operand<TFloat32> flat = rank == 2 ? x : nn.tf.reshape(x, nn.ints(-1, (int) in));
        Operand<TFloat32> y = nn.matmul(flat, weight, bias);
        Operand<TFloat32> lora = nn.lowRank() == null ? null : nn.lowRank().delta(key("weight"), flat, nn.dim(x, 0));
        if (lora != null) {
            y = nn.tf.math.add(y, lora);
        }
        if (rank == 2) {
            return y;
        }
        Operand<TInt32> lead = nn.tf.slice(nn.tf.shape(x), nn.ints(0), nn.ints(rank - 1));
        return nn.tf.reshape(y, nn.shape(lead, nn.ints((int) out)));
    }
}
