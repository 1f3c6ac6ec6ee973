package dev.diffusion.trainer;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.vae.VaeConfig;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.ModelParts;
import dev.diffusion.core.weights.ModelWriter;
import dev.diffusion.core.weights.StableDiffusionModel;
import dev.diffusion.core.weights.TensorDtype;
import dev.diffusion.core.weights.Weights;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The whole recipe of the demo model, seeded: learn the BPE vocabulary from captions, train the
 * VAE on drawn scenes, encode a fixed set of scenes to latents (and set {@code scaling_factor} so
 * they have unit variance, as SD's 0.18215 does), train the U-Net and text encoder on those
 * latents, and write a diffusers folder.
 */
final class DemoModelTrainer {
    record Options(ModelSizes sizes, long seed, int vaeSteps, int vaeBatch, float vaeLearningRate, int datasetSize,
                   int unetSteps, int unetBatch, float unetLearningRate, double emaDecay, TensorDtype dtype,
                   double unetMaxSeconds, int snapshotEvery, Path vaeFrom) {

        static Options demo() {
            return new Options(ModelSizes.DEMO, 1234, 2500, 16, 2e-3f, 16384, 5500, 64, 8e-4f, 0.999, TensorDtype.F16, 48 * 60, 0,
                    null);
        }
    }

    /** What a run produced: final losses (EMA weights, held-out batch) and wall times. */
    record Result(float vaeLoss, float diffusionLoss, double scalingFactor, double vaeSeconds, double unetSeconds) {}

    private final Options o;
    private final PrintStream log;

    DemoModelTrainer(Options options, PrintStream log) {
        this.o = options;
        this.log = log;
    }

    static ClipTokenizer learnTokenizer(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<String> corpus = new ArrayList<>();
        for (int i = 0; i < 20_000; i++) {
            corpus.add(Captions.training(Scene.random(rng, 64), rng));
        }
        return BpeLearner.learn(corpus, 1000);
    }

    Result train(Path out) {
        ModelSizes sizes = o.sizes();
        ClipTokenizer tokenizer = learnTokenizer(o.seed());
        log.printf("tokenizer: %d tokens (%d merges learned from captions)%n", tokenizer.vocabSize(), tokenizer.merges().size());

        SplittableRandom rng = new SplittableRandom(o.seed() + 1);
        Scene[] scenes = new Scene[o.datasetSize()];
        Latents data = o.vaeFrom() == null ? trainVae(rng, scenes) : reuseVae(o.vaeFrom(), rng, scenes);
        MapWeights vaeWeights = data.vaeWeights();
        double scaling = data.scaling();
        float[] latents = data.latents();
        int latentSize = data.side();

        MapWeights unetAndText;
        float diffusionLoss;
        double unetSeconds;
        int per = latentSize * latentSize * sizes.vae().latentChannels();
        try (DiffusionTraining diffusion = new DiffusionTraining(sizes, tokenizer, o.seed() + 3, o.unetLearningRate(),
                o.emaDecay())) {
            Progress p = new Progress("unet", o.unetSteps(), log, 10);
            float[] batch = new float[o.unetBatch() * per];
            String[] captions = new String[o.unetBatch()];
            for (int step = 1; step <= o.unetSteps(); step++) {
                fillBatch(rng, scenes, latents, per, batch, captions);
                p.step(step, diffusion.step(batch, captions, latentSize, rng));
                if (o.snapshotEvery() > 0 && step % o.snapshotEvery() == 0 && step < o.unetSteps()) {
                    Path snapshot = out.resolveSibling(out.getFileName() + "-snapshots").resolve("step-" + step);
                    write(snapshot, diffusion.averagedWeights(), vaeWeights, scaling, tokenizer);
                }
                if (o.unetMaxSeconds() > 0 && p.elapsedSeconds() > o.unetMaxSeconds() && step < o.unetSteps()) {
                    log.printf("unet: time limit of %s reached: stopping at step %d of %d%n",
                            Progress.time(o.unetMaxSeconds()), step, o.unetSteps());
                    break;
                }
            }
            diffusion.useAveragedWeights();
            SplittableRandom heldOut = new SplittableRandom(o.seed() + 98);
            fillBatch(heldOut, scenes, latents, per, batch, captions);
            diffusionLoss = diffusion.loss(batch, captions, latentSize, heldOut);
            unetSeconds = p.elapsedSeconds();
            log.printf("unet: loss %.5f with averaged weights, %s%n", diffusionLoss, Progress.time(unetSeconds));
            unetAndText = diffusion.weights();
        }

        write(out, unetAndText, vaeWeights, scaling, tokenizer);
        return new Result(data.vaeLoss(), diffusionLoss, scaling, data.vaeSeconds(), unetSeconds);
    }

    /** The dataset as the U-Net sees it: scaled latents of side {@code side}, and the VAE that made them. */
    private record Latents(float[] latents, int side, double scaling, MapWeights vaeWeights, float vaeLoss,
                           double vaeSeconds) {}

    /** Trains the VAE, then encodes {@code scenes} (drawn here) to their posterior means, scaled to unit variance. */
    private Latents trainVae(SplittableRandom rng, Scene[] scenes) {
        ModelSizes sizes = o.sizes();
        int imageSize = sizes.imageSize;
        int latentChannels = sizes.vae().latentChannels();
        try (VaeTraining vae = new VaeTraining(sizes, o.seed() + 2, o.vaeLearningRate(), o.emaDecay())) {
            Progress p = new Progress("vae", o.vaeSteps(), log, 10);
            for (int step = 1; step <= o.vaeSteps(); step++) {
                p.step(step, vae.step(vae.drawBatch(rng, o.vaeBatch()), rng));
            }
            vae.useAveragedWeights();
            SplittableRandom heldOut = new SplittableRandom(o.seed() + 99);
            float vaeLoss = vae.loss(vae.drawBatch(heldOut, 32), heldOut);
            double vaeSeconds = p.elapsedSeconds();
            log.printf("vae: held-out loss %.5f with averaged weights, %s%n", vaeLoss, Progress.time(vaeSeconds));

            // a fixed set of scenes, encoded once to the posterior means. The U-Net learns x0 = mean: sampling
            // x0 = mean + std·ε instead (as SD's training does) put noise of rms 0.25 (vs 0.93 signal) into every
            // target, which nothing can predict and which dominated the loss at small t.
            int latentSize = vae.latentSize();
            int per = latentSize * latentSize * latentChannels;
            float[] means = new float[o.datasetSize() * per];
            int chunk = 64;
            for (int start = 0; start < o.datasetSize(); start += chunk) {
                int n = Math.min(chunk, o.datasetSize() - start);
                System.arraycopy(vae.encode(drawScenes(rng, scenes, start, n, imageSize), n).get(0), 0, means, start * per,
                        n * per);
            }
            double sum = 0;
            double sumSq = 0;
            for (float v : means) {
                sum += v;
                sumSq += v * (double) v;
            }
            double mean = sum / means.length;
            double scaling = 1.0 / Math.sqrt(sumSq / means.length - mean * mean);
            log.printf("latents: %d scenes encoded to %dx%dx%d, mean %.4f, scaling_factor %.5f%n", o.datasetSize(), latentSize,
                    latentSize, latentChannels, mean, scaling);
            for (int i = 0; i < means.length; i++) {
                means[i] *= (float) scaling;
            }
            return new Latents(means, latentSize, scaling, vae.weights(), vaeLoss, p.elapsedSeconds());
        }
    }

    /**
     * Takes the VAE (weights and scaling factor) of an existing diffusers folder instead of training
     * one, and encodes {@code scenes} with it: for retraining the U-Net alone.
     */
    private Latents reuseVae(Path folder, SplittableRandom rng, Scene[] scenes) {
        int imageSize = o.sizes().imageSize;
        try (ModelSource source = ModelSource.open(folder.toString(), null);
             StableDiffusionModel model = StableDiffusionModel.open(folder);
             AutoencoderKL vae = source.vae(Precision.FP32, false, true)) {
            MapWeights weights = new MapWeights();
            Weights stored = model.vae();
            for (String key : stored.keys()) {
                weights.put(key, stored.info(key).shape(), stored.floats(key));
            }
            VaeConfig config = vae.config();
            int latentSize = imageSize / config.downscale();
            int per = latentSize * latentSize * config.latentChannels();
            float[] latents = new float[o.datasetSize() * per];
            int chunk = 64;
            for (int start = 0; start < o.datasetSize(); start += chunk) {
                int n = Math.min(chunk, o.datasetSize() - start);
                float[] mode = vae.encode(drawScenes(rng, scenes, start, n, imageSize), n, imageSize, imageSize)
                        .mode(config.scalingFactor(), config.shiftFactor());
                System.arraycopy(mode, 0, latents, start * per, n * per);
            }
            log.printf("vae: taken from %s (not trained); %d scenes encoded, scaling_factor %.5f%n", folder, o.datasetSize(),
                    config.scalingFactor());
            return new Latents(latents, latentSize, config.scalingFactor(), weights, Float.NaN, 0);
        }
    }

    /** Draws scenes {@code start .. start+n-1} into {@code scenes} and returns their pixels for the VAE. */
    private static float[] drawScenes(SplittableRandom rng, Scene[] scenes, int start, int n, int imageSize) {
        float[] pixels = new float[n * imageSize * imageSize * 3];
        for (int i = 0; i < n; i++) {
            scenes[start + i] = Scene.random(rng, imageSize);
            Scene.toUnit(scenes[start + i].render(), pixels, i * imageSize * imageSize * 3);
        }
        return pixels;
    }

    /** Writes a diffusers folder: U-Net and text encoder (split by key), VAE, configs, tokenizer. */
    private void write(Path out, MapWeights unetAndText, MapWeights vaeWeights, double scaling, ClipTokenizer tokenizer) {
        ModelSizes sizes = o.sizes();
        MapWeights unet = new MapWeights();
        MapWeights text = new MapWeights();
        for (String key : unetAndText.keys()) {
            (key.startsWith("text_model.") ? text : unet).put(key, unetAndText.info(key).shape(), unetAndText.floats(key));
        }
        ModelParts parts = new ModelParts(unet, vaeWeights, text, sizes.unetConfig, sizes.vaeConfigWithScaling(scaling),
                sizes.textEncoderConfig(tokenizer.vocabSize()), sizes.schedulerConfig, null, null);
        ModelWriter.writeDiffusersFolder(out, parts, o.dtype());
        try {
            tokenizer.write(out.resolve("tokenizer"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        log.printf("wrote %s%n", out);
    }

    /** A random batch of dataset latents with a fresh training caption of each scene. */
    private static void fillBatch(SplittableRandom rng, Scene[] scenes, float[] latents, int per, float[] batch,
                                  String[] captions) {
        for (int b = 0; b < captions.length; b++) {
            int i = rng.nextInt(scenes.length);
            System.arraycopy(latents, i * per, batch, b * per, per);
            captions[b] = Captions.withJunk(Captions.training(scenes[i], rng), rng);
        }
    }
}
