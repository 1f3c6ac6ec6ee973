package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TFloating;

/**
 * {@code torch.nn.Conv2d} on NHWC input with PyTorch's symmetric zero padding. TensorFlow's
 * "SAME" pads asymmetrically when the stride is 2, so any case that is not a stride-1 "same"
 * convolution is padded explicitly and run "VALID".
 */
public final class Conv2d extends Module {
    public final long in;
    public final long out;
    public final int kernel;
    public final int stride;
    public final int padding;
    private final Operand<? extends TFloating> weight;
    private final Operand<TFloat32> bias;

    public Conv2d(Nn nn, String prefix, long in, long out, int kernel, int stride, int padding) {
        this(nn, prefix, in, out, kernel, stride, padding, true);
    }

    public Conv2d(Nn nn, String prefix, long in, long out, int kernel, int stride, int padding, boolean bias) {
        super(nn, prefix);
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
        this.weight = nn.convWeight(key("weight"), out, in, kernel, kernel);
        this.bias = bias ? nn.param(key("bias"), out) : null;
    }

    public Operand<TFloat32> apply(Operand<TFloat32> x) {
        return apply(x, padding, padding, padding, padding);
    }

    /** With explicit (top, bottom, left, right) zero padding, e.g. the VAE encoder's (0, 1, 0, 1). */
    public Operand<TFloat32> apply(Operand<TFloat32> x, int top, int bottom, int left, int right) {
        Operand<TFloat32> y;
        boolean symmetric = top == bottom && left == right && top == left;
        if (stride == 1 && symmetric && 2 * top == kernel - 1) {
            y = nn.conv2d(x, weight, 1, "SAME", bias);
        } else {
            Operand<TFloat32> padded = x;
            if (top + bottom + left + right > 0) {
                padded = nn.tf.pad(x, nn.tf.constant(new int[][] {{0, 0}, {top, bottom}, {left, right}, {0, 0}}),
                        nn.tf.constant(0f));
            }
            y = nn.conv2d(padded, weight, stride, "VALID", bias);
        }
        if (nn.lowRank() != null && kernel == 1 && stride == 1 && top + bottom + left + right == 0) {
            // run-time LoRA on a 1×1 convolution: the pixels as tokens of a Linear
            Operand<TFloat32> lora = nn.lowRank().delta(key("weight"), nn.tf.reshape(x, nn.ints(-1, (int) in)), nn.dim(x, 0));
            if (lora != null) {
                y = nn.tf.math.add(y, nn.tf.reshape(lora, nn.tf.shape(y)));
            }
        }
        return y;
    }
}
