package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Attention;
import dev.diffusion.core.nn.GroupNorm;
import dev.diffusion.core.nn.Linear;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * The VAE mid block's self-attention (diffusers {@code Attention} with {@code heads = 1},
 * {@code dim_head = C}, a GroupNorm in front and the residual added back; CompVis {@code AttnBlock}):
 * one head over the H·W positions, softmax(q·kᵀ/√C)·v, then {@code to_out.0}.
 */
final class MidBlockAttention extends Module {
    private final long channels;
    private final GroupNorm groupNorm;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;

    MidBlockAttention(Nn nn, String prefix, long channels, int groups, double eps) {
        super(nn, prefix);
        this.channels = channels;
        groupNorm = new GroupNorm(nn, key("group_norm"), groups, channels, eps);
        toQ = new Linear(nn, key("to_q"), channels, channels, true);
        toK = new Linear(nn, key("to_k"), channels, channels, true);
        toV = new Linear(nn, key("to_v"), channels, channels, true);
        toOut = new Linear(nn, key("to_out.0"), channels, channels, true);
    }

    /** x NHWC [B, H, W, C] → same shape. */
    Operand<TFloat32> apply(Operand<TFloat32> x) {
        var tf = nn.tf;
        Operand<TFloat32> seq = tf.reshape(groupNorm.apply(x), nn.shape(nn.dim(x, 0), nn.ints(-1, (int) channels)));
        Operand<TFloat32> attended = Attention.apply(nn, toQ.apply(seq), toK.apply(seq), toV.apply(seq), 1, (int) channels, null);
        Operand<TFloat32> out = tf.reshape(toOut.apply(attended), tf.shape(x));
        return tf.math.add(out, x);
    }
}
