package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/** {@code resnets.0} → {@code attentions.0} (when the config has it) → {@code resnets.1}, at constant width. */
final class UNetMidBlock2D extends Module {
    private final ResnetBlock2D resnet0;
    private final MidBlockAttention attention;
    private final ResnetBlock2D resnet1;

    UNetMidBlock2D(Nn nn, String prefix, long channels, VaeConfig config) {
        super(nn, prefix);
        resnet0 = new ResnetBlock2D(nn, key("resnets.0"), channels, channels, config.normNumGroups(), config.normEps());
        attention = config.midBlockAttention()
                ? new MidBlockAttention(nn, key("attentions.0"), channels, config.normNumGroups(), config.normEps())
                : null;
        resnet1 = new ResnetBlock2D(nn, key("resnets.1"), channels, channels, config.normNumGroups(), config.normEps());
    }

    Operand<TFloat32> apply(Operand<TFloat32> x) {
        Operand<TFloat32> h = resnet0.apply(x);
        if (attention != null) {
            h = attention.apply(h);
        }
        return resnet1.apply(h);
    }
}
