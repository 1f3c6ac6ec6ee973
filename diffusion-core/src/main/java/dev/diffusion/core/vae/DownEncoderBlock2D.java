package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Downsample2D;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * One encoder level: {@code resnets.0..layers-1}, then (all but the last level) a {@link Downsample2D}
 * ({@code downsamplers.0}) with padding 0, as diffusers' {@code DownEncoderBlock2D} builds it: the
 * input is padded by one zero row at the bottom and one zero column at the right, unlike the SD 1.x
 * U-Net's symmetric padding 1.
 */
final class DownEncoderBlock2D extends Module {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler;

    DownEncoderBlock2D(Nn nn, String prefix, long in, long out, boolean addDownsample, VaeConfig config) {
        super(nn, prefix);
        for (int j = 0; j < config.layersPerBlock(); j++) {
            resnets.add(new ResnetBlock2D(nn, key("resnets." + j), j == 0 ? in : out, out, config.normNumGroups(), config.normEps()));
        }
        downsampler = addDownsample ? new Downsample2D(nn, key("downsamplers.0"), out, 0) : null;
    }

    Operand<TFloat32> apply(Operand<TFloat32> x) {
        Operand<TFloat32> h = x;
        for (ResnetBlock2D r : resnets) {
            h = r.apply(h);
        }
        return downsampler == null ? h : downsampler.apply(h);
    }
}
