package dev.diffusion.trainer;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.weights.MapWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TType;

/**
 * A network built for training in a graph this class owns: the forward pass through the same
 * module tree as inference ({@link Nn} over freshly initialised weights), a scalar loss, Adam on
 * every weight variable ({@link Graph#addGradients} via tensorflow-framework's optimizer), and an
 * exponential moving average of the weights, which is what gets exported (EMA weights sample
 * better than the last step's; Ho et al. 2020 §B).
 */
final class TrainingGraph implements AutoCloseable {
    final Graph graph = TfNetwork.newGraph();
    final Nn nn;
    final Ops tf;
    private final Operand<TFloat32> loss;
    private final Op minimize;
    private final List<Op> emaUpdates = new ArrayList<>();
    private final List<Op> emaInits = new ArrayList<>();
    private final List<Op> emaToWeights = new ArrayList<>();
    private final List<Op> weightsToBackup = new ArrayList<>();
    private final List<Op> backupToWeights = new ArrayList<>();
    private final Session session;
    private final Placeholder<TFloat32> emaRate;
    private final Placeholder<TFloat32> learningRateFeed;
    private final double emaDecay;
    private final float learningRate;
    private double learningRateScale = 1;
    private int steps;

    /**
     * @param build   builds the forward pass and returns the loss, given the graph's {@link Nn}
     * @param shapes  builds the same networks (used once to learn their weight shapes)
     */
    TrainingGraph(Function<Nn, Operand<TFloat32>> build, Consumer<Nn> shapes, long seed, float learningRate,
                  double emaDecay) {
        this(build, shapes, seed, learningRate, emaDecay, null);
    }

    /** @param start the weights to start from (same keys and shapes), or null for fresh ones from {@code seed} */
    TrainingGraph(Function<Nn, Operand<TFloat32>> build, Consumer<Nn> shapes, long seed, float learningRate,
                  double emaDecay, MapWeights start) {
        MapWeights initial = start != null ? start : InitialWeights.of(shapes, seed);
        nn = new Nn(graph, initial, Precision.FP32);
        tf = nn.tf;
        loss = build.apply(nn);
        ScheduledAdam adam = new ScheduledAdam(graph);
        minimize = adam.minimize(loss);
        learningRateFeed = adam.learningRate();
        this.learningRate = learningRate;
        this.emaDecay = emaDecay;
        emaRate = tf.placeholder(TFloat32.class, Placeholder.shape(org.tensorflow.ndarray.Shape.scalar()));
        for (Nn.Parameter p : nn.parameters()) {
            @SuppressWarnings("unchecked")
            Variable<TFloat32> weight = (Variable<TFloat32>) p.variable();
            Variable<TFloat32> ema = tf.variable(weight.shape(), TFloat32.class);
            emaInits.add(tf.assign(ema, weight));
            emaUpdates.add(tf.assignSub(ema, tf.math.mul(tf.math.sub(ema, weight), emaRate)));
            emaToWeights.add(tf.assign(weight, ema));
            Variable<TFloat32> backup = tf.variable(weight.shape(), TFloat32.class);
            weightsToBackup.add(tf.assign(backup, weight));
            backupToWeights.add(tf.assign(weight, backup));
        }
        session = new Session(graph, TfNetwork.sessionConfig());
        nn.loadWeights(session, 256L << 20);
        session.initialize();
        Session.Runner r = session.runner();
        emaInits.forEach(r::addTarget);
        r.run();
    }

    /** The learning rate of the next steps: the one given at construction times {@code scale} (a schedule's factor). */
    void scaleLearningRate(double scale) {
        learningRateScale = scale;
    }

    /**
     * The moving average is updated every this many steps, not every step: its ~500 small assign ops cost
     * 0.1 s a step on the demo U-Net (14 % of the step), and an average over ~1,000 steps loses nothing by
     * sampling every fourth.
     */
    static final int EMA_EVERY = 4;

    /**
     * The rate of an update of the average at step {@code step} ({@link #EMA_EVERY} steps since the last):
     * 1 − d^EMA_EVERY, the decay d warming up as in diffusers' EMAModel, min(decay, (1 + step)/(10 + step)),
     * so the average soon forgets the initial weights.
     */
    static double averagingRate(int step, double emaDecay) {
        double d = Math.min(emaDecay, (1.0 + step) / (10.0 + step));
        return 1 - Math.pow(d, EMA_EVERY);
    }

    /** One optimisation step on the fed batch; returns the loss before the update. */
    float step(Map<Placeholder<?>, Tensor> feeds) {
        Session.Runner r = session.runner();
        feeds.forEach((p, t) -> feed(r, p, t));
        r.addTarget(minimize);
        try (TFloat32 lr = TFloat32.scalarOf((float) (learningRate * learningRateScale));
             Result out = r.feed(learningRateFeed, lr).fetch(loss).run()) {
            float value = ((TFloat32) out.get(0)).getFloat();
            steps++;
            if (steps % EMA_EVERY == 0) {
                try (TFloat32 rate = TFloat32.scalarOf((float) averagingRate(steps, emaDecay))) {
                    Session.Runner ema = session.runner().feed(emaRate, rate);
                    emaUpdates.forEach(ema::addTarget);
                    ema.run();
                }
            }
            return value;
        }
    }

    /** The loss on a batch, without training. */
    float evaluate(Map<Placeholder<?>, Tensor> feeds) {
        Session.Runner r = session.runner();
        feeds.forEach((p, t) -> feed(r, p, t));
        try (Result out = r.fetch(loss).run()) {
            return ((TFloat32) out.get(0)).getFloat();
        }
    }

    /** Runs {@code outputs} on the fed inputs, returning them as float arrays. */
    List<float[]> run(Map<Placeholder<?>, Tensor> feeds, List<Operand<TFloat32>> outputs) {
        Session.Runner r = session.runner();
        feeds.forEach((p, t) -> feed(r, p, t));
        outputs.forEach(r::fetch);
        try (Result out = r.run()) {
            List<float[]> values = new ArrayList<>();
            for (int i = 0; i < outputs.size(); i++) {
                values.add(dev.diffusion.core.nn.Tensors.toFloats((TFloat32) out.get(i)));
            }
            return values;
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void feed(Session.Runner r, Placeholder<?> p, Tensor t) {
        r.feed((Operand) p, (TType) t);
    }

    /** Copies the moving averages into the weights (for export or sampling); training should stop after. */
    void useAveragedWeights() {
        Session.Runner r = session.runner();
        emaToWeights.forEach(r::addTarget);
        r.run();
    }

    /** The moving averages, in checkpoint layout, without disturbing training (for snapshots). */
    MapWeights averagedWeights() {
        runTargets(weightsToBackup);
        runTargets(emaToWeights);
        MapWeights averaged = nn.readWeights(session);
        runTargets(backupToWeights);
        return averaged;
    }

    private void runTargets(List<Op> ops) {
        Session.Runner r = session.runner();
        ops.forEach(r::addTarget);
        r.run();
    }

    /** The weights now, in checkpoint layout under their diffusers keys. */
    MapWeights weights() {
        return nn.readWeights(session);
    }

    @Override
    public void close() {
        session.close();
        graph.close();
    }
}
