package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.OpProfile;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.weights.Weights;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * The decoding half of the VAE as its own graph: U-Net latents NHWC → ÷ scaling_factor (+ shift)
 * → {@code post_quant_conv} → {@link Decoder} → images NHWC in ≈[-1, 1]. Reads only the
 * {@code decoder.*} and {@code post_quant_conv.*} weights.
 */
final class VaeDecoder extends TfNetwork {
    private final VaeConfig config;
    private final Placeholder<TFloat32> latents;
    private final Operand<TFloat32> images;

    VaeDecoder(VaeConfig config, Weights weights, Precision precision) {
        super(weights, precision);
        this.config = config;
        var tf = nn.tf;
        int c = config.latentChannels();
        latents = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, c)));
        images = build(nn, config, latents);
        load();
    }

    /** U-Net latents NHWC → ÷ scaling_factor (+ shift) → post_quant_conv → decoder → images NHWC. */
    static Operand<TFloat32> build(Nn nn, VaeConfig config, Operand<TFloat32> latents) {
        var tf = nn.tf;
        int c = config.latentChannels();
        // as the pipelines do: latents / scaling_factor (+ shift_factor), before post_quant_conv
        Operand<TFloat32> z = tf.math.div(latents, nn.scalar(config.scalingFactor()));
        if (config.shiftFactor() != 0) {
            z = tf.math.add(z, nn.scalar(config.shiftFactor()));
        }
        if (config.usePostQuantConv()) {
            z = new Conv2d(nn, "post_quant_conv", c, c, 1, 1, 0).apply(z);
        }
        return new Decoder(nn, "decoder", config).apply(z);
    }

    float[] decode(float[] latentsNhwc, int batch, int h, int w) {
        try (TFloat32 in = Tensors.of(latentsNhwc, batch, h, w, config.latentChannels());
             Result r = OpProfile.run("VAE decoder", session().runner().feed(latents, in).fetch(images))) {
            return Tensors.toFloats((TFloat32) r.get(0));
        }
    }
}
