package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * Multi-head scaled dot-product attention, softmax(q·kᵀ/√d + mask)·v (Vaswani et al. 2017), on
 * [B, L, heads·d] tensors. Projections belong to the caller, whose weight names differ (CLIP's
 * {@code q_proj}, the U-Net's {@code to_q}).
 */
public final class Attention {
    private Attention() {}

    /**
     * @param q    [B, Lq, heads·headDim]
     * @param k    [B, Lk, heads·headDim]
     * @param v    [B, Lk, heads·headDim]
     * @param mask additive mask broadcastable to [B, heads, Lq, Lk], or null
     * @return [B, Lq, heads·headDim]
     */
    public static Operand<TFloat32> apply(Nn nn, Operand<TFloat32> q, Operand<TFloat32> k, Operand<TFloat32> v,
                                          int heads, int headDim, Operand<TFloat32> mask) {
        var tf = nn.tf;
        Operand<TFloat32> qh = splitHeads(nn, q, heads, headDim);
        Operand<TFloat32> kh = splitHeads(nn, k, heads, headDim);
        Operand<TFloat32> vh = splitHeads(nn, v, heads, headDim);
        // scale q before the product, as the reference implementations do for fp16 safety; same value in fp32
        Operand<TFloat32> scores = nn.batchMatMul(tf.math.mul(qh, nn.scalar(1.0 / Math.sqrt(headDim))), kh, true);
        if (mask != null) {
            scores = tf.math.add(scores, mask);
        }
        Operand<TFloat32> probs = tf.nn.softmax(scores);
        Operand<TFloat32> out = nn.batchMatMul(probs, vh, false);
        Operand<TFloat32> merged = tf.linalg.transpose(out, nn.ints(0, 2, 1, 3));
        return tf.reshape(merged, nn.shape(nn.dim(q, 0), nn.dim(q, 1), nn.ints(heads * headDim)));
    }

    /** [B, L, heads·d] → [B, heads, L, d]. */
    private static Operand<TFloat32> splitHeads(Nn nn, Operand<TFloat32> x, int heads, int headDim) {
        Operand<TFloat32> r = nn.tf.reshape(x, nn.shape(nn.dim(x, 0), nn.dim(x, 1), nn.ints(heads, headDim)));
        return nn.tf.linalg.transpose(r, nn.ints(0, 2, 1, 3));
    }
}
