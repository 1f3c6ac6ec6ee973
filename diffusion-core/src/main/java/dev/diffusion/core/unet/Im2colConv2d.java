package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TFloating;

/**
 * A stride-1 "same" k×k convolution computed as patches × matrix (im2col): the k·k·in patch of every pixel
 * times the HWIO kernel viewed as [k·k·in, out]. Same weights and keys as {@link Conv2d}.
 *
 * <p>Why: oneDNN's CPU convolution re-lays-out a kernel that is not a graph constant on every call, which costs
 * more than the arithmetic when there are few pixels per weight (the 1280-channel levels of the SD U-Net at
 * 8×8 and 4×4: measured 2-4× faster this way on a 2-core AVX-512 machine, while 320-channel convolutions at
 * 32×32 are faster as convolutions). Whole SD 1.5 step, batch 2 at 32×32, process CPU time: fp32 5.2 s all
 * direct, 4.0 s with im2col from 1280 channels, 3.9 s from 640, 4.2 s from 320; bf16 2.7 / 2.5 / 2.7 / 2.9 s.
 * {@link #forChannels} picks between the two. On a GPU, cuDNN's convolutions would likely win everywhere.
 */
public final class Im2colConv2d extends Module {
    /** Convolutions with at least this many output channels use im2col (from measurements, see the class comment); tests vary it. */
    static int minOutChannels = 1280;

    private final long in;
    private final long out;
    private final int kernel;
    private final Operand<? extends TFloating> weight;
    private final Operand<TFloat32> bias;

    public Im2colConv2d(Nn nn, String prefix, long in, long out, int kernel) {
        super(nn, prefix);
        if (kernel % 2 != 1) {
            throw new IllegalArgumentException(prefix + ": 'same' im2col convolution needs an odd kernel, got " + kernel);
        }
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.weight = nn.convWeight(key("weight"), out, in, kernel, kernel);
        this.bias = nn.param(key("bias"), out);
    }

    /** A stride-1 convolution with "same" padding, as im2col for wide layers and as a plain convolution otherwise. */
    public interface Conv {
        Operand<TFloat32> apply(Operand<TFloat32> x);
    }

    public static Conv forChannels(Nn nn, String prefix, long in, long out, int kernel) {
        if (out >= minOutChannels && kernel > 1) {
            return new Im2colConv2d(nn, prefix, in, out, kernel)::apply;
        }
        return new Conv2d(nn, prefix, in, out, kernel, 1, kernel / 2)::apply;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    public Operand<TFloat32> apply(Operand<TFloat32> x) {
        var tf = nn.tf;
        long k = kernel;
        // "SAME" with stride 1 and an odd kernel pads (k-1)/2 on every side, as PyTorch's padding=k//2 does
        Operand<TFloat32> patches = tf.image.extractImagePatches(x, List.of(1L, k, k, 1L), List.of(1L, 1L, 1L, 1L),
                List.of(1L, 1L, 1L, 1L), "SAME");
        Operand<TFloat32> rows = tf.reshape(patches, nn.ints(-1, (int) (k * k * in)));
        Operand<? extends TFloating> matrix = tf.reshape((Operand) weight, nn.ints((int) (k * k * in), (int) out));
        Operand<TFloat32> y = nn.matmul(rows, matrix, bias);
        return tf.reshape(y, nn.shape(nn.dim(x, 0), nn.dim(x, 1), nn.dim(x, 2), nn.ints((int) out)));
    }
}
