package dev.diffusion.trainer;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.vae.VaeConfig;
import dev.diffusion.core.weights.MapWeights;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Trains the AutoencoderKL on drawn scenes: loss = L1 + L2 reconstruction + a small KL term to
 * N(0, I) (Rombach et al. 2022 keep the KL weight tiny so latents stay detailed; no GAN or
 * perceptual loss is needed for flat-coloured shapes). Latents are drawn with the
 * reparameterisation trick, z = mean + exp(logvar/2)·ε, ε fed from Java (seeded).
 */
final class VaeTraining implements AutoCloseable {
    static final double KL_WEIGHT = 1e-4;

    private final VaeConfig config;
    private final int imageSize;
    private final TrainingGraph graph;
    private Forward forward;

    /**
     * Extra weight of the pixels a shape covers in the reconstruction loss. A shape fills about 8 % of an
     * image, so with plain per-pixel losses the background dominates and the autoencoder learns the six
     * shape colours last (700 unweighted steps kept two hues); weighting the shape 10× fixes that.
     */
    static final float SHAPE_WEIGHT = 10f;

    /**
     * Latent channel 0 is trained to be the shape's coverage (as {@code MASK_SCALE·coverage + MASK_OFFSET},
     * coverage averaged over each latent pixel's block) whatever its colour and background. Otherwise a
     * shape's latent differs from the background in a direction that depends on both colours, so knowing
     * only where the shape is does not lower the U-Net's loss (on scenes of one colour the U-Net learnt
     * the position words in 400 steps; on varied scenes with position-only captions not at all). With the
     * channel, the VAE's reconstructions also got the shape right more often (100 of 100 held-out scenes,
     * was 96). The U-Net still did not learn position from full captions (see the README).
     */
    static final float MASK_SCALE = 4f;
    static final float MASK_OFFSET = -0.5f;
    /** Weight of the squared error of channel 0's mean against that target. */
    static final float MASK_WEIGHT = 1f;

    private record Forward(Placeholder<TFloat32> images, Placeholder<TFloat32> noise, Placeholder<TFloat32> weights,
                           Placeholder<TFloat32> mask, Operand<TFloat32> mean, Operand<TFloat32> logvar,
                           Operand<TFloat32> loss) {}

    VaeTraining(ModelSizes sizes, long seed, float learningRate, double emaDecay) {
        this.config = sizes.vae();
        this.imageSize = sizes.imageSize;
        this.graph = new TrainingGraph(nn -> (forward = build(nn, config)).loss, nn -> build(nn, config), seed,
                learningRate, emaDecay);
    }

    private static Forward build(Nn nn, VaeConfig config) {
        Ops tf = nn.tf;
        int c = config.latentChannels();
        Placeholder<TFloat32> images = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, config.inChannels())));
        Placeholder<TFloat32> noise = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, c)));
        Placeholder<TFloat32> weights = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, 1)));
        Operand<TFloat32> moments = AutoencoderKL.buildEncoder(nn, config, images);
        List<Output<TFloat32>> halves = tf.split(tf.constant(3), moments, 2L).output();
        Operand<TFloat32> mean = halves.get(0);
        // the clamp diffusers' DiagonalGaussianDistribution applies, written with min/max (they have gradients)
        Operand<TFloat32> logvar = tf.math.maximum(tf.math.minimum(halves.get(1), nn.scalar(20)), nn.scalar(-30));
        Operand<TFloat32> std = tf.math.exp(tf.math.mul(logvar, nn.scalar(0.5)));
        Operand<TFloat32> z = tf.math.add(mean, tf.math.mul(std, noise));
        Operand<TFloat32> recon = AutoencoderKL.buildDecoder(nn, config, z); // scaling_factor is 1 while training
        Operand<TFloat32> diff = tf.math.sub(recon, images);
        Operand<org.tensorflow.types.TInt32> all = tf.constant(new int[] {0, 1, 2, 3});
        // per-pixel weights (1 on background, 1 + SHAPE_WEIGHT·coverage on the shape), normalised to mean 1
        Operand<TFloat32> w = tf.math.div(weights, tf.math.mean(weights, all));
        Operand<TFloat32> l1 = tf.math.mean(tf.math.mul(w, tf.math.abs(diff)), all);
        Operand<TFloat32> l2 = tf.math.mean(tf.math.mul(w, tf.math.square(diff)), all);
        // KL(N(mean, var) || N(0, 1)) per latent element: ½(mean² + var − 1 − logvar)
        Operand<TFloat32> kl = tf.math.mean(tf.math.mul(nn.scalar(0.5), tf.math.sub(tf.math.sub(
                tf.math.add(tf.math.square(mean), tf.math.exp(logvar)), nn.scalar(1)), logvar)), all);
        Placeholder<TFloat32> mask = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, 1)));
        Operand<TFloat32> channel0 = tf.split(tf.constant(3), mean, (long) c).output().get(0);
        Operand<TFloat32> maskLoss = tf.math.mean(tf.math.square(tf.math.sub(channel0, mask)), all);
        Operand<TFloat32> loss = tf.math.add(tf.math.add(tf.math.add(l1, l2), tf.math.mul(kl, nn.scalar(KL_WEIGHT))),
                tf.math.mul(maskLoss, nn.scalar(MASK_WEIGHT)));
        return new Forward(images, noise, weights, mask, mean, logvar, loss);
    }

    int latentSize() {
        return imageSize / config.downscale();
    }

    /** A batch of freshly drawn scenes, as [-1, 1] NHWC pixels. */
    float[] drawBatch(SplittableRandom rng, int batch) {
        float[] pixels = new float[batch * imageSize * imageSize * 3];
        for (int b = 0; b < batch; b++) {
            Scene.toUnit(Scene.random(rng, imageSize).render(), pixels, b * imageSize * imageSize * 3);
        }
        return pixels;
    }

    /**
     * How much of each pixel the shape covers, 0 to 1: the pixel's distance from the background colour
     * relative to the farthest pixel of its image (exact for flat-coloured, anti-aliased scenes).
     */
    float[] coverage(float[] pixels, int batch) {
        int n = imageSize * imageSize;
        float[] cov = new float[batch * n];
        for (int b = 0; b < batch; b++) {
            int base = b * n * 3;
            // the background is the colour of the top-left pixel (shapes never reach the corners)
            float r0 = pixels[base];
            float g0 = pixels[base + 1];
            float b0 = pixels[base + 2];
            float max = 1e-6f;
            for (int i = 0; i < n; i++) {
                int k = base + 3 * i;
                float d = Math.abs(pixels[k] - r0) + Math.abs(pixels[k + 1] - g0) + Math.abs(pixels[k + 2] - b0);
                cov[b * n + i] = d;
                max = Math.max(max, d);
            }
            for (int i = 0; i < n; i++) {
                cov[b * n + i] /= max;
            }
        }
        return cov;
    }

    /** Loss weight of each pixel: 1 + SHAPE_WEIGHT × its {@link #coverage}. */
    static float[] pixelWeights(float[] coverage) {
        float[] w = new float[coverage.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = 1f + SHAPE_WEIGHT * coverage[i];
        }
        return w;
    }

    /** The target of latent channel 0: {@link #MASK_SCALE}·(block-averaged coverage) + {@link #MASK_OFFSET}. */
    float[] maskTargets(float[] coverage, int batch) {
        int l = latentSize();
        int block = imageSize / l;
        float[] out = new float[batch * l * l];
        for (int b = 0; b < batch; b++) {
            for (int y = 0; y < imageSize; y++) {
                for (int x = 0; x < imageSize; x++) {
                    out[(b * l + y / block) * l + x / block] += coverage[(b * imageSize + y) * imageSize + x] / (block * block);
                }
            }
        }
        for (int i = 0; i < out.length; i++) {
            out[i] = MASK_SCALE * out[i] + MASK_OFFSET;
        }
        return out;
    }

    float step(float[] pixels, int batch, SplittableRandom rng) {
        return run(pixels, batch, rng, true);
    }

    float loss(float[] pixels, int batch, SplittableRandom rng) {
        return run(pixels, batch, rng, false);
    }

    private float run(float[] pixels, int batch, SplittableRandom rng, boolean train) {
        int l = latentSize();
        float[] eps = Gaussian.fill(rng, new float[batch * l * l * config.latentChannels()]);
        float[] coverage = coverage(pixels, batch);
        try (TFloat32 x = Tensors.of(pixels, batch, imageSize, imageSize, 3);
             TFloat32 n = Tensors.of(eps, batch, l, l, config.latentChannels());
             TFloat32 w = Tensors.of(pixelWeights(coverage), batch, imageSize, imageSize, 1);
             TFloat32 m = Tensors.of(maskTargets(coverage, batch), batch, l, l, 1)) {
            Map<Placeholder<?>, org.tensorflow.Tensor> feeds = Map.of(forward.images(), x, forward.noise(), n,
                    forward.weights(), w, forward.mask(), m);
            return train ? graph.step(feeds) : graph.evaluate(feeds);
        }
    }

    /** The encoder's mean and logvar (NHWC, unscaled) of a batch of images. */
    List<float[]> encode(float[] pixels, int batch) {
        int l = latentSize();
        try (TFloat32 x = Tensors.of(pixels, batch, imageSize, imageSize, 3);
             TFloat32 n = Tensors.of(new float[batch * l * l * config.latentChannels()], batch, l, l, config.latentChannels())) {
            return graph.run(Map.of(forward.images(), x, forward.noise(), n), List.of(forward.mean(), forward.logvar()));
        }
    }

    void useAveragedWeights() {
        graph.useAveragedWeights();
    }

    MapWeights weights() {
        return graph.weights();
    }

    @Override
    public void close() {
        graph.close();
    }
}
