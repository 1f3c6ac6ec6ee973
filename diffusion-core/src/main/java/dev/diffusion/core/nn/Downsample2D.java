package dev.diffusion.core.nn;

import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code Downsample2D} with a convolution (the U-Net's and the VAE encoder's
 * {@code downsamplers.0}): a stride-2 3×3 {@code conv} that halves height and width. With
 * {@code padding} 1 (the SD 1.x U-Net) the input is padded symmetrically by one; with
 * {@code padding} 0 (the VAE encoder, and U-Nets whose config says {@code downsample_padding: 0})
 * diffusers first pads one zero row at the bottom and one zero column at the right
 * ({@code F.pad(x, (0, 1, 0, 1))}; {@code ggml_pad(x, 1, 1)} in stable-diffusion.cpp), then
 * convolves unpadded. Either way an even side 2n becomes n.
 */
public final class Downsample2D extends Module {
    private final Conv2d conv;

    /** @param prefix the module's key, e.g. {@code down_blocks.0.downsamplers.0} (its weights are {@code conv.*}) */
    public Downsample2D(Nn nn, String prefix, long channels, int padding) {
        super(nn, prefix);
        if (padding != 0 && padding != 1) {
            throw new IllegalArgumentException("downsample padding must be 0 or 1, got " + padding);
        }
        this.conv = new Conv2d(nn, key("conv"), channels, channels, 3, 2, padding);
    }

    public Operand<TFloat32> apply(Operand<TFloat32> x) {
        return conv.padding == 0 ? conv.apply(x, 0, 1, 0, 1) : conv.apply(x);
    }
}
