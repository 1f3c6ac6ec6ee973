package dev.diffusion.trainer;

import dev.diffusion.core.clip.ClipTextConfig;
import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.sampling.NoiseSchedule;
import dev.diffusion.core.sampling.PredictionType;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.core.weights.MapWeights;
import java.util.Map;
import java.util.SplittableRandom;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Trains the U-Net and the text encoder jointly on the noise-prediction objective (Ho et al. 2020,
 * eq. 14): x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε with ᾱ from the model's own schedule (cosine,
 * {@code squaredcos_cap_v2}), the network predicting ε, or v = √ᾱ·ε − √(1−ᾱ)·x₀ (Salimans & Ho
 * 2022) when the scheduler config says {@code v_prediction} (the demo model's default, see
 * {@link ModelSizes#PREDICTION}); squared error weighted by {@link #lossWeight} / {@link #vLossWeight}.
 * A caption is replaced by the empty prompt 10 % of the time, so the same network also predicts
 * unconditionally, which classifier-free guidance needs (Ho & Salimans 2022).
 *
 * <p>Departures from plain uniform training, all about the first sampling steps, where background
 * and position are decided (the sampler starts at t = 951, ᾱ ≈ 0.006): the loss weight (an
 * unweighted ε loss there is ~0.002, so those steps hardly trained), half of each batch drawn
 * from t ≥ {@link #HIGH_T_FROM}, and offset noise (Guttenberg 2023: a constant per sample and channel
 * added to ε), so that the mean of x_t, which at t = 951 still carries the background, is not a cue
 * the model can lean on instead of the caption.
 */
final class DiffusionTraining implements AutoCloseable {
    static final double CAPTION_DROPOUT = 0.1;

    private final UNetConfig unet;
    private final ClipTextConfig text;
    private final ClipTokenizer tokenizer;
    private final NoiseSchedule schedule;
    private final TrainingGraph graph;
    private Forward forward;
    private final boolean vPrediction;

    /** γ of the Min-SNR weighting (Hang et al. 2023), see {@link #lossWeight}. */
    static final double MIN_SNR_GAMMA = 5.0;
    /** Upper bound of the ε-loss weight at the noisiest timesteps. */
    static final double MAX_WEIGHT = 20.0;
    /** Standard deviation of the per-sample, per-channel constant added to the training noise. */
    static final double OFFSET_NOISE = 0.1;
    /**
     * Share of each batch whose timestep is drawn from [{@link #HIGH_T_FROM}, T) rather than [0, T). Position is
     * learnt only there (a swapped position word changes the loss ×3 at t ≥ 900, ×1.2 at 800, ×1.0 below) and
     * slowly, the network having to read where it is off the zero padding: continuing a run's step-2,000
     * snapshot (position 20 %) for 1,000 steps gave position 39 % with a quarter of the batch from t ≥ 800,
     * 85 % with half from t ≥ 850, colour and shape unchanged (100 / 81 % and 99 / 80 %).
     */
    static final double HIGH_T_SHARE = 0.5;
    /** Where the sampler decides the layout: below it the shape already shows through the noise. */
    static final int HIGH_T_FROM = 850;

    private double highTShare = HIGH_T_SHARE;

    private record Forward(Placeholder<TInt32> ids, Placeholder<TFloat32> noisy, Placeholder<TFloat32> timesteps,
                           Placeholder<TFloat32> noise, Placeholder<TFloat32> weights, Operand<TFloat32> loss) {}

    DiffusionTraining(ModelSizes sizes, ClipTokenizer tokenizer, long seed, float learningRate, double emaDecay) {
        this(sizes, tokenizer, seed, learningRate, emaDecay, null);
    }

    /** @param start U-Net and text encoder weights to continue from (text encoder keys under {@code text_model.}), or null */
    DiffusionTraining(ModelSizes sizes, ClipTokenizer tokenizer, long seed, float learningRate, double emaDecay,
                      MapWeights start) {
        this.unet = sizes.unet();
        this.text = sizes.textEncoder(tokenizer.vocabSize());
        this.tokenizer = tokenizer;
        this.schedule = NoiseSchedule.of(sizes.scheduler());
        this.vPrediction = sizes.scheduler().predictionType() == PredictionType.V_PREDICTION;
        this.graph = new TrainingGraph(nn -> (forward = build(nn, unet, text)).loss, nn -> build(nn, unet, text), seed,
                learningRate, emaDecay, start);
    }

    /**
     * The weight of the ε loss at a timestep with cumulative ᾱ, SNR = ᾱ/(1−ᾱ). An ε error e means an
     * x₀ error e/√SNR, so the ε loss is an x₀ loss weighted by SNR; this weights x₀ errors by SNR
     * clamped to [1, γ] instead: Min-SNR-γ on the clean side (nearly noise-free steps no longer
     * dominate), v-prediction-like on the noisy side (an x₀ error counts the same however noisy the
     * input). In ε terms: clamp(SNR, 1, γ)/SNR, at most {@link #MAX_WEIGHT}.
     */
    static double lossWeight(double alphaCumprod) {
        double snr = alphaCumprod / (1 - alphaCumprod);
        double x0Weight = Math.max(1.0, Math.min(snr, MIN_SNR_GAMMA));
        return Math.min(x0Weight / snr, MAX_WEIGHT);
    }

    /**
     * The same x₀ weighting for a v-prediction loss: a v error e is an x₀ error √(1−ᾱ)·e, so the v
     * loss is an x₀ loss weighted by 1/(1−ᾱ) = SNR + 1; clamp(SNR, 1, γ)/(SNR + 1) undoes that.
     */
    static double vLossWeight(double alphaCumprod) {
        double snr = alphaCumprod / (1 - alphaCumprod);
        return Math.max(1.0, Math.min(snr, MIN_SNR_GAMMA)) / (snr + 1);
    }

    /** The v-prediction target (Salimans & Ho 2022): v = √ᾱ·ε − √(1−ᾱ)·x₀. */
    static float vTarget(double alphaCumprod, float eps, float x0) {
        return (float) (Math.sqrt(alphaCumprod) * eps - Math.sqrt(1 - alphaCumprod) * x0);
    }

    /** The noise a v prediction implies at x_t: ε = √ᾱ·v + √(1−ᾱ)·x_t. */
    static float epsilonFromV(double alphaCumprod, float v, float xt) {
        return (float) (Math.sqrt(alphaCumprod) * v + Math.sqrt(1 - alphaCumprod) * xt);
    }

    private static Forward build(Nn nn, UNetConfig unet, ClipTextConfig text) {
        Ops tf = nn.tf;
        int c = unet.inChannels();
        Placeholder<TInt32> ids = tf.placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, text.maxPositionEmbeddings())));
        Placeholder<TFloat32> noisy = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, c)));
        Placeholder<TFloat32> timesteps = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
        Placeholder<TFloat32> noise = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, c)));
        Operand<TFloat32> context = ClipTextModel.build(nn, text, ids).get(0);
        Operand<TFloat32> prediction = UNet2DConditionModel.build(nn, unet, noisy, timesteps, context);
        Placeholder<TFloat32> weights = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
        Operand<TFloat32> perSample = tf.math.mean(tf.math.square(tf.math.sub(prediction, noise)),
                tf.constant(new int[] {1, 2, 3}));
        Operand<TFloat32> loss = tf.math.mean(tf.math.mul(perSample, weights), tf.constant(0));
        return new Forward(ids, noisy, timesteps, noise, weights, loss);
    }

    /**
     * One step on clean latents x₀ (NHWC, the U-Net's scale) and their captions; returns the loss.
     * Caption dropout, timesteps and noise are drawn from {@code rng}.
     */
    float step(float[] latents, String[] captions, int size, SplittableRandom rng) {
        return run(latents, captions, size, rng, true);
    }

    float loss(float[] latents, String[] captions, int size, SplittableRandom rng) {
        return run(latents, captions, size, rng, false);
    }

    private float run(float[] latents, String[] captions, int size, SplittableRandom rng, boolean train) {
        int batch = captions.length;
        int c = unet.inChannels();
        int per = size * size * c;
        int length = text.maxPositionEmbeddings();
        int[] ids = new int[batch * length];
        float[] t = new float[batch];
        float[] w = new float[batch];
        float[] eps = Gaussian.fill(rng, new float[batch * per]);
        float[] offsets = Gaussian.fill(rng, new float[batch * c]);
        for (int i = 0; i < eps.length; i++) {
            eps[i] += (float) (OFFSET_NOISE * offsets[(i / per) * c + i % c]);
        }
        float[] noisy = new float[batch * per];
        float[] target = vPrediction ? new float[batch * per] : eps;
        int steps = schedule.trainTimesteps();
        int highT = (int) Math.round(batch * highTShare);
        for (int b = 0; b < batch; b++) {
            String caption = train && rng.nextDouble() < CAPTION_DROPOUT ? "" : captions[b];
            System.arraycopy(tokenizer.encode(caption).ids(), 0, ids, b * length, length);
            int step = b < highT ? HIGH_T_FROM + rng.nextInt(steps - HIGH_T_FROM) : rng.nextInt(steps);
            t[b] = step;
            double a = schedule.alphaCumprod(step);
            w[b] = (float) (vPrediction ? vLossWeight(a) : lossWeight(a));
            float signal = (float) Math.sqrt(a);
            float sigma = (float) Math.sqrt(1 - a);
            for (int i = b * per; i < (b + 1) * per; i++) {
                noisy[i] = signal * latents[i] + sigma * eps[i];
            }
            if (vPrediction) {
                for (int i = b * per; i < (b + 1) * per; i++) {
                    target[i] = vTarget(a, eps[i], latents[i]);
                }
            }
        }
        try (TInt32 idsT = TInt32.tensorOf(Shape.of(batch, length), DataBuffers.of(ids, true, false));
             TFloat32 x = Tensors.of(noisy, batch, size, size, c);
             TFloat32 tT = Tensors.of(t, batch);
             TFloat32 n = Tensors.of(target, batch, size, size, c);
             TFloat32 wT = Tensors.of(w, batch)) {
            Map<Placeholder<?>, org.tensorflow.Tensor> feeds = Map.of(forward.ids(), idsT, forward.noisy(), x,
                    forward.timesteps(), tT, forward.noise(), n, forward.weights(), wT);
            return train ? graph.step(feeds) : graph.evaluate(feeds);
        }
    }

    /** Sets the share of each batch drawn from t ≥ {@link #HIGH_T_FROM} (default {@link #HIGH_T_SHARE}). */
    void highTShare(double share) {
        if (share < 0 || share > 1) {
            throw new IllegalArgumentException("high-t share must be within [0, 1], got " + share);
        }
        this.highTShare = share;
    }

    /** Multiplies the learning rate of the next steps (a schedule's factor; 1 = as constructed). */
    void scaleLearningRate(double scale) {
        graph.scaleLearningRate(scale);
    }

    void useAveragedWeights() {
        graph.useAveragedWeights();
    }

    /** The moving averages of the U-Net and text encoder weights, training unaffected. */
    MapWeights averagedWeights() {
        return graph.averagedWeights();
    }

    /** U-Net and text encoder weights together (text encoder keys start with {@code text_model.}). */
    MapWeights weights() {
        return graph.weights();
    }

    @Override
    public void close() {
        graph.close();
    }
}
