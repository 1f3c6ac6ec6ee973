package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.weights.Weights;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/** A test graph of one block with two float inputs (e.g. features and time embedding, or tokens and context). */
final class TwoInputNet extends TfNetwork {
    interface Builder {
        Operand<TFloat32> build(Nn nn, Operand<TFloat32> a, Operand<TFloat32> b);
    }

    private final Placeholder<TFloat32> a;
    private final Placeholder<TFloat32> b;
    private final Operand<TFloat32> out;

    TwoInputNet(Weights weights, Precision precision, int rankA, int rankB, Builder builder) {
        super(weights, precision);
        // every dimension left free, as in the U-Net graph
        a = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(unknownDims(rankA))));
        b = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(unknownDims(rankB))));
        out = builder.build(nn, a, b);
        load();
    }

    private static long[] unknownDims(int rank) {
        long[] d = new long[rank];
        java.util.Arrays.fill(d, -1);
        return d;
    }

    float[] run(float[] va, long[] shapeA, float[] vb, long[] shapeB) {
        try (TFloat32 ta = Tensors.of(va, shapeA);
             TFloat32 tb = Tensors.of(vb, shapeB);
             Result r = session().runner().feed(a, ta).feed(b, tb).fetch(out).run()) {
            return Tensors.toFloats((TFloat32) r.get(0));
        }
    }

    static float[] runOnce(Weights weights, float[] va, long[] shapeA, float[] vb, long[] shapeB, Builder builder) {
        try (TwoInputNet net = new TwoInputNet(weights, Precision.FP32, shapeA.length, shapeB.length, builder)) {
            return net.run(va, shapeA, vb, shapeB);
        }
    }
}
