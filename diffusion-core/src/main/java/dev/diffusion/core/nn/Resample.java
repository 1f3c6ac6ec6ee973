package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/** Shape changes of NHWC feature maps. */
public final class Resample {
    private Resample() {}

    /** Nearest-neighbour ×2 upsampling: each pixel becomes a 2×2 block ({@code F.interpolate(scale_factor=2)}). */
    public static Operand<TFloat32> upsampleNearest2x(Nn nn, Operand<TFloat32> x) {
        var tf = nn.tf;
        Operand<TInt32> hw = tf.slice(tf.shape(x), nn.ints(1), nn.ints(2));
        return tf.image.resizeNearestNeighbor(x, tf.math.mul(hw, nn.ints(2)));
    }
}
