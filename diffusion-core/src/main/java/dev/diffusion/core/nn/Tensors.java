package dev.diffusion.core.nn;

import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.types.TFloat32;

/** Copies between Java float arrays and TensorFlow tensors. */
public final class Tensors {
    private Tensors() {}

    /** A new float32 tensor holding a copy of {@code values}; the caller closes it. */
    public static TFloat32 of(float[] values, long... shape) {
        long n = Shape.of(shape).size();
        if (n != values.length) {
            throw new IllegalArgumentException("shape " + Shape.of(shape) + " holds " + n + " values, got " + values.length);
        }
        return TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(values, true, false));
    }

    /** The tensor's values in row-major order. */
    public static float[] toFloats(TFloat32 t) {
        float[] values = new float[Math.toIntExact(t.shape().size())];
        t.copyTo(DataBuffers.of(values, false, false));
        return values;
    }
}
