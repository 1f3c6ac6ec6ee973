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

    /**
     * Nearest-neighbour upsampling of {@code x} to the height and width of {@code like}: output row {@code i} reads
     * input row {@code floor(i * in / out)}, as {@code F.interpolate(size=..., mode="nearest")}. Where {@code like}
     * is exactly twice {@code x} this is {@link #upsampleNearest2x}; where it is one less (a U-Net's skip connection
     * after a stride-2 convolution of an odd side) it is the 2× upsampling without its last row or column.
     */
    public static Operand<TFloat32> upsampleNearestTo(Nn nn, Operand<TFloat32> x, Operand<TFloat32> like) {
        var tf = nn.tf;
        return tf.image.resizeNearestNeighbor(x, tf.slice(tf.shape(like), nn.ints(1), nn.ints(2)));
    }
}
