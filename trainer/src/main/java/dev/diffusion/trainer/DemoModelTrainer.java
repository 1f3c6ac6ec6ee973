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
    /**
     * @param maxSeconds the whole run's time limit (0: none): the U-Net phase gets what the tokenizer, the VAE
     *                   and the encoding left of it, and stops early, saying so, when that runs out
     * @param unetFrom   a model folder whose U-Net and text encoder the U-Net phase starts from (null: fresh
     *                   weights): with {@code vaeFrom} the same folder, to compare changes of the recipe on a
     *                   snapshot for a few hundred steps instead of a whole run
     * @param decoderSteps steps of the decoder phase after the U-Net's ({@link DecoderTraining}; 0: none)
     * @param decoderNoise the largest standard deviation of the noise put on latents in that phase (U-Net scale)
     * @param highTShare share of each U-Net batch drawn from t ≥ {@link DiffusionTraining#HIGH_T_FROM}
     * @param warmdown   share of each phase at its end over which the learning rate falls linearly to
     *                   {@link #FINAL_RATE_SCALE} of its value (0: constant), see {@link #rateScale}
     */
    record Options(ModelSizes sizes, long seed, int vaeSteps, int vaeBatch, float vaeLearningRate, int datasetSize,
                   int unetSteps, int unetBatch, float unetLearningRate, double emaDecay, TensorDtype dtype,
                   double maxSeconds, int snapshotEvery, Path vaeFrom, double warmdown, Path unetFrom, double highTShare,
                   int decoderSteps, double decoderNoise) {

        /** Stage 2 of the recipe: continues the model in {@code from} (see {@link TrainCommand}). */
        static Options stage2(Path from) {
            Options d = demo();
            return new Options(d.sizes(), d.seed(), d.vaeSteps(), d.vaeBatch(), d.vaeLearningRate(), 32768, 11000,
                    d.unetBatch(), 4e-4f, d.emaDecay(), d.dtype(), 75 * 60, 0, from, d.warmdown(), from, 0.3, 3000, 0.2);
        }

        Options withSeed(long newSeed) {
            return new Options(sizes, newSeed, vaeSteps, vaeBatch, vaeLearningRate, datasetSize, unetSteps, unetBatch,
                    unetLearningRate, emaDecay, dtype, maxSeconds, snapshotEvery, vaeFrom, warmdown, unetFrom, highTShare,
                    decoderSteps, decoderNoise);
        }

        static Options demo() {
            return new Options(ModelSizes.DEMO, 1234, 2000, 16, 2e-3f, 16384, 5500, 64, 8e-4f, 0.999, TensorDtype.F16, 57 * 60, 0,
                    null, 0.3, null, DiffusionTraining.HIGH_T_SHARE, 0, 0.2);
        }
    }

    /** What is left of the learning rate at the very end of a phase with a warm-down. */
    static final double FINAL_RATE_SCALE = 0.05;
    /** Time kept back from the U-Net phase for the held-out loss and writing the folder. */
    static final double RESERVE_SECONDS = 30;

    /**
     * The learning-rate factor at {@code progress} (0 to 1) through a phase: 1, then over the last
     * {@code warmdown} share a straight line down to {@link #FINAL_RATE_SCALE} ("warmup-stable-decay"
     * without the warm-up: Adam's bias correction already keeps the first steps small). A phase cut short
     * by the time limit measures its progress in time, so the decay still happens before it stops.
     */
    static double rateScale(double progress, double warmdown) {
        if (warmdown <= 0 || progress <= 1 - warmdown) {
            return 1;
        }
        double into = Math.min(1, (progress - (1 - warmdown)) / warmdown);
        return 1 - into * (1 - FINAL_RATE_SCALE);
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
        long start = System.nanoTime();
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
        MapWeights startWeights = null;
        if (o.unetFrom() != null) {
            startWeights = new MapWeights();
            try (StableDiffusionModel m = StableDiffusionModel.open(o.unetFrom())) {
                startWeights.putAll(m.unet()).putAll(m.textEncoder());
            }
            log.printf("unet: starting from the U-Net and text encoder of %s%n", o.unetFrom());
        }
        try (DiffusionTraining diffusion = new DiffusionTraining(sizes, tokenizer, o.seed() + 3,
                o.unetLearningRate(), o.emaDecay(), startWeights)) {
            diffusion.highTShare(o.highTShare());
            double budget = o.maxSeconds() <= 0 ? 0 : o.maxSeconds() - (System.nanoTime() - start) / 1e9 - RESERVE_SECONDS;
            if (o.maxSeconds() > 0) {
                log.printf("unet: %s left of the %s limit%n", Progress.time(Math.max(0, budget)), Progress.time(o.maxSeconds()));
            }
            Progress p = new Progress("unet", o.unetSteps(), log, 10);
            float[] batch = new float[o.unetBatch() * per];
            String[] captions = new String[o.unetBatch()];
            for (int step = 1; step <= o.unetSteps(); step++) {
                double progress = (step - 1) / (double) o.unetSteps();
                if (budget > 0) {
                    progress = Math.max(progress, p.elapsedSeconds() / budget);
                }
                diffusion.scaleLearningRate(rateScale(progress, o.warmdown()));
                fillBatch(rng, scenes, latents, per, batch, captions);
                p.step(step, diffusion.step(batch, captions, latentSize, rng));
                if (o.snapshotEvery() > 0 && step % o.snapshotEvery() == 0 && step < o.unetSteps()) {
                    Path snapshot = out.resolveSibling(out.getFileName() + "-snapshots").resolve("step-" + step);
                    write(snapshot, diffusion.averagedWeights(), vaeWeights, scaling, tokenizer);
                }
                if (o.maxSeconds() > 0 && p.elapsedSeconds() > budget && step < o.unetSteps()) {
                    log.printf("unet: the run's time limit of %s reached: stopping at step %d of %d%n",
                            Progress.time(o.maxSeconds()), step, o.unetSteps());
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

        if (o.decoderSteps() > 0) {
            vaeWeights = trainDecoder(vaeWeights, scaling);
        }
        write(out, unetAndText, vaeWeights, scaling, tokenizer);
        return new Result(data.vaeLoss(), diffusionLoss, scaling, data.vaeSeconds(), unetSeconds);
    }

    /**
     * The decoder phase: {@link DecoderTraining} for {@code decoderSteps} steps (learning rate falling over the
     * warm-down as in the other phases); returns the VAE with the new decoder and the same encoder.
     */
    private MapWeights trainDecoder(MapWeights vaeWeights, double scaling) {
        ModelSizes sizes = o.sizes();
        VaeConfig config = VaeConfig.fromJson(ModelSizes.json(sizes.vaeConfigWithScaling(scaling)));
        SplittableRandom rng = new SplittableRandom(o.seed() + 5);
        try (DecoderTraining decoder = new DecoderTraining(config, sizes.imageSize, vaeWeights, o.seed() + 6,
                DECODER_LEARNING_RATE, o.emaDecay())) {
            Progress p = new Progress("decoder", o.decoderSteps(), log, 10);
            for (int step = 1; step <= o.decoderSteps(); step++) {
                decoder.scaleLearningRate(rateScale((step - 1) / (double) o.decoderSteps(), o.warmdown()));
                p.step(step, decoder.step(rng, DECODER_BATCH, o.decoderNoise()));
            }
            log.printf("decoder: %d steps with latent noise up to %.2f, %s%n", o.decoderSteps(), o.decoderNoise(),
                    Progress.time(p.elapsedSeconds()));
            return decoder.averagedVae();
        }
    }

    static final float DECODER_LEARNING_RATE = 5e-4f;
    static final int DECODER_BATCH = 32;

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
                vae.scaleLearningRate(rateScale((step - 1) / (double) o.vaeSteps(), o.warmdown()));
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
            MapWeights weights = new MapWeights().putAll(model.vae());
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
        ModelParts parts = new ModelParts(unet, vaeWeights, text, sizes.unetConfig(), sizes.vaeConfigWithScaling(scaling),
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
