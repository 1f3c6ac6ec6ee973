package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Activations;
import dev.diffusion.core.nn.Linear;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * diffusers {@code FeedForward} with activation "geglu" (Shazeer 2020, "GLU Variants Improve Transformer"):
 * {@code net.0.proj} maps to 2·inner, the halves are (hidden, gate), out = {@code net.2}(hidden · gelu(gate)),
 * exact GELU; inner = 4·dim.
 */
public final class FeedForward extends Module {
    private final long inner;
    private final Linear proj;
    private final Linear out;

    public FeedForward(Nn nn, String prefix, long dim) {
        super(nn, prefix);
        this.inner = 4 * dim;
        proj = new Linear(nn, key("net.0.proj"), dim, 2 * inner, true);
        out = new Linear(nn, key("net.2"), inner, dim, true);
    }

    public Operand<TFloat32> apply(Operand<TFloat32> x) {
        var tf = nn.tf;
        Operand<TFloat32> both = proj.apply(x);
        List<org.tensorflow.Output<TFloat32>> halves = tf.split(tf.constant(-1), both, 2L).output();
        Operand<TFloat32> gated = tf.math.mul(halves.get(0), Activations.gelu(tf, halves.get(1)));
        return out.apply(gated);
    }
}
