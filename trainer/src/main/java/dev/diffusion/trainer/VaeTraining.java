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
     * channel (one gain for all shapes), the U-Net learnt position from full captions (85 %, was 21 %). The
     * coverage is now scaled by the shape's {@link #shapeGain}.
     */
    static final float MASK_SCALE = 4f;
    static final float MASK_OFFSET = -0.5f;
    /** Weight of the squared error of channel 0's mean against its target. */
    static final float MASK_WEIGHT = 1f;

    /**
     * How strongly channel 0 reads each shape: its target is MASK_SCALE·coverage·gain + MASK_OFFSET. A circle
     * and a square of one size differ only at their corners, a few latent pixels at the edge of the blob: with
     * one gain for all shapes the U-Net drew the same rounded blob for both words (its prediction did not
     * change when "circle" was swapped for "square", at any timestep; shape 63 %, circles and squares at
     * chance). With these gains the two differ over the whole shape, as two colours do (a fully covered block
     * reads 1.5 for a circle, 5.5 for a square, before scaling), and the U-Net learns which from the caption
     * as it learns a colour. (A separate latent channel for the shape, tried before, took a channel from the
     * colours: reconstructions lost colour, or with a fifth channel the VAE did not train.)
     */
    static float shapeGain(Scene.Shape shape) {
        return switch (shape) {
            case CIRCLE -> 0.5f;
            case SQUARE -> 1.5f;
            case TRIANGLE -> 1f;
        };
    }

    /** Freshly drawn scenes as [-1, 1] NHWC pixels, and the shape of each. */
    record Batch(float[] pixels, Scene.Shape[] shapes) {
        int size() {
            return shapes.length;
        }
    }

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
        Operand<org.tensorflow.types.TInt32> all = tf.constant(new int[] {0, 1, 2, 3});
        // KL(N(mean, var) || N(0, 1)) per latent element: ½(mean² + var − 1 − logvar)
        Operand<TFloat32> kl = tf.math.mean(tf.math.mul(nn.scalar(0.5), tf.math.sub(tf.math.sub(
                tf.math.add(tf.math.square(mean), tf.math.exp(logvar)), nn.scalar(1)), logvar)), all);
        Placeholder<TFloat32> mask = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, 1)));
        Operand<TFloat32> maskLoss = maskLoss(tf, mean, c, mask);
        Operand<TFloat32> loss = tf.math.add(tf.math.add(reconstructionLoss(tf, recon, images, weights),
                tf.math.mul(kl, nn.scalar(KL_WEIGHT))),
                tf.math.mul(maskLoss, nn.scalar(MASK_WEIGHT)));
        return new Forward(images, noise, weights, mask, mean, logvar, loss);
    }

    /**
     * L1 + L2 of {@code recon} against {@code images}, each pixel weighted by {@code weights} (1 on background,
     * 1 + SHAPE_WEIGHT·coverage on the shape, see {@link #pixelWeights}) normalised to mean 1.
     */
    static Operand<TFloat32> reconstructionLoss(Ops tf, Operand<TFloat32> recon, Operand<TFloat32> images,
                                                Operand<TFloat32> weights) {
        Operand<TFloat32> diff = tf.math.sub(recon, images);
        Operand<org.tensorflow.types.TInt32> all = tf.constant(new int[] {0, 1, 2, 3});
        Operand<TFloat32> w = tf.math.div(weights, tf.math.mean(weights, all));
        Operand<TFloat32> l1 = tf.math.mean(tf.math.mul(w, tf.math.abs(diff)), all);
        Operand<TFloat32> l2 = tf.math.mean(tf.math.mul(w, tf.math.square(diff)), all);
        return tf.math.add(l1, l2);
    }

    /** The mean squared error of channel 0 of {@code mean} ({@code channels} in all) against {@code targets} (one channel). */
    static Operand<TFloat32> maskLoss(Ops tf, Operand<TFloat32> mean, int channels, Operand<TFloat32> targets) {
        Operand<TFloat32> first = tf.split(tf.constant(3), mean, (long) channels).output().get(0);
        return tf.math.mean(tf.math.square(tf.math.sub(first, targets)), tf.constant(new int[] {0, 1, 2, 3}));
    }

    int latentSize() {
        return imageSize / config.downscale();
    }

    /** A batch of freshly drawn scenes. */
    Batch drawBatch(SplittableRandom rng, int batch) {
        float[] pixels = new float[batch * imageSize * imageSize * 3];
        Scene.Shape[] shapes = new Scene.Shape[batch];
        for (int b = 0; b < batch; b++) {
            Scene scene = Scene.random(rng, imageSize);
            shapes[b] = scene.shape();
            Scene.toUnit(scene.render(), pixels, b * imageSize * imageSize * 3);
        }
        return new Batch(pixels, shapes);
    }

    /**
     * How much of each pixel the shape covers, 0 to 1: the pixel's distance from the background colour
     * relative to the farthest pixel of its image (exact for flat-coloured, anti-aliased scenes).
     */
    float[] coverage(float[] pixels, int batch) {
        return coverage(pixels, batch, imageSize);
    }

    /** {@link #coverage(float[], int)} of {@code batch} square RGB images of side {@code imageSize}. */
    static float[] coverage(float[] pixels, int batch, int imageSize) {
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

    /** {@link #blockCoverage} at this VAE's image and latent sides. */
    float[] latentCoverage(float[] coverage, int batch) {
        return blockCoverage(coverage, batch, imageSize, latentSize());
    }

    /** Per-pixel coverage (side {@code imageSize}) averaged over the blocks of a latent of side {@code latentSize}. */
    static float[] blockCoverage(float[] coverage, int batch, int imageSize, int latentSize) {
        int l = latentSize;
        int block = imageSize / l;
        float[] out = new float[batch * l * l];
        for (int b = 0; b < batch; b++) {
            for (int y = 0; y < imageSize; y++) {
                for (int x = 0; x < imageSize; x++) {
                    out[(b * l + y / block) * l + x / block] += coverage[(b * imageSize + y) * imageSize + x] / (block * block);
                }
            }
        }
        return out;
    }

    /** Loss weight of each pixel: 1 + SHAPE_WEIGHT × its {@link #coverage}. */
    static float[] pixelWeights(float[] coverage) {
        float[] w = new float[coverage.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = 1f + SHAPE_WEIGHT * coverage[i];
        }
        return w;
    }

    /**
     * The targets of latent channel 0: {@link #MASK_SCALE}·c·{@link #shapeGain} + {@link #MASK_OFFSET}, c the
     * block-averaged coverage ({@link #latentCoverage}) of {@code block.length / latentSize²} images of {@code shapes}.
     */
    float[] maskTargets(float[] block, Scene.Shape[] shapes) {
        int per = latentSize() * latentSize();
        float[] out = new float[block.length];
        for (int i = 0; i < block.length; i++) {
            out[i] = MASK_SCALE * block[i] * shapeGain(shapes[i / per]) + MASK_OFFSET;
        }
        return out;
    }

    float step(Batch scenes, SplittableRandom rng) {
        return run(scenes, rng, true);
    }

    float loss(Batch scenes, SplittableRandom rng) {
        return run(scenes, rng, false);
    }

    private float run(Batch scenes, SplittableRandom rng, boolean train) {
        int l = latentSize();
        int batch = scenes.size();
        float[] pixels = scenes.pixels();
        float[] eps = Gaussian.fill(rng, new float[batch * l * l * config.latentChannels()]);
        float[] coverage = coverage(pixels, batch);
        float[] block = latentCoverage(coverage, batch);
        try (TFloat32 x = Tensors.of(pixels, batch, imageSize, imageSize, 3);
             TFloat32 n = Tensors.of(eps, batch, l, l, config.latentChannels());
             TFloat32 w = Tensors.of(pixelWeights(coverage), batch, imageSize, imageSize, 1);
             TFloat32 m = Tensors.of(maskTargets(block, scenes.shapes()), batch, l, l, 1)) {
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

    /** Multiplies the learning rate of the next steps (a schedule's factor; 1 = as constructed). */
    void scaleLearningRate(double scale) {
        graph.scaleLearningRate(scale);
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
