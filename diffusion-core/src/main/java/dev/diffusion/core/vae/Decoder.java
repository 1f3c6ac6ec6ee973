package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Activations;
import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.GroupNorm;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers' VAE {@code Decoder} (prefix {@code decoder}): conv_in → mid_block → up_blocks →
 * conv_norm_out → SiLU → conv_out. {@code up_blocks.0} is the widest level (block_out_channels
 * reversed); CompVis numbers the same levels the other way ({@code decoder.up.3} is
 * {@code up_blocks.0}), which the weights layer converts.
 */
final class Decoder extends Module {
    private final Conv2d convIn;
    private final UNetMidBlock2D midBlock;
    private final List<UpDecoderBlock2D> upBlocks = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    Decoder(Nn nn, String prefix, VaeConfig config) {
        super(nn, prefix);
        List<Integer> channels = config.blockOutChannels();
        int levels = channels.size();
        long top = channels.get(levels - 1);
        convIn = new Conv2d(nn, key("conv_in"), config.latentChannels(), top, 3, 1, 1);
        midBlock = new UNetMidBlock2D(nn, key("mid_block"), top, config);
        long out = top;
        for (int i = 0; i < levels; i++) {
            long in = out;
            out = channels.get(levels - 1 - i);
            upBlocks.add(new UpDecoderBlock2D(nn, key("up_blocks." + i), in, out, i < levels - 1, config));
        }
        convNormOut = new GroupNorm(nn, key("conv_norm_out"), config.normNumGroups(), channels.get(0), config.normEps());
        convOut = new Conv2d(nn, key("conv_out"), channels.get(0), config.outChannels(), 3, 1, 1);
    }

    Operand<TFloat32> apply(Operand<TFloat32> z) {
        Operand<TFloat32> h = midBlock.apply(convIn.apply(z));
        for (UpDecoderBlock2D b : upBlocks) {
            h = b.apply(h);
        }
        return convOut.apply(Activations.silu(nn.tf, convNormOut.apply(h)));
    }
}
