package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Attention;
import dev.diffusion.core.nn.Linear;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code Attention} as the SD U-Net uses it ({@code attn1}: self-attention, {@code attn2}: attention
 * to the text context): bias-free {@code to_q/to_k/to_v}, multi-head softmax attention, {@code to_out.0} with bias.
 */
public final class CrossAttention extends Module {
    private final int heads;
    private final int headDim;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;

    /** @param contextDim width of the keys' source: the query width for self-attention, cross_attention_dim otherwise */
    public CrossAttention(Nn nn, String prefix, long queryDim, long contextDim, int heads, int headDim) {
        super(nn, prefix);
        this.heads = heads;
        this.headDim = headDim;
        long inner = (long) heads * headDim;
        toQ = new Linear(nn, key("to_q"), queryDim, inner, false);
        toK = new Linear(nn, key("to_k"), contextDim, inner, false);
        toV = new Linear(nn, key("to_v"), contextDim, inner, false);
        toOut = new Linear(nn, key("to_out.0"), inner, queryDim, true);
    }

    /** x [B, L, queryDim], context [B, Lc, contextDim] (x itself for self-attention) → [B, L, queryDim]. */
    public Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> context) {
        Operand<TFloat32> out = Attention.apply(nn, toQ.apply(x), toK.apply(context), toV.apply(context), heads, headDim, null);
        return toOut.apply(out);
    }
}
