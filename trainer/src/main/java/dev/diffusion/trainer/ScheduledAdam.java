package dev.diffusion.trainer;

import java.util.List;
import java.util.Optional;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TType;

/**
 * Adam (Kingma &amp; Ba 2015, Algorithm 1 with the bias correction folded into the step size, as
 * TensorFlow's {@code ApplyAdam} kernel computes it) whose learning rate is fed on every step
 * through {@link #learningRate()}, so a run can decay it; tensorflow-framework's {@code Adam}
 * bakes its rate into the graph as a constant. Same defaults as that one: β₁ 0.9, β₂ 0.999, ε 1e-8.
 */
final class ScheduledAdam extends org.tensorflow.framework.optimizers.Optimizer {
    static final float BETA_ONE = 0.9f;
    static final float BETA_TWO = 0.999f;
    static final float EPSILON = 1e-8f;

    private final Placeholder<TFloat32> learningRate;
    private Variable<TFloat32> betaOnePower;
    private Variable<TFloat32> betaTwoPower;

    ScheduledAdam(Graph graph) {
        super(graph);
        learningRate = tf.withName("scheduled_adam_learning_rate").placeholder(TFloat32.class,
                Placeholder.shape(Shape.scalar()));
    }

    /** The scalar to feed with the step's learning rate whenever the op {@link #minimize} returned runs. */
    Placeholder<TFloat32> learningRate() {
        return learningRate;
    }

    @Override
    protected void createSlots(List<Output<? extends TType>> variables) {
        for (Output<? extends TType> v : variables) {
            createMoments(v);
        }
        betaOnePower = power("beta1_power", BETA_ONE);
        betaTwoPower = power("beta2_power", BETA_TWO);
    }

    private <T extends TType> void createMoments(Output<T> v) {
        createSlot(v, "m", tf.fill(tf.shape(v), tf.dtypes.cast(tf.constant(0f), v.type())));
        createSlot(v, "v", tf.fill(tf.shape(v), tf.dtypes.cast(tf.constant(0f), v.type())));
    }

    /** β^t, starting at β (step 1); multiplied by β after every step. */
    private Variable<TFloat32> power(String name, float beta) {
        Ops init = tf.withInitScope();
        Variable<TFloat32> p = init.withName("scheduled_adam_" + name).variable(Shape.scalar(), TFloat32.class);
        init.assign(p, init.constant(beta));
        return p;
    }

    @Override
    protected Optional<Op> prepare(String scopeName) {
        return Optional.empty();
    }

    @Override
    protected <T extends TType> Op applyDense(Ops ops, Output<T> gradient, Output<T> variable) {
        Class<T> type = gradient.type();
        return ops.train.applyAdam(variable, getSlot(variable, "m").orElseThrow(), getSlot(variable, "v").orElseThrow(),
                ops.dtypes.cast(betaOnePower, type), ops.dtypes.cast(betaTwoPower, type), ops.dtypes.cast(learningRate, type),
                cast(ops, BETA_ONE, type), cast(ops, BETA_TWO, type), cast(ops, EPSILON, type), gradient);
    }

    private static <T extends TType> Operand<T> cast(Ops ops, float value, Class<T> type) {
        return ops.dtypes.cast(ops.constant(value), type);
    }

    @Override
    protected Op finish(List<Op> updates, String name) {
        // the powers advance after the updates that read them (applyAdam reads them as inputs, so they are ordered)
        Ops after = tf.withControlDependencies(updates);
        Op one = after.assign(betaOnePower, after.math.mul(betaOnePower, after.constant(BETA_ONE)));
        Op two = after.assign(betaTwoPower, after.math.mul(betaTwoPower, after.constant(BETA_TWO)));
        return super.finish(new java.util.ArrayList<>(List.of(one, two)), name);
    }

    @Override
    public String getOptimizerName() {
        return "ScheduledAdam";
    }
}
