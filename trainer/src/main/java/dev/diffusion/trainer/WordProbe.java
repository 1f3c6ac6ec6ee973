package dev.diffusion.trainer;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.core.sampling.NoiseSchedule;
import dev.diffusion.core.vae.AutoencoderKL;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Whether a model uses each attribute word, measured where it is learnt: the noise-prediction loss
 * on encoded scenes at fixed timesteps with the right caption, then with one attribute word swapped
 * for another value. A ratio (swapped / right) near 1 means the word is ignored. Cheaper and more
 * telling than sampling images while a training run is under way ({@code --snapshot-every}).
 */
final class WordProbe {
    private WordProbe() {}

    /** Loss with the right caption at timestep t, and the ratio for each swapped attribute (colour, position, background, shape). */
    record Row(int t, double right, double colour, double position, double background, double shape) {
        @Override
        public String toString() {
            return String.format("t=%-4d loss %.5f   swapped word: colour x%.2f  position x%.2f  background x%.2f  shape x%.2f",
                    t, right, colour, position, background, shape);
        }
    }

    static final int[] TIMESTEPS = {300, 500, 700, 800, 900, 950};

    static List<Row> run(String model, int count, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        try (ModelSource source = ModelSource.open(model, null);
             AutoencoderKL vae = source.vae(Precision.FP32, false, true);
             StableDiffusionPipeline p = StableDiffusionPipeline.load(model, null, Precision.FP32)) {
            NoiseSchedule schedule = NoiseSchedule.of(source.schedulerConfig());
            boolean v = source.schedulerConfig().predictionType() == dev.diffusion.core.sampling.PredictionType.V_PREDICTION;
            int side = source.nativeImageSize();
            int latent = side / vae.config().downscale();
            int per = latent * latent * vae.config().latentChannels();
            Scene[] scenes = new Scene[count];
            float[] pixels = new float[count * side * side * 3];
            for (int i = 0; i < count; i++) {
                scenes[i] = Scene.random(rng, side);
                Scene.toUnit(scenes[i].render(), pixels, i * side * side * 3);
            }
            float[] x0 = vae.encode(pixels, count, side, side).mode(vae.config().scalingFactor(), vae.config().shiftFactor());
            // contexts: the right caption, then one attribute swapped (colour, position, background, shape)
            float[][] contexts = new float[5][];
            for (int k = 0; k < 5; k++) {
                List<float[]> parts = new ArrayList<>();
                for (Scene s : scenes) {
                    String caption = caption(k == 1 ? other(s.colour(), rng) : s.colour(), k == 2 ? other(s.position(), rng)
                            : s.position(), k == 3 ? other(s.background(), rng) : s.background(), k == 4 ? other(s.shape(), rng)
                            : s.shape());
                    float[] both = p.encodePrompts("", caption, 1, ProgressListener.NONE);
                    parts.add(java.util.Arrays.copyOfRange(both, both.length / 2, both.length));
                }
                int len = parts.get(0).length;
                contexts[k] = new float[count * len];
                for (int i = 0; i < count; i++) {
                    System.arraycopy(parts.get(i), 0, contexts[k], i * len, len);
                }
            }
            List<Row> rows = new ArrayList<>();
            for (int t : TIMESTEPS) {
                double a = schedule.alphaCumprod(t);
                float[] eps = Gaussian.fill(rng, new float[count * per]);
                float[] xt = new float[count * per];
                for (int i = 0; i < xt.length; i++) {
                    xt[i] = (float) (Math.sqrt(a) * x0[i] + Math.sqrt(1 - a) * eps[i]);
                }
                float[] ts = new float[count];
                java.util.Arrays.fill(ts, t);
                double[] loss = new double[5];
                for (int k = 0; k < 5; k++) {
                    float[] pred = p.predictNoise(xt, count, latent, latent, ts, contexts[k]);
                    if (v) { // compared as noise predictions, whatever the model predicts
                        for (int i = 0; i < pred.length; i++) {
                            pred[i] = DiffusionTraining.epsilonFromV(a, pred[i], xt[i]);
                        }
                    }
                    for (int i = 0; i < pred.length; i++) {
                        loss[k] += (pred[i] - eps[i]) * (double) (pred[i] - eps[i]);
                    }
                    loss[k] /= pred.length;
                }
                rows.add(new Row(t, loss[0], loss[1] / loss[0], loss[2] / loss[0], loss[3] / loss[0], loss[4] / loss[0]));
            }
            return rows;
        }
    }

    /** A training-style caption naming all four attributes. */
    static String caption(Scene.Colour c, Scene.Position p, Scene.Background b, Scene.Shape s) {
        SplittableRandom fixed = new SplittableRandom(0);
        return "a " + Scene.word(c) + " " + Scene.word(s) + " " + Captions.positionPhrase(p, fixed) + " on a " + Scene.word(b)
                + " background";
    }

    private static <E extends Enum<E>> E other(E value, SplittableRandom rng) {
        E[] all = value.getDeclaringClass().getEnumConstants();
        return all[(value.ordinal() + 1 + rng.nextInt(all.length - 1)) % all.length];
    }
}
