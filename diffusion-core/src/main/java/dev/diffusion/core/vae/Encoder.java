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
 * diffusers' VAE {@code Encoder} (prefix {@code encoder}): conv_in → down_blocks → mid_block →
 * conv_norm_out → SiLU → conv_out, which emits 2·latent channels (mean, then logvar).
 */
final class Encoder extends Module {
    private final Conv2d convIn;
    private final List<DownEncoderBlock2D> downBlocks = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    Encoder(Nn nn, String prefix, VaeConfig config) {
        super(nn, prefix);
        List<Integer> channels = config.blockOutChannels();
        int levels = channels.size();
        convIn = new Conv2d(nn, key("conv_in"), config.inChannels(), channels.get(0), 3, 1, 1);
        long out = channels.get(0);
        for (int i = 0; i < levels; i++) {
            long in = out;
            out = channels.get(i);
            downBlocks.add(new DownEncoderBlock2D(nn, key("down_blocks." + i), in, out, i < levels - 1, config));
        }
        long top = channels.get(levels - 1);
        midBlock = new UNetMidBlock2D(nn, key("mid_block"), top, config);
        convNormOut = new GroupNorm(nn, key("conv_norm_out"), config.normNumGroups(), top, config.normEps());
        convOut = new Conv2d(nn, key("conv_out"), top, 2L * config.latentChannels(), 3, 1, 1);
    }

    Operand<TFloat32> apply(Operand<TFloat32> images) {
        Operand<TFloat32> h = convIn.apply(images);
        for (DownEncoderBlock2D b : downBlocks) {
            h = b.apply(h);
        }
        h = midBlock.apply(h);
        return convOut.apply(Activations.silu(nn.tf, convNormOut.apply(h)));
    }
}
