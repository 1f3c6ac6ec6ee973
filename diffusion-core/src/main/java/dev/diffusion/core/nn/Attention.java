package dev.diffusion.core.nn;

import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.SplitV;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Multi-head scaled dot-product attention, softmax(q·kᵀ/√d + mask)·v (Vaswani et al. 2017), on
 * [B, L, heads·d] tensors. Projections belong to the caller, whose weight names differ (CLIP's
 * {@code q_proj}, the U-Net's {@code to_q}).
 *
 * <p>With {@link Nn#attentionSliceBytes()} set (sliced attention, as A1111's split attention and diffusers'
 * attention slicing offer), the queries are cut into row slices, each run to its output before the next starts, so
 * that one slice's scores take at most about that many bytes instead of B·heads·Lq·Lk floats at once (17 GB for an
 * SD 1.5 CFG pair at 1024×1024). Each row's softmax is over all keys either way: only the peak memory changes.
 */
public final class Attention {
    /** Most slices a sliced attention is cut into (the slice count follows the size; unused slices are empty). */
    static final int MAX_SLICES = 64;

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
        if (nn.attentionSliceBytes() > 0 && mask == null) {
            return mergeHeads(nn, q, sliced(nn, qh, kh, vh, heads, headDim, nn.attentionSliceBytes()), heads, headDim);
        }
        // scale q before the product, as the reference implementations do for fp16 safety; same value in fp32
        Operand<TFloat32> scores = nn.batchMatMul(tf.math.mul(qh, nn.scalar(1.0 / Math.sqrt(headDim))), kh, true);
        if (mask != null) {
            scores = tf.math.add(scores, mask);
        }
        Operand<TFloat32> probs = tf.nn.softmax(scores);
        return mergeHeads(nn, q, nn.batchMatMul(probs, vh, false), heads, headDim);
    }

    /**
     * Attention on [B, heads, L, d] tensors a slice of query rows at a time: rows per slice = the most whose scores
     * (B·heads·rows·Lk floats) fit {@code sliceBytes}, at least 1 and at least Lq / {@link #MAX_SLICES}; each
     * slice's product waits for the previous slice's output (a control dependency), so one slice's scores live at a
     * time.
     */
    private static Operand<TFloat32> sliced(Nn nn, Operand<TFloat32> qh, Operand<TFloat32> kh, Operand<TFloat32> vh,
                                            int heads, int headDim, long sliceBytes) {
        Ops tf = nn.tf;
        Operand<TInt64> batch = tf.dtypes.cast(nn.dim(qh, 0), TInt64.class);
        Operand<TInt64> lq = tf.dtypes.cast(nn.dim(qh, 2), TInt64.class);
        Operand<TInt64> lk = tf.dtypes.cast(nn.dim(kh, 2), TInt64.class);
        Operand<TInt64> rowBytes = tf.math.mul(tf.math.mul(batch, lk), tf.constant(4L * heads));
        Operand<TInt64> rows = tf.math.maximum(tf.math.floorDiv(tf.constant(sliceBytes), rowBytes), tf.constant(1L));
        rows = tf.math.maximum(rows, tf.math.floorDiv(tf.math.add(lq, tf.constant((long) MAX_SLICES - 1)),
                tf.constant((long) MAX_SLICES)));
        long[] starts = new long[MAX_SLICES];
        for (int i = 0; i < MAX_SLICES; i++) {
            starts[i] = i;
        }
        // slice i holds rows [i·rows, (i+1)·rows) ∩ [0, Lq): sizes sum to Lq since MAX_SLICES·rows >= Lq
        Operand<TInt64> sizes = tf.math.minimum(tf.math.maximum(tf.math.sub(lq, tf.math.mul(rows, tf.constant(starts))),
                tf.constant(0L)), rows);
        SplitV<TFloat32> pieces = tf.splitV(qh, sizes, tf.constant(2), (long) MAX_SLICES);
        Operand<TFloat32> scale = nn.scalar(1.0 / Math.sqrt(headDim));
        List<Operand<TFloat32>> outs = new ArrayList<>();
        Operand<TFloat32> previous = null;
        for (Operand<TFloat32> piece : pieces.output()) {
            Operand<TFloat32> rowsOfQ = previous == null ? piece
                    : tf.withControlDependencies(List.of(previous)).identity(piece);
            Operand<TFloat32> scores = nn.batchMatMul(tf.math.mul(rowsOfQ, scale), kh, true);
            previous = nn.batchMatMul(tf.nn.softmax(scores), vh, false);
            outs.add(previous);
        }
        return tf.concat(outs, tf.constant(2));
    }

    /** [B, heads, L, d] → [B, L, heads·d], L and B taken from {@code q}. */
    private static Operand<TFloat32> mergeHeads(Nn nn, Operand<TFloat32> q, Operand<TFloat32> out, int heads, int headDim) {
        Operand<TFloat32> merged = nn.tf.linalg.transpose(out, nn.ints(0, 2, 1, 3));
        return nn.tf.reshape(merged, nn.shape(nn.dim(q, 0), nn.dim(q, 1), nn.ints(heads * headDim)));
    }

    /** [B, L, heads·d] → [B, heads, L, d]. */
    private static Operand<TFloat32> splitHeads(Nn nn, Operand<TFloat32> x, int heads, int headDim) {
        Operand<TFloat32> r = nn.tf.reshape(x, nn.shape(nn.dim(x, 0), nn.dim(x, 1), nn.ints(heads, headDim)));
        return nn.tf.linalg.transpose(r, nn.ints(0, 2, 1, 3));
    }
}
