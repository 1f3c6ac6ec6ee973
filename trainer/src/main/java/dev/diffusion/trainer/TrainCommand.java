package dev.diffusion.trainer;

import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code ./sd train}: trains the bundled demo model from scratch and writes it as a diffusers
 * folder (default {@code models/demo}). Seeded; prints step, loss and time left as it goes.
 */
public final class TrainCommand {
    static final String HELP = """
            usage: ./sd train [--out DIR] [--seed N] [--threads N]
                   ./sd train --stage 1|2 [--out DIR] [--seed N] [options of that stage]
              trains the demo model (shapes world, 64x64) and writes a diffusers folder (default models/demo).
              Without --stage, the whole recipe, seeded (about 2 h 15 min on 2 cores):
                stage 1 (to DIR-stage1): tokenizer, VAE 2,000 steps, U-Net 5,500 steps of 64 or 57 minutes;
                stage 2 (to DIR): from stage 1's VAE, U-Net and text encoder, 32,768 freshly encoded scenes, U-Net
                  11,000 more steps at half the rate with 30 % of each batch at t >= 850 (stage 1: 50 %), then
                  3,000 decoder steps on noisy latents (encoder frozen).
              Options of one stage (--stage 2 starts from DIR-stage1 unless --from names another folder):
              --from DIR           (stage 2) the model folder to continue: its VAE, U-Net and text encoder
              --vae-steps N, --unet-steps N, --dataset N (scenes encoded for the U-Net)
              --max-minutes M      the stage's time limit (stage 1: 57, stage 2: 75, its decoder phase after it): the
                                   U-Net phase gets what the VAE left and stops early (and says so); 0 = no limit
              --warmdown F         the learning rate falls linearly to 5 % over the last F of each phase (default 0.3;
                                   0 = constant)
              --snapshot-every N   also writes the averaged weights every N U-Net steps to DIR-snapshots/step-N
              --vae-from DIR       takes the VAE of an existing model folder instead of training one
              --unet-from DIR      starts the U-Net and text encoder from that model folder's
              --unet-lr X          the U-Net phase's peak learning rate (stage 1: 8e-4, stage 2: 4e-4)
              --high-t-share F     share of each U-Net batch drawn from t >= 850, where the layout is decided
                                   (stage 1: 0.5, stage 2: 0.3; the rest from all timesteps)
              --decoder-steps N    then trains the VAE's decoder N more steps, encoder frozen, on latents with noise
                                   (the latent space, and so the U-Net, stays valid); stage 2: 3,000. With
                                   --unet-steps 0 this fine-tunes a folder's decoder alone
              --decoder-noise X    the largest noise level put on those latents, in the U-Net's scale (default 0.2)
              --prediction TYPE    what the U-Net learns to predict (default v_prediction; epsilon ignores position)
            """;


    private TrainCommand() {}

    public static void main(String[] args) {
        Path out = Main.root().resolve("models").resolve("demo");
        long seed = DemoModelTrainer.Options.demo().seed();
        int stage = 0;
        java.util.List<String> stageArgs = new java.util.ArrayList<>();
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
                case "--seed" -> seed = Flags.seed(flag, v);
                case "--threads" -> System.setProperty("diffusion.threads", Integer.toString(Flags.integer(flag, v, 1, 1024)));
                case "--stage" -> {
                    stage = Flags.integer(flag, v, 1, 2);
                }
                default -> {
                    stageArgs.add(flag);
                    stageArgs.add(v);
                }
            }
        }
        long start = System.nanoTime();
        if (stage == 0) {
            if (!stageArgs.isEmpty()) {
                throw new IllegalArgumentException("the whole recipe takes only --out, --seed and --threads; name --stage 1 "
                        + "or --stage 2 to change " + stageArgs.get(0) + "\n" + HELP);
            }
            Path first = out.resolveSibling(out.getFileName() + "-stage1");
            run(DemoModelTrainer.Options.demo().withSeed(seed), first);
            run(DemoModelTrainer.Options.stage2(first).withSeed(seed), out);
            System.out.printf("train: both stages done in %s -> %s (stage 1 kept in %s)%n",
                    Progress.time((System.nanoTime() - start) / 1e9), out, first);
            return;
        }
        DemoModelTrainer.Options d = stage == 1 ? DemoModelTrainer.Options.demo().withSeed(seed)
                : DemoModelTrainer.Options.stage2(out.resolveSibling(out.getFileName() + "-stage1")).withSeed(seed);
        int vaeSteps = d.vaeSteps();
        int unetSteps = d.unetSteps();
        int dataset = d.datasetSize();
        double maxMinutes = d.maxSeconds() / 60;
        double warmdown = d.warmdown();
        int snapshotEvery = 0;
        Path vaeFrom = d.vaeFrom();
        Path unetFrom = d.unetFrom();
        ModelSizes sizes = d.sizes();
        float unetLr = d.unetLearningRate();
        double highTShare = d.highTShare();
        int decoderSteps = d.decoderSteps();
        double decoderNoise = d.decoderNoise();
        for (int i = 0; i < stageArgs.size(); i += 2) {
            String flag = stageArgs.get(i);
            String v = stageArgs.get(i + 1);
            switch (flag) {
                case "--from" -> {
                    vaeFrom = Flags.existing(flag, v);
                    unetFrom = vaeFrom;
                }
                case "--vae-steps" -> vaeSteps = Flags.integer(flag, v, 0, 10_000_000);
                case "--unet-steps" -> unetSteps = Flags.integer(flag, v, 0, 10_000_000);
                case "--dataset" -> dataset = Flags.integer(flag, v, 1, 10_000_000);
                case "--max-minutes" -> maxMinutes = Flags.decimal(flag, v, 0, 1e6);
                case "--warmdown" -> warmdown = Flags.decimal(flag, v, 0, 1);
                case "--snapshot-every" -> snapshotEvery = Flags.integer(flag, v, 0, 10_000_000);
                case "--vae-from" -> vaeFrom = Flags.existing(flag, v);
                case "--unet-from" -> unetFrom = Flags.existing(flag, v);
                case "--unet-lr" -> unetLr = (float) Flags.decimal(flag, v, 0, 1);
                case "--high-t-share" -> highTShare = Flags.decimal(flag, v, 0, 1);
                case "--decoder-steps" -> decoderSteps = Flags.integer(flag, v, 0, 10_000_000);
                case "--decoder-noise" -> decoderNoise = Flags.decimal(flag, v, 0, 10);
                case "--prediction" -> sizes = sizes.withPrediction(v);
                default -> throw new IllegalArgumentException("unknown option " + flag + "\n" + HELP);
            }
        }
        run(new DemoModelTrainer.Options(sizes, seed, vaeSteps, d.vaeBatch(), d.vaeLearningRate(), dataset,
                unetSteps, d.unetBatch(), unetLr, d.emaDecay(), d.dtype(), maxMinutes * 60,
                snapshotEvery, vaeFrom, warmdown, unetFrom, highTShare, decoderSteps, decoderNoise), out);
    }

    private static void run(DemoModelTrainer.Options options, Path out) {
        System.out.println("train: " + options.toString().replace("Options", "").toLowerCase(Locale.ROOT) + " -> " + out);
        long start = System.nanoTime();
        DemoModelTrainer.Result r = new DemoModelTrainer(options, System.out).train(out);
        System.out.printf("train: done in %s (vae %s, unet %s); vae loss %.5f, diffusion loss %.5f%n",
                Progress.time((System.nanoTime() - start) / 1e9), Progress.time(r.vaeSeconds()),
                Progress.time(r.unetSeconds()), r.vaeLoss(), r.diffusionLoss());
    }
}
