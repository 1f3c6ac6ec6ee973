package dev.diffusion.core.nn;

import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.TensorInfo;
import dev.diffusion.core.weights.Weights;
import dev.diffusion.core.weights.WeightsException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.FloatDataBuffer;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.op.train.BatchMatMul;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.family.TFloating;

/**
 * One network's graph while it is built: the ops, the source of its named weights, and the
 * variables that hold those weights once loaded.
 *
 * <p>Weights never become graph constants (a 3.4 GB U-Net would break protobuf's 2 GB graph limit
 * and keep a second copy). Each is a variable; {@link #loadWeights} feeds the PyTorch-layout
 * values once through a placeholder, and the graph converts them on the way in: linear weights
 * [out, in] become [in, out], convolution kernels OIHW become HWIO (TensorFlow's NHWC
 * convolutions want them so), and matmul/conv weights become bf16 under {@link Precision#BF16}.
 */
public final class Nn {
    public final Ops tf;
    public final Precision precision;
    private final Weights weights;
    private final List<PendingWeight> pending = new ArrayList<>();
    private final Set<String> devices = new TreeSet<>();
    private boolean loaded;

    /** The load runs are traced (cheap: a few runs) to learn where TensorFlow placed the variables. */
    private static final RunOptions TRACE = RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.SOFTWARE_TRACE).build();
    /** "/job:localhost/replica:0/task:0/device:GPU:0/stream:all" -> "/device:GPU:0". */
    private static final Pattern DEVICE = Pattern.compile("/device:[A-Z_]+:\\d+");

    private record PendingWeight(String key, long[] torchShape, int[] perm, Variable<?> variable,
                                 Placeholder<TFloat32> input, Operand<?> assign) {}

    /** A weight's variable: its checkpoint key and PyTorch shape (the variable may hold it transposed). */
    public record Parameter(String key, long[] torchShape, Variable<?> variable) {}

    /** Run-time LoRA branches of the Linear and 1×1 convolution layers built after it is set, or null (merged LoRAs). */
    private LowRankAdapters lowRank;

    public Nn(Graph graph, Weights weights, Precision precision) {
        this(graph, weights, precision, Long.getLong(ATTENTION_SLICE_PROPERTY, 0) << 20);
    }

    /** @param attentionSliceBytes the most bytes one slice of attention scores may take; 0: attention in one piece */
    public Nn(Graph graph, Weights weights, Precision precision, long attentionSliceBytes) {
        this.tf = Ops.create(graph);
        this.weights = weights;
        this.precision = precision;
        this.attentionSliceBytes = attentionSliceBytes;
    }

    /**
     * The system property naming the sliced-attention budget in MiB (0, the default: attention in one piece); read
     * when a network's graph is built, so it applies to networks built after it is set.
     */
    public static final String ATTENTION_SLICE_PROPERTY = "diffusion.attention.slice-mb";
    private final long attentionSliceBytes;

    /** The most bytes one slice of attention scores may take ({@link Attention}); 0: attention in one piece. */
    public long attentionSliceBytes() {
        return attentionSliceBytes;
    }

    /** Gives the layers built from now on run-time LoRA branches for the layout's target weights. */
    public LowRankAdapters lowRank(LowRankAdapters.Layout layout) {
        lowRank = new LowRankAdapters(this, layout);
        return lowRank;
    }

    /** The run-time LoRA branches, or null. */
    public LowRankAdapters lowRank() {
        return lowRank;
    }

    // ---------------------------------------------------------------- weights

    /** A float32 tensor stored as it is in the checkpoint (biases, norm scales, embeddings). */
    public Operand<TFloat32> param(String key, long... torchShape) {
        return variable(key, torchShape, null, false);
    }

    /** A linear layer's weight, stored [out, in], held as [in, out] at the compute precision. */
    public Operand<? extends TFloating> linearWeight(String key, long out, long in) {
        return variable(key, new long[] {out, in}, new int[] {1, 0}, true);
    }

    /** A convolution kernel, stored OIHW, held as HWIO at the compute precision. */
    public Operand<? extends TFloating> convWeight(String key, long out, long in, long kh, long kw) {
        return variable(key, new long[] {out, in, kh, kw}, new int[] {2, 3, 1, 0}, true);
    }

    @SuppressWarnings("unchecked")
    private <T extends TFloating> Operand<T> variable(String key, long[] torchShape, int[] perm, boolean compute) {
        if (loaded) {
            throw new IllegalStateException("weights already loaded; cannot add " + key);
        }
        if (weights instanceof dev.diffusion.core.weights.RandomWeights random) {
            random.declare(key, torchShape, compute); // compute: a linear or convolution weight
        }
        TensorInfo info;
        try {
            info = weights.info(key);
        } catch (WeightsException e) {
            throw new WeightsException("missing weight " + key + " (expected shape " + Arrays.toString(torchShape) + ")", e);
        }
        if (!sameShape(info.shape(), torchShape)) {
            throw new WeightsException("weight " + key + " has shape " + Arrays.toString(info.shape())
                    + " but the model config needs " + Arrays.toString(torchShape));
        }
        Ops init = tf;
        Placeholder<TFloat32> input = init.placeholder(TFloat32.class, Placeholder.shape(Shape.of(torchShape)));
        Operand<TFloat32> value = perm == null ? input : init.linalg.transpose(input, init.constant(perm));
        long[] heldShape = perm == null ? torchShape : permute(torchShape, perm);
        Class<T> type = (Class<T>) (compute && precision == Precision.BF16 ? TBfloat16.class : TFloat32.class);
        Operand<T> cast = type == TFloat32.class ? (Operand<T>) value : init.dtypes.cast(value, type);
        Variable<T> variable = tf.variable(Shape.of(heldShape), type);
        Operand<?> assign = tf.assign(variable, cast);
        pending.add(new PendingWeight(key, torchShape, perm, variable, input, assign));
        return variable;
    }

    private static boolean sameShape(long[] a, long[] b) {
        return Arrays.equals(a, b);
    }

    private static long[] permute(long[] shape, int[] perm) {
        long[] out = new long[shape.length];
        for (int i = 0; i < perm.length; i++) {
            out[i] = shape[perm[i]];
        }
        return out;
    }

    /** The variables holding this network's weights, in the order they were asked for (for training). */
    public List<Parameter> parameters() {
        List<Parameter> out = new ArrayList<>(pending.size());
        for (PendingWeight w : pending) {
            out.add(new Parameter(w.key, w.torchShape.clone(), w.variable));
        }
        return out;
    }

    /**
     * The weights as the session holds them now, back in checkpoint layout (float32, PyTorch
     * shapes, under the keys they were read from): what a trainer exports.
     */
    @SuppressWarnings("unchecked")
    public MapWeights readWeights(Session session) {
        // all read ops first, then few runs: every run after the graph grew re-extends the session
        List<Operand<TFloat32>> reads = new ArrayList<>(pending.size());
        for (PendingWeight w : pending) {
            Operand<TFloat32> value = w.variable.type() == TFloat32.class
                    ? (Operand<TFloat32>) w.variable : tf.dtypes.cast(w.variable, TFloat32.class);
            reads.add(w.perm == null ? value : tf.linalg.transpose(value, tf.constant(inverse(w.perm))));
        }
        MapWeights out = new MapWeights();
        int from = 0;
        while (from < pending.size()) {
            Session.Runner runner = session.runner();
            long bytes = 0;
            int to = from;
            while (to < pending.size() && (to == from || bytes < (256L << 20))) {
                runner.fetch(reads.get(to));
                bytes += 4 * elements(pending.get(to).torchShape);
                to++;
            }
            try (org.tensorflow.Result r = runner.run()) {
                for (int i = from; i < to; i++) {
                    PendingWeight w = pending.get(i);
                    out.put(w.key, w.torchShape.clone(), Tensors.toFloats((TFloat32) r.get(i - from)));
                }
            }
            from = to;
        }
        return out;
    }

    private static int[] inverse(int[] perm) {
        int[] inv = new int[perm.length];
        for (int i = 0; i < perm.length; i++) {
            inv[perm[i]] = i;
        }
        return inv;
    }

    /** Number of weight tensors this network reads. */
    public int weightCount() {
        return pending.size();
    }

    /** Total weight elements this network reads. */
    public long weightElements() {
        long n = 0;
        for (PendingWeight w : pending) {
            n += elements(w.torchShape);
        }
        return n;
    }

    /**
     * Reads every weight from the source and assigns its variable, a batch of about {@code bytesPerRun} at a time,
     * so that only one copy of the model (and two batches) stays in memory. A second thread reads and converts the
     * next batch from the file while TensorFlow transposes and assigns this one, so a load keeps two cores busy.
     */
    public void loadWeights(Session session, long bytesPerRun) {
        List<List<PendingWeight>> batches = new ArrayList<>();
        long batchBytes = bytesPerRun;
        for (PendingWeight w : pending) {
            if (batchBytes >= bytesPerRun) {
                batches.add(new ArrayList<>());
                batchBytes = 0;
            }
            batches.get(batches.size() - 1).add(w);
            batchBytes += 4L * elements(w.torchShape);
        }
        ExecutorService reader = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "weights-reader");
            t.setDaemon(true);
            return t;
        });
        Future<List<TFloat32>> next = batches.isEmpty() ? null : reader.submit(() -> read(batches.get(0)));
        try {
            for (int b = 0; b < batches.size(); b++) {
                List<TFloat32> tensors = await(next);
                next = null;
                try {
                    if (b + 1 < batches.size()) {
                        List<PendingWeight> following = batches.get(b + 1);
                        next = reader.submit(() -> read(following));
                    }
                    Session.Runner runner = session.runner();
                    List<PendingWeight> batch = batches.get(b);
                    for (int k = 0; k < batch.size(); k++) {
                        runner.feed(batch.get(k).input, tensors.get(k)).addTarget(batch.get(k).assign);
                    }
                    runTraced(runner);
                } finally {
                    closeAll(tensors);
                }
            }
        } finally {
            if (next != null) { // a failed run: the batch being read is still ours to close
                try {
                    closeAll(await(next));
                } catch (RuntimeException ignored) {
                    // the first failure is the one reported
                }
            }
            reader.shutdownNow();
        }
        loaded = true;
    }

    /** The float32 values of a batch's weights in the checkpoint's layout, one tensor each (closed by the caller). */
    private List<TFloat32> read(List<PendingWeight> batch) {
        List<TFloat32> open = new ArrayList<>();
        try {
            for (PendingWeight w : batch) {
                long expected = elements(w.torchShape);
                TFloat32 t = TFloat32.tensorOf(Shape.of(w.torchShape));
                open.add(t);
                FloatDataBuffer dst = t.asRawTensor().data().asFloats();
                long[] written = {0};
                weights.readChunks(w.key, (chunk, n) -> {
                    if (written[0] + n > expected) {
                        throw new WeightsException("weight " + w.key + " has more than the " + expected + " values its shape holds");
                    }
                    dst.offset(written[0]).write(chunk, 0, n);
                    written[0] += n;
                });
                if (written[0] != expected) {
                    throw new WeightsException("weight " + w.key + " has " + written[0] + " values, expected " + expected);
                }
            }
            return open;
        } catch (RuntimeException | Error e) {
            closeAll(open);
            throw e;
        }
    }

    /** The reader's result, its failure rethrown as it was thrown. */
    private static <T> T await(Future<T> future) {
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while loading weights", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    private void runTraced(Session.Runner runner) {
        try (Result result = runner.setOptions(TRACE).runAndFetchMetadata()) {
            result.getMetadata().ifPresent(m -> {
                for (DeviceStepStats d : m.getStepStats().getDevStatsList()) {
                    Matcher device = DEVICE.matcher(d.getDevice());
                    if (device.find()) {
                        devices.add(device.group());
                    }
                }
            });
        }
    }

    /** Where TensorFlow ran the weights' assignments, i.e. placed the variables: {@code /device:CPU:0}, {@code /device:GPU:0}. */
    public List<String> devices() {
        return List.copyOf(devices);
    }

    private static void closeAll(List<? extends org.tensorflow.Tensor> tensors) {
        for (org.tensorflow.Tensor t : tensors) {
            t.close();
        }
        tensors.clear();
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    // ---------------------------------------------------------------- compute at the network's precision

    /** x [N, in] times w [in, out]. */
    public Operand<TFloat32> matmul(Operand<TFloat32> x, Operand<? extends TFloating> w) {
        return matmul(x, w, null);
    }

    /**
     * x [N, in] times w [in, out], plus {@code bias} [out] when it is not null. Under bf16 the bias is added before
     * the one cast back to float32, so that TensorFlow fuses product and bias into one oneDNN call as it does in
     * float32 (the bias is rounded to bf16 like the product it is added to).
     */
    @SuppressWarnings("unchecked")
    public Operand<TFloat32> matmul(Operand<TFloat32> x, Operand<? extends TFloating> w, Operand<TFloat32> bias) {
        if (precision == Precision.BF16) {
            Operand<TBfloat16> y = tf.linalg.matMul(tf.dtypes.cast(x, TBfloat16.class), (Operand<TBfloat16>) w);
            return tf.dtypes.cast(bias == null ? y : tf.nn.biasAdd(y, tf.dtypes.cast(bias, TBfloat16.class)), TFloat32.class);
        }
        Operand<TFloat32> y = tf.linalg.matMul(x, (Operand<TFloat32>) w);
        return bias == null ? y : tf.math.add(y, bias);
    }

    /** NHWC convolution with an HWIO kernel; padding "VALID" or "SAME"; plus {@code bias} [out] when not null (see {@link #matmul(Operand, Operand, Operand)}). */
    @SuppressWarnings("unchecked")
    public Operand<TFloat32> conv2d(Operand<TFloat32> x, Operand<? extends TFloating> w, int stride, String padding,
                                    Operand<TFloat32> bias) {
        List<Long> strides = List.of(1L, (long) stride, (long) stride, 1L);
        if (precision == Precision.BF16) {
            Operand<TBfloat16> y = tf.nn.conv2d(tf.dtypes.cast(x, TBfloat16.class), (Operand<TBfloat16>) w, strides, padding);
            return tf.dtypes.cast(bias == null ? y : tf.nn.biasAdd(y, tf.dtypes.cast(bias, TBfloat16.class)), TFloat32.class);
        }
        Operand<TFloat32> y = tf.nn.conv2d(x, (Operand<TFloat32>) w, strides, padding);
        return bias == null ? y : tf.math.add(y, bias);
    }

    /**
     * Batched a·b (or a·bᵀ with {@code transposeB}) over leading axes (attention's scores and weighted values), in
     * float32 at either precision: these products have no weights to keep small, and on this CPU TensorFlow's bf16
     * batched product is no faster than float32's once its four casts are paid (./sd bench --profile), while float32
     * keeps the softmax's inputs exact.
     */
    public Operand<TFloat32> batchMatMul(Operand<TFloat32> a, Operand<TFloat32> b, boolean transposeB) {
        return tf.train.batchMatMul(a, b, TFloat32.class, BatchMatMul.adjY(transposeB));
    }

    // ---------------------------------------------------------------- shape helpers

    /** The dynamic size of axis {@code axis} of x, as a [1] int32 tensor (for building shapes). */
    public Operand<TInt32> dim(Operand<?> x, int axis) {
        return tf.slice(tf.shape(x), tf.constant(new int[] {axis}), tf.constant(new int[] {1}));
    }

    /** Concatenates [1]-shaped int32 pieces (from {@link #dim} or {@link #ints}) into a shape. */
    @SafeVarargs
    public final Operand<TInt32> shape(Operand<TInt32>... pieces) {
        return tf.concat(Arrays.asList(pieces), tf.constant(0));
    }

    public Operand<TInt32> ints(int... values) {
        return tf.constant(values);
    }

    public Operand<TFloat32> scalar(double v) {
        return tf.constant((float) v);
    }
}
