package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Downsample2D;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code DownBlock2D} and, with {@code crossAttention}, {@code CrossAttnDownBlock2D}: layers_per_block
 * × (resnet [→ transformer]), then a {@link Downsample2D} ({@code downsamplers.0}, padded as {@code downsample_padding}
 * says) except in the last block. Every
 * layer's output (and the downsampler's) is kept as a skip connection for the up path.
 */
public final class DownBlock2D extends Module {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Downsample2D downsampler;

    public DownBlock2D(Nn nn, String prefix, UNetConfig config, int index, long inChannels, boolean crossAttention) {
        super(nn, prefix);
        long out = config.blockOutChannels()[index];
        for (int j = 0; j < config.layersPerBlock(); j++) {
            resnets.add(new ResnetBlock2D(nn, key("resnets." + j), j == 0 ? inChannels : out, out,
                    config.timeEmbeddingDim(), config.normNumGroups(), config.normEps()));
            if (crossAttention) {
                attentions.add(new Transformer2DModel(nn, key("attentions." + j), out, config.attentionHeads()[index],
                        config.transformerLayersPerBlock()[index], config.crossAttentionDim(), config.normNumGroups(),
                        config.useLinearProjection()));
            }
        }
        boolean last = index == config.blockCount() - 1;
        downsampler = last ? null : new Downsample2D(nn, key("downsamplers.0"), out, config.downsamplePadding());
    }

    /** Applies the block, appending its skip connections to {@code skips}. */
    public Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> temb, Operand<TFloat32> context,
                                   List<Operand<TFloat32>> skips) {
        for (int j = 0; j < resnets.size(); j++) {
            x = resnets.get(j).apply(x, temb);
            if (!attentions.isEmpty()) {
                x = attentions.get(j).apply(x, context);
            }
            skips.add(x);
        }
        if (downsampler != null) {
            x = downsampler.apply(x);
            skips.add(x);
        }
        return x;
    }
}
