package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * One encoder level: {@code resnets.0..layers-1}, then (all but the last level) a stride-2 3x3
 * {@code downsamplers.0.conv}. The VAE's {@code Downsample2D} has padding 0 and pads the input by
 * one zero row at the bottom and one zero column at the right first ({@code F.pad(x, (0, 1, 0, 1))}
 * in diffusers, {@code ggml_pad(x, 1, 1)} in sd.cpp), unlike the U-Net's symmetric padding 1.
 */
final class DownEncoderBlock2D extends Module {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Conv2d downsampler;

    DownEncoderBlock2D(Nn nn, String prefix, long in, long out, boolean addDownsample, VaeConfig config) {
        super(nn, prefix);
        for (int j = 0; j < config.layersPerBlock(); j++) {
            resnets.add(new ResnetBlock2D(nn, key("resnets." + j), j == 0 ? in : out, out, config.normNumGroups(), config.normEps()));
        }
        downsampler = addDownsample ? new Conv2d(nn, key("downsamplers.0.conv"), out, out, 3, 2, 0) : null;
    }

    Operand<TFloat32> apply(Operand<TFloat32> x) {
        Operand<TFloat32> h = x;
        for (ResnetBlock2D r : resnets) {
            h = r.apply(h);
        }
        return downsampler == null ? h : downsample(downsampler, h);
    }

    /** Pads (top 0, bottom 1, left 0, right 1), then the stride-2 valid convolution. */
    static Operand<TFloat32> downsample(Conv2d conv, Operand<TFloat32> x) {
        return conv.apply(x, 0, 1, 0, 1);
    }
}
