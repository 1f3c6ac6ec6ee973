package dev.diffusion.trainer;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.vae.VaeConfig;
import dev.diffusion.core.weights.MapWeights;
import java.util.Map;
import java.util.SplittableRandom;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Trains a VAE's decoder further with its encoder frozen, so the latent space (and with it the U-Net
 * trained on it) stays valid: scenes are encoded by the fixed encoder to their posterior means, in the
 * U-Net's scale, noise of a random level up to {@code maxNoise} is added to each, and the decoder learns to
 * draw the clean scene from that. Sampled latents are never exactly an encoder's; a decoder that has only
 * seen exact ones answers small departures with bent edges (pinched squares, bowed triangle sides), one that
 * has seen them draws the shape it is nearest to. Loss: the VAE phase's shape-weighted L1 + L2.
 */
final class DecoderTraining implements AutoCloseable {
    private final VaeConfig config;
    private final int imageSize;
    private final AutoencoderKL encoder;
    private final TrainingGraph graph;
    private final MapWeights start;
    private Forward forward;

    private record Forward(Placeholder<TFloat32> latents, Placeholder<TFloat32> images, Placeholder<TFloat32> weights,
                           Operand<TFloat32> loss) {}

    /**
     * @param config the VAE's config, its scaling factor the model's (latents are fed in the U-Net's scale)
     * @param vae    the whole VAE's weights: the encoder's are used as they are, the decoder's trained from
     */
    DecoderTraining(VaeConfig config, int imageSize, MapWeights vae, long seed, float learningRate, double emaDecay) {
        this.config = config;
        this.imageSize = imageSize;
        this.start = vae;
        this.encoder = AutoencoderKL.encoderOnly(config, vae, Precision.FP32);
        MapWeights decoder = new MapWeights();
        for (String key : vae.keys()) {
            if (key.startsWith("decoder.") || key.startsWith("post_quant_conv.")) {
                decoder.put(key, vae.info(key).shape(), vae.floats(key));
            }
        }
        this.graph = new TrainingGraph(nn -> (forward = build(nn, config)).loss, nn -> build(nn, config), seed,
                learningRate, emaDecay, decoder);
    }

    private static Forward build(Nn nn, VaeConfig config) {
        Ops tf = nn.tf;
        Placeholder<TFloat32> latents = tf.placeholder(TFloat32.class,
                Placeholder.shape(Shape.of(-1, -1, -1, config.latentChannels())));
        Placeholder<TFloat32> images = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, config.inChannels())));
        Placeholder<TFloat32> weights = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, 1)));
        Operand<TFloat32> recon = AutoencoderKL.buildDecoder(nn, config, latents);
        return new Forward(latents, images, weights, VaeTraining.reconstructionLoss(tf, recon, images, weights));
    }

    /** One step on {@code batch} fresh scenes, each latent with noise of standard deviation uniform in [0, maxNoise]. */
    float step(SplittableRandom rng, int batch, double maxNoise) {
        return run(rng, batch, maxNoise, true);
    }

    /** The loss on fresh scenes without training. */
    float loss(SplittableRandom rng, int batch, double maxNoise) {
        return run(rng, batch, maxNoise, false);
    }

    private float run(SplittableRandom rng, int batch, double maxNoise, boolean train) {
        float[] pixels = new float[batch * imageSize * imageSize * 3];
        for (int b = 0; b < batch; b++) {
            Scene.toUnit(Scene.random(rng, imageSize).render(), pixels, b * imageSize * imageSize * 3);
        }
        int l = imageSize / config.downscale();
        int per = l * l * config.latentChannels();
        float[] z = encoder.encode(pixels, batch, imageSize, imageSize).mode(config.scalingFactor(), config.shiftFactor());
        float[] eps = Gaussian.fill(rng, new float[z.length]);
        for (int b = 0; b < batch; b++) {
            float sigma = (float) (rng.nextDouble() * maxNoise);
            for (int i = b * per; i < (b + 1) * per; i++) {
                z[i] += sigma * eps[i];
            }
        }
        float[] coverage = VaeTraining.coverage(pixels, batch, imageSize);
        try (TFloat32 zt = Tensors.of(z, batch, l, l, config.latentChannels());
             TFloat32 x = Tensors.of(pixels, batch, imageSize, imageSize, 3);
             TFloat32 w = Tensors.of(VaeTraining.pixelWeights(coverage), batch, imageSize, imageSize, 1)) {
            Map<Placeholder<?>, org.tensorflow.Tensor> feeds = Map.of(forward.latents(), zt, forward.images(), x,
                    forward.weights(), w);
            return train ? graph.step(feeds) : graph.evaluate(feeds);
        }
    }

    void scaleLearningRate(double scale) {
        graph.scaleLearningRate(scale);
    }

    /** The whole VAE: the encoder as given, the decoder's moving averages. */
    MapWeights averagedVae() {
        MapWeights out = new MapWeights();
        MapWeights decoder = graph.averagedWeights();
        for (String key : start.keys()) {
            MapWeights from = decoder.keys().contains(key) ? decoder : start;
            out.put(key, from.info(key).shape(), from.floats(key));
        }
        return out;
    }

    @Override
    public void close() {
        graph.close();
        encoder.close();
    }
}
