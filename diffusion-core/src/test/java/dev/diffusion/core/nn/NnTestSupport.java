package dev.diffusion.core.nn;

import dev.diffusion.core.weights.Weights;
import java.util.function.Function;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/** Builds a one-input graph from layers, loads the given weights, runs it once on float input. */
public final class NnTestSupport {
    private NnTestSupport() {}

    public static float[] run(Weights weights, Precision precision, long[] inputShape, float[] input,
                              Function<Nn, Function<Operand<TFloat32>, Operand<TFloat32>>> build) {
        final class Net extends TfNetwork {
            final Placeholder<TFloat32> in;
            final Operand<TFloat32> out;

            Net() {
                super(weights, precision);
                in = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(inputShape)));
                out = build.apply(nn).apply(in);
                load();
            }

            float[] run(float[] x) {
                try (TFloat32 t = Tensors.of(x, inputShape);
                     Result r = session().runner().feed(in, t).fetch(out).run()) {
                    return Tensors.toFloats((TFloat32) r.get(0));
                }
            }
        }
        try (Net net = new Net()) {
            return net.run(input);
        }
    }
}
