package dev.diffusion.core.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * LoRA applied at run time instead of merged into the weights: every targeted Linear and 1×1 convolution computes
 * y = x·W + b + Σ_i s[b, i] · (x·A_i)·B_i. Slot i holds one LoRA file's update in graph variables, A_i = downᵀ
 * [in, rank] and B_i = (alpha / rank) · upᵀ [rank, out] (zeros while the slot is empty; a LoRA of smaller rank is
 * zero-padded, which adds exact zeros); s [batch, slots] is fed with every call: sample b's multiplier of the LoRA
 * in slot i, 0 when sample b does not use it. So samples with different LoRA sets share one batched call, and a
 * switch is an assignment of A and B, not a model load.
 *
 * <p>The slots' A are concatenated to [in, slots × rank], so a layer adds two matmuls whatever the slot count, and
 * the per-sample scale multiplies the [tokens, slots × rank] intermediate: s · ((x·A)·B) = ((x·A) · s)·B. The
 * branch runs in float32 at any network precision.
 */
public final class LowRankAdapters {
    /**
     * Which weights get a branch and its size.
     *
     * @param targets weight key → its PyTorch shape ([out, in] or [out, in, 1, 1])
     * @param slots   LoRA files held at once
     * @param rank    the largest rank a slot takes
     */
    public record Layout(Map<String, long[]> targets, int slots, int rank) {
        public Layout {
            if (slots < 1 || rank < 1) {
                throw new IllegalArgumentException("slots and rank must be at least 1, got " + slots + " and " + rank);
            }
            targets = new LinkedHashMap<>(targets);
            for (Map.Entry<String, long[]> e : targets.entrySet()) {
                long[] s = e.getValue();
                if (!(s.length == 2 || (s.length == 4 && s[2] == 1 && s[3] == 1))) {
                    throw new IllegalArgumentException("run-time LoRA patches Linear and 1x1 convolution weights only; "
                            + e.getKey() + " has shape " + Arrays.toString(s));
                }
            }
        }
    }

    private final class Branch {
        final int in;
        final int out;
        final List<Operand<TFloat32>> a = new ArrayList<>();
        final List<Operand<TFloat32>> b = new ArrayList<>();
        final List<Placeholder<TFloat32>> aInput = new ArrayList<>();
        final List<Placeholder<TFloat32>> bInput = new ArrayList<>();
        final List<Operand<?>> assign = new ArrayList<>();

        Branch(long[] shape) {
            this.out = (int) shape[0];
            this.in = (int) shape[1];
            var tf = nn.tf;
            for (int i = 0; i < layout.slots(); i++) {
                Variable<TFloat32> va = tf.variable(Shape.of(in, layout.rank()), TFloat32.class);
                Variable<TFloat32> vb = tf.variable(Shape.of(layout.rank(), out), TFloat32.class);
                Placeholder<TFloat32> pa = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(in, layout.rank())));
                Placeholder<TFloat32> pb = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(layout.rank(), out)));
                a.add(va);
                b.add(vb);
                aInput.add(pa);
                bInput.add(pb);
                assign.add(tf.assign(va, pa));
                assign.add(tf.assign(vb, pb));
            }
        }
    }

    private final Nn nn;
    private final Layout layout;
    private final Placeholder<TFloat32> scales;
    private final Map<String, Branch> branches = new LinkedHashMap<>();

    public LowRankAdapters(Nn nn, Layout layout) {
        this.nn = nn;
        this.layout = layout;
        this.scales = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, layout.slots())));
    }

    public Layout layout() {
        return layout;
    }

    /** The per-sample multipliers [batch, slots], fed with every call. */
    public Placeholder<TFloat32> scales() {
        return scales;
    }

    /**
     * The branch of weight {@code key} on {@code flat} = x reshaped to [tokens, in], where the tokens of one sample are
     * consecutive and {@code batch} ([1]) is the sample count: Σ_i s[b, i] · (x·A_i)·B_i as [tokens, out], or null when
     * the weight is not a target.
     */
    public Operand<TFloat32> delta(String key, Operand<TFloat32> flat, Operand<TInt32> batch) {
        long[] shape = layout.targets().get(key);
        if (shape == null) {
            return null;
        }
        Branch br = branches.computeIfAbsent(key, k -> new Branch(shape));
        var tf = nn.tf;
        int slots = layout.slots();
        int rank = layout.rank();
        Operand<TFloat32> a = slots == 1 ? br.a.get(0) : tf.concat(br.a, tf.constant(1));
        Operand<TFloat32> b = slots == 1 ? br.b.get(0) : tf.concat(br.b, tf.constant(0));
        Operand<TFloat32> h = tf.linalg.matMul(flat, a); // [tokens, slots × rank]
        Operand<TFloat32> perSample = tf.reshape(h, nn.shape(batch, nn.ints(-1, slots, rank)));
        Operand<TFloat32> s = tf.reshape(scales, nn.shape(batch, nn.ints(1, slots, 1)));
        h = tf.reshape(tf.math.mul(perSample, s), nn.ints(-1, slots * rank));
        return tf.linalg.matMul(h, b);
    }

    /** Target weights no layer asked for (e.g. a 3×3 convolution's), so never patched: should be none. */
    public List<String> unbuiltTargets() {
        List<String> out = new ArrayList<>();
        for (String key : layout.targets().keySet()) {
            if (!branches.containsKey(key)) {
                out.add(key);
            }
        }
        return out;
    }

    /** Empties every slot (zeros); call once after the session exists. */
    public void clearAll(Session session) {
        for (int i = 0; i < layout.slots(); i++) {
            load(session, i, Map.of());
        }
    }

    /**
     * Puts one LoRA into slot {@code slot}: per target key, its {@code down} [rank, in] and {@code up} [out, rank]
     * (PyTorch layout, 1×1 dims dropped) and scale alpha / rank; targets it does not patch are zeroed.
     */
    public void load(Session session, int slot, Map<String, LowRank> updates) {
        if (slot < 0 || slot >= layout.slots()) {
            throw new IllegalArgumentException("slot must be 0 to " + (layout.slots() - 1) + ", got " + slot);
        }
        for (String key : updates.keySet()) {
            if (!branches.containsKey(key)) {
                throw new IllegalArgumentException("run-time LoRA: " + key + " is not one of the "
                        + branches.size() + " weights this network was built to patch");
            }
        }
        List<org.tensorflow.Tensor> open = new ArrayList<>();
        try {
            Session.Runner runner = session.runner();
            for (Map.Entry<String, Branch> e : branches.entrySet()) {
                Branch br = e.getValue();
                LowRank u = updates.get(e.getKey());
                float[] a = new float[br.in * layout.rank()];
                float[] b = new float[layout.rank() * br.out];
                if (u != null) {
                    u.fill(e.getKey(), br.in, br.out, layout.rank(), a, b);
                }
                TFloat32 ta = Tensors.of(a, br.in, layout.rank());
                TFloat32 tb = Tensors.of(b, layout.rank(), br.out);
                open.add(ta);
                open.add(tb);
                runner.feed(br.aInput.get(slot), ta).feed(br.bInput.get(slot), tb)
                        .addTarget(br.assign.get(2 * slot)).addTarget(br.assign.get(2 * slot + 1));
            }
            runner.run();
        } finally {
            open.forEach(org.tensorflow.Tensor::close);
        }
    }

    /** One weight's low-rank update ΔW = scale · up · down, PyTorch layout. */
    public record LowRank(int rank, double scale, float[] up, float[] down) {
        /** A = downᵀ [in, slotRank], B = scale · upᵀ [slotRank, out], rows/columns past {@code rank} left 0. */
        void fill(String key, int in, int out, int slotRank, float[] a, float[] b) {
            if (rank > slotRank) {
                throw new IllegalArgumentException("run-time LoRA: " + key + " has rank " + rank + "; the slots hold at most "
                        + slotRank);
            }
            if (down.length != rank * in || up.length != out * rank) {
                throw new IllegalArgumentException("run-time LoRA: " + key + " needs down [" + rank + ", " + in + "] and up ["
                        + out + ", " + rank + "]");
            }
            for (int r = 0; r < rank; r++) {
                for (int j = 0; j < in; j++) {
                    a[j * slotRank + r] = down[r * in + j];
                }
                for (int o = 0; o < out; o++) {
                    b[r * out + o] = (float) (scale * up[o * rank + r]);
                }
            }
        }
    }
}
