package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Activations;
import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.GroupNorm;
import dev.diffusion.core.nn.Linear;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code ResnetBlock2D} (time_embedding_norm "default", output scale 1, no dropout at inference):
 * h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb)); h = conv2(silu(norm2(h))); out = shortcut(x) + h,
 * the shortcut a 1×1 {@code conv_shortcut} when the channel count changes.
 */
public final class ResnetBlock2D extends Module {
    public final long inChannels;
    public final long outChannels;
    private final GroupNorm norm1;
    private final Im2colConv2d.Conv conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Im2colConv2d.Conv conv2;
    private final Conv2d convShortcut;

    public ResnetBlock2D(Nn nn, String prefix, long inChannels, long outChannels, long tembChannels, int groups, double eps) {
        super(nn, prefix);
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        norm1 = new GroupNorm(nn, key("norm1"), groups, inChannels, eps);
        conv1 = Im2colConv2d.forChannels(nn, key("conv1"), inChannels, outChannels, 3);
        timeEmbProj = new Linear(nn, key("time_emb_proj"), tembChannels, outChannels, true);
        norm2 = new GroupNorm(nn, key("norm2"), groups, outChannels, eps);
        conv2 = Im2colConv2d.forChannels(nn, key("conv2"), outChannels, outChannels, 3);
        convShortcut = inChannels != outChannels ? new Conv2d(nn, key("conv_shortcut"), inChannels, outChannels, 1, 1, 0) : null;
    }

    /** x [B, H, W, in], temb [B, tembChannels] (before its SiLU) → [B, H, W, out]. */
    public Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> temb) {
        var tf = nn.tf;
        Operand<TFloat32> h = conv1.apply(Activations.silu(tf, norm1.apply(x)));
        Operand<TFloat32> t = timeEmbProj.apply(Activations.silu(tf, temb));
        h = tf.math.add(h, tf.reshape(t, nn.shape(nn.dim(t, 0), nn.ints(1, 1, (int) outChannels))));
        h = conv2.apply(Activations.silu(tf, norm2.apply(h)));
        Operand<TFloat32> shortcut = convShortcut == null ? x : convShortcut.apply(x);
        return tf.math.add(shortcut, h);
    }
}
