package dev.diffusion.core.unet;

import dev.diffusion.core.nn.LayerNorm;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code BasicTransformerBlock} (pre-norm, LayerNorm eps 1e-5): x += attn1(norm1(x));
 * x += attn2(norm2(x), context); x += ff(norm3(x)).
 */
public final class BasicTransformerBlock extends Module {
    private final LayerNorm norm1;
    private final CrossAttention attn1;
    private final LayerNorm norm2;
    private final CrossAttention attn2;
    private final LayerNorm norm3;
    private final FeedForward ff;

    public BasicTransformerBlock(Nn nn, String prefix, long dim, int heads, int headDim, long contextDim) {
        super(nn, prefix);
        norm1 = new LayerNorm(nn, key("norm1"), dim, 1e-5);
        attn1 = new CrossAttention(nn, key("attn1"), dim, dim, heads, headDim);
        norm2 = new LayerNorm(nn, key("norm2"), dim, 1e-5);
        attn2 = new CrossAttention(nn, key("attn2"), dim, contextDim, heads, headDim);
        norm3 = new LayerNorm(nn, key("norm3"), dim, 1e-5);
        ff = new FeedForward(nn, key("ff"), dim);
    }

    /** x [B, L, dim], context [B, Lc, contextDim] → [B, L, dim]. */
    public Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> context) {
        var tf = nn.tf;
        Operand<TFloat32> n1 = norm1.apply(x);
        x = tf.math.add(x, attn1.apply(n1, n1));
        x = tf.math.add(x, attn2.apply(norm2.apply(x), context));
        return tf.math.add(x, ff.apply(norm3.apply(x)));
    }
}
