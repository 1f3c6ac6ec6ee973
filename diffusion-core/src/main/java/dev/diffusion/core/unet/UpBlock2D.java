package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Resample;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code UpBlock2D} and, with {@code crossAttention}, {@code CrossAttnUpBlock2D}: layers_per_block + 1
 * × (concat the latest skip connection on channels → resnet [→ transformer]), then, except in the last block,
 * nearest upsampling to the size of the skip connection the next block takes first and a 3×3
 * {@code upsamplers.0.conv}. That size is twice this block's where the latent side is a multiple of 2^(blocks - 1);
 * elsewhere a stride-2 convolution rounded an odd side up on the way down, and the up path matches it (diffusers'
 * {@code upsample_size}), so that any latent size runs.
 */
public final class UpBlock2D extends Module {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Im2colConv2d.Conv upsampler;

    /**
     * @param index             position on the up path (0 = deepest)
     * @param prevOutChannels   channels arriving from below
     * @param skipInChannels    channels of the last skip this block consumes (the down path's input to the mirrored block)
     */
    public UpBlock2D(Nn nn, String prefix, UNetConfig config, int index, long prevOutChannels, long skipInChannels,
                     boolean crossAttention) {
        super(nn, prefix);
        int n = config.blockCount();
        int mirrored = n - 1 - index;
        long out = config.blockOutChannels()[mirrored];
        int layers = config.layersPerBlock() + 1;
        for (int j = 0; j < layers; j++) {
            long skip = j == layers - 1 ? skipInChannels : out;
            long in = j == 0 ? prevOutChannels : out;
            resnets.add(new ResnetBlock2D(nn, key("resnets." + j), in + skip, out,
                    config.timeEmbeddingDim(), config.normNumGroups(), config.normEps()));
            if (crossAttention) {
                attentions.add(new Transformer2DModel(nn, key("attentions." + j), out, config.attentionHeads()[mirrored],
                        config.transformerLayersPerBlock()[mirrored], config.crossAttentionDim(), config.normNumGroups(),
                        config.useLinearProjection()));
            }
        }
        upsampler = index == n - 1 ? null : Im2colConv2d.forChannels(nn, key("upsamplers.0.conv"), out, out, 3);
    }

    /** Applies the block, taking its skip connections off the end of {@code skips}. */
    public Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> temb, Operand<TFloat32> context,
                                   List<Operand<TFloat32>> skips) {
        var tf = nn.tf;
        for (int j = 0; j < resnets.size(); j++) {
            Operand<TFloat32> skip = skips.remove(skips.size() - 1);
            x = tf.concat(List.of(x, skip), tf.constant(3));
            x = resnets.get(j).apply(x, temb);
            if (!attentions.isEmpty()) {
                x = attentions.get(j).apply(x, context);
            }
        }
        if (upsampler != null) {
            x = upsampler.apply(Resample.upsampleNearestTo(nn, x, skips.get(skips.size() - 1)));
        }
        return x;
    }
}
