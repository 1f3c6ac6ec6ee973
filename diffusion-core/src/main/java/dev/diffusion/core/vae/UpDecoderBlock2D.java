package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Resample;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * One decoder level: {@code resnets.0..layers} (one more than the encoder), then (all but the
 * last level) nearest-neighbour 2x upsampling and the 3x3 {@code upsamplers.0.conv}.
 */
final class UpDecoderBlock2D extends Module {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Conv2d upsampler;

    UpDecoderBlock2D(Nn nn, String prefix, long in, long out, boolean addUpsample, VaeConfig config) {
        super(nn, prefix);
        for (int j = 0; j < config.layersPerBlock() + 1; j++) {
            resnets.add(new ResnetBlock2D(nn, key("resnets." + j), j == 0 ? in : out, out, config.normNumGroups(), config.normEps()));
        }
        upsampler = addUpsample ? new Conv2d(nn, key("upsamplers.0.conv"), out, out, 3, 1, 1) : null;
    }

    Operand<TFloat32> apply(Operand<TFloat32> x) {
        Operand<TFloat32> h = x;
        for (ResnetBlock2D r : resnets) {
            h = r.apply(h);
        }
        return upsampler == null ? h : upsampler.apply(Resample.upsampleNearest2x(nn, h));
    }
}
