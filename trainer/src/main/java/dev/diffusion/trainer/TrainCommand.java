package dev.diffusion.trainer;

import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code ./sd train}: trains the bundled demo model from scratch and writes it as a diffusers
 * folder (default {@code models/demo}). Seeded; prints step, loss and time left as it goes.
 */
public final class TrainCommand {
    static final String HELP = """
            usage: ./sd train [--out DIR] [--seed N] [--vae-steps N] [--unet-steps N] [--dataset N] [--threads N]
                       [--max-minutes M] [--warmdown F] [--snapshot-every N] [--vae-from DIR]
                       [--unet-from DIR] [--unet-lr X] [--high-t-share F]
                       [--decoder-steps N] [--decoder-noise X] [--prediction v_prediction|epsilon]
              trains the demo model (shapes world, 64x64) and writes a diffusers folder (default models/demo)
              --max-minutes M      the whole run's time limit (default 57): the U-Net phase gets what the VAE left and
                                   stops early (and says so) when it runs out; 0 = no limit
              --warmdown F         the learning rate falls linearly to 5 % over the last F of each phase (default 0.3;
                                   0 = constant)
              --snapshot-every N   also writes the averaged weights every N U-Net steps to DIR-snapshots/step-N
              --vae-from DIR       takes the VAE of an existing model folder (e.g. models/demo) instead of training
                                   one: retrains the U-Net and text encoder only
              --unet-from DIR      starts the U-Net and text encoder from that model folder's (e.g. a snapshot) instead
                                   of fresh weights: with --vae-from DIR, compares recipe changes in a few hundred steps
              --unet-lr X          the U-Net phase's peak learning rate (default 8e-4)
              --high-t-share F     share of each U-Net batch drawn from t >= 850, where the layout is decided
                                   (default 0.5; the rest is drawn from all timesteps)
              --decoder-steps N    then trains the VAE's decoder N more steps, encoder frozen, on latents with noise
                                   (the latent space, and so the U-Net, stays valid); with --unet-steps 0 and
                                   --vae-from/--unet-from one folder, fine-tunes that model's decoder alone
              --decoder-noise X    the largest noise level put on those latents, in the U-Net's scale (default 0.2)
              --prediction TYPE    what the U-Net learns to predict (default v_prediction; epsilon ignores position)
            """;

    private TrainCommand() {}

    public static void main(String[] args) {
        DemoModelTrainer.Options d = DemoModelTrainer.Options.demo();
        Path out = Main.root().resolve("models").resolve("demo");
        long seed = d.seed();
        int vaeSteps = d.vaeSteps();
        int unetSteps = d.unetSteps();
        int dataset = d.datasetSize();
        double maxMinutes = d.maxSeconds() / 60;
        double warmdown = d.warmdown();
        int snapshotEvery = 0;
        Path vaeFrom = null;
        Path unetFrom = null;
        ModelSizes sizes = d.sizes();
        float unetLr = d.unetLearningRate();
        double highTShare = d.highTShare();
        int decoderSteps = d.decoderSteps();
        double decoderNoise = 0.2;
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("--help") || flag.equals("-h")) {
                System.out.print(HELP);
                return;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(flag + " needs a value\n" + HELP);
            }
            String v = args[++i];
            switch (flag) {
                case "--out" -> out = Path.of(v);
                case "--seed" -> seed = Long.parseLong(v);
                case "--vae-steps" -> vaeSteps = Integer.parseInt(v);
                case "--unet-steps" -> unetSteps = Integer.parseInt(v);
                case "--dataset" -> dataset = Integer.parseInt(v);
                case "--max-minutes" -> maxMinutes = Double.parseDouble(v);
                case "--warmdown" -> warmdown = Double.parseDouble(v);
                case "--snapshot-every" -> snapshotEvery = Integer.parseInt(v);
                case "--vae-from" -> vaeFrom = Path.of(v);
                case "--unet-from" -> unetFrom = Path.of(v);
                case "--unet-lr" -> unetLr = Float.parseFloat(v);
                case "--high-t-share" -> highTShare = Double.parseDouble(v);
                case "--decoder-steps" -> decoderSteps = Integer.parseInt(v);
                case "--decoder-noise" -> decoderNoise = Double.parseDouble(v);
                case "--prediction" -> sizes = sizes.withPrediction(v);
                case "--threads" -> System.setProperty("diffusion.threads", v);
                default -> throw new IllegalArgumentException("unknown option " + flag + "\n" + HELP);
            }
        }
        var options = new DemoModelTrainer.Options(sizes, seed, vaeSteps, d.vaeBatch(), d.vaeLearningRate(), dataset,
                unetSteps, d.unetBatch(), unetLr, d.emaDecay(), d.dtype(), maxMinutes * 60,
                snapshotEvery, vaeFrom, warmdown, unetFrom, highTShare, decoderSteps, decoderNoise);
        System.out.println("train: " + options.toString().replace("Options", "").toLowerCase(Locale.ROOT) + " -> " + out);
        long start = System.nanoTime();
        DemoModelTrainer.Result r = new DemoModelTrainer(options, System.out).train(out);
        System.out.printf("train: done in %s (vae %s, unet %s); vae loss %.5f, diffusion loss %.5f%n",
                Progress.time((System.nanoTime() - start) / 1e9), Progress.time(r.vaeSeconds()),
                Progress.time(r.unetSeconds()), r.vaeLoss(), r.diffusionLoss());
    }
}
