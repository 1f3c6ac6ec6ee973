package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/** diffusers {@code UNetMidBlock2DCrossAttn} with one attention: resnets.0 → attentions.0 → resnets.1 at the deepest width. */
public final class UNetMidBlock2DCrossAttn extends Module {
    private final ResnetBlock2D resnet0;
    private final Transformer2DModel attention;
    private final ResnetBlock2D resnet1;

    public UNetMidBlock2DCrossAttn(Nn nn, String prefix, UNetConfig config) {
        super(nn, prefix);
        int last = config.blockCount() - 1;
        long channels = config.blockOutChannels()[last];
        resnet0 = new ResnetBlock2D(nn, key("resnets.0"), channels, channels, config.timeEmbeddingDim(),
                config.normNumGroups(), config.normEps());
        attention = new Transformer2DModel(nn, key("attentions.0"), channels, config.attentionHeads()[last],
                config.transformerLayersPerBlock()[last], config.crossAttentionDim(), config.normNumGroups(),
                config.useLinearProjection());
        resnet1 = new ResnetBlock2D(nn, key("resnets.1"), channels, channels, config.timeEmbeddingDim(),
                config.normNumGroups(), config.normEps());
    }

    public Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> temb, Operand<TFloat32> context) {
        return resnet1.apply(attention.apply(resnet0.apply(x, temb), context), temb);
    }
}
