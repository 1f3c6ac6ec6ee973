package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Activations;
import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.GroupNorm;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers' {@code ResnetBlock2D} as the VAE uses it (no time embedding, output scale 1, no
 * dropout at inference): norm1 → SiLU → conv1 → norm2 → SiLU → conv2, added to the input, which
 * passes through a 1x1 {@code conv_shortcut} when the channel count changes.
 */
final class ResnetBlock2D extends Module {
    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d convShortcut;

    ResnetBlock2D(Nn nn, String prefix, long in, long out, int groups, double eps) {
        super(nn, prefix);
        norm1 = new GroupNorm(nn, key("norm1"), groups, in, eps);
        conv1 = new Conv2d(nn, key("conv1"), in, out, 3, 1, 1);
        norm2 = new GroupNorm(nn, key("norm2"), groups, out, eps);
        conv2 = new Conv2d(nn, key("conv2"), out, out, 3, 1, 1);
        convShortcut = in == out ? null : new Conv2d(nn, key("conv_shortcut"), in, out, 1, 1, 0);
    }

    Operand<TFloat32> apply(Operand<TFloat32> x) {
        var tf = nn.tf;
        Operand<TFloat32> h = conv1.apply(Activations.silu(tf, norm1.apply(x)));
        h = conv2.apply(Activations.silu(tf, norm2.apply(h)));
        Operand<TFloat32> skip = convShortcut == null ? x : convShortcut.apply(x);
        return tf.math.add(skip, h);
    }
}
