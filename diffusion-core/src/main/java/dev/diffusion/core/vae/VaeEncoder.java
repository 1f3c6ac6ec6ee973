package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.weights.Weights;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * The encoding half of the VAE as its own graph: images NHWC in [-1, 1] → {@link Encoder} →
 * {@code quant_conv} → the diagonal Gaussian's mean and logvar (the first and second halves of the
 * channels, as {@code torch.chunk(2, dim=1)} splits them), logvar clamped to [-30, 20] as diffusers'
 * {@code DiagonalGaussianDistribution} does. Reads only {@code encoder.*} and {@code quant_conv.*}.
 */
final class VaeEncoder extends TfNetwork {
    static final float LOGVAR_MIN = -30f;
    static final float LOGVAR_MAX = 20f;

    private final VaeConfig config;
    private final Placeholder<TFloat32> images;
    private final Operand<TFloat32> mean;
    private final Operand<TFloat32> logvar;

    VaeEncoder(VaeConfig config, Weights weights, Precision precision) {
        super(weights, precision);
        this.config = config;
        var tf = nn.tf;
        images = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, config.inChannels())));
        Operand<TFloat32> moments = buildMoments(nn, config, images);
        List<org.tensorflow.Output<TFloat32>> halves = tf.split(tf.constant(3), moments, 2L).output();
        mean = halves.get(0);
        logvar = tf.clipByValue(halves.get(1), nn.scalar(LOGVAR_MIN), nn.scalar(LOGVAR_MAX));
        load();
    }

    /** encoder → quant_conv: [B, h, w, 2·latent] (mean channels, then logvar channels, unclamped). */
    static Operand<TFloat32> buildMoments(Nn nn, VaeConfig config, Operand<TFloat32> images) {
        Operand<TFloat32> moments = new Encoder(nn, "encoder", config).apply(images);
        long twoL = 2L * config.latentChannels();
        if (config.useQuantConv()) {
            moments = new Conv2d(nn, "quant_conv", twoL, twoL, 1, 1, 0).apply(moments);
        }
        return moments;
    }

    Moments encode(float[] imagesNhwc, int batch, int height, int width) {
        int f = config.downscale();
        try (TFloat32 in = Tensors.of(imagesNhwc, batch, height, width, config.inChannels());
             Result r = session().runner().feed(images, in).fetch(mean).fetch(logvar).run()) {
            return new Moments(Tensors.toFloats((TFloat32) r.get(0)), Tensors.toFloats((TFloat32) r.get(1)),
                    batch, height / f, width / f, config.latentChannels());
        }
    }
}
