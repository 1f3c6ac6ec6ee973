package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.GroupNorm;
import dev.diffusion.core.nn.Linear;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code Transformer2DModel} on continuous NHWC input: GroupNorm (eps 1e-6) → {@code proj_in}
 * (1×1 conv, or Linear with use_linear_projection) → pixels as tokens through the
 * {@code transformer_blocks} → {@code proj_out} → + input.
 */
public final class Transformer2DModel extends Module {
    private final long channels;
    private final long inner;
    private final GroupNorm norm;
    private final Conv2d projInConv;
    private final Linear projInLinear;
    private final List<BasicTransformerBlock> blocks = new ArrayList<>();
    private final Conv2d projOutConv;
    private final Linear projOutLinear;

    public Transformer2DModel(Nn nn, String prefix, long channels, int heads, int layers, long contextDim, int groups,
                              boolean linearProjection) {
        super(nn, prefix);
        this.channels = channels;
        int headDim = (int) (channels / heads);
        this.inner = (long) heads * headDim;
        norm = new GroupNorm(nn, key("norm"), groups, channels, 1e-6);
        projInConv = linearProjection ? null : new Conv2d(nn, key("proj_in"), channels, inner, 1, 1, 0);
        projInLinear = linearProjection ? new Linear(nn, key("proj_in"), channels, inner, true) : null;
        for (int i = 0; i < layers; i++) {
            blocks.add(new BasicTransformerBlock(nn, key("transformer_blocks." + i), inner, heads, headDim, contextDim));
        }
        projOutConv = linearProjection ? null : new Conv2d(nn, key("proj_out"), inner, channels, 1, 1, 0);
        projOutLinear = linearProjection ? new Linear(nn, key("proj_out"), inner, channels, true) : null;
    }

    /** x [B, H, W, channels], context [B, Lc, contextDim] → [B, H, W, channels]. */
    public Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> context) {
        var tf = nn.tf;
        Operand<TFloat32> h = norm.apply(x);
        // a 1×1 convolution and a Linear over channels are the same map on NHWC; only the weight layout differs
        h = projInConv != null ? projInConv.apply(h) : projInLinear.apply(h);
        Operand<TFloat32> tokens = tf.reshape(h, nn.shape(nn.dim(x, 0), nn.ints(-1, (int) inner)));
        for (BasicTransformerBlock block : blocks) {
            tokens = block.apply(tokens, context);
        }
        h = tf.reshape(tokens, nn.shape(nn.dim(x, 0), nn.dim(x, 1), nn.dim(x, 2), nn.ints((int) inner)));
        h = projOutConv != null ? projOutConv.apply(h) : projOutLinear.apply(h);
        return tf.math.add(h, x);
    }
}
