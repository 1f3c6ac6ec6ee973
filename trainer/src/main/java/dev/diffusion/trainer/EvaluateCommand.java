package dev.diffusion.trainer;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import java.nio.file.Path;

/**
 * {@code ./sd evaluate}: prompt adherence of a model (default the bundled demo model) on
 * held-out phrasings, per attribute, at the command line's default sampling settings.
 */
public final class EvaluateCommand {
    static final String HELP = """
            usage: ./sd evaluate [--model DIR] [--count N] [--seed N] [--steps N] [--sampler NAME] [--cfg-scale X]
                                 [--save DIR] [--threads N] [--vae-only] [--probe] [--analyse DIR]
                                 [--sheet FILE.png]
              generates N (default 100) images for held-out prompts and prints colour / position / background /
              shape adherence; defaults are ./sd generate's (euler, 20 steps, cfg 7). --vae-only analyses drawn
              scenes passed through the model's VAE instead (the ceiling the VAE sets). --probe prints, per timestep,
              how much the noise-prediction loss grows when one attribute word of the caption is swapped (x1.00: ignored).
              --sheet FILE writes the images with their prompts and verdicts as one PNG (6 per row).
              --analyse DIR prints what the analyser sees in each PNG of DIR (any source), and nothing else
            """;

    private EvaluateCommand() {}

    static void analyseFolder(Path dir) {
        try (var files = java.nio.file.Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".png")).sorted().toList()) {
                var image = dev.diffusion.core.image.Png.decode(java.nio.file.Files.readAllBytes(f));
                System.out.println(f.getFileName() + " " + ShapeAnalyser.analyse(image.rgb(), image.width(), image.height())
                        .describe());
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static void main(String[] args) {
        Path model = Main.root().resolve("models").resolve("demo");
        int count = 100;
        long seed = 2024;
        GenerationRequest base = GenerationRequest.of("");
        int steps = base.steps();
        String sampler = base.sampler();
        double cfg = base.cfgScale();
        Path save = null;
        Path sheetFile = null;
        boolean vaeOnly = false;
        boolean probe = false;
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("--help") || flag.equals("-h")) {
                System.out.print(HELP);
                return;
            }
            if (flag.equals("--vae-only")) {
                vaeOnly = true;
                continue;
            }
            if (flag.equals("--probe")) {
                probe = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(flag + " needs a value\n" + HELP);
            }
            String v = args[++i];
            switch (flag) {
                case "--model" -> model = Flags.existing(flag, v);
                case "--count" -> count = Flags.integer(flag, v, 1, 100_000);
                case "--seed" -> seed = Flags.seed(flag, v);
                case "--steps" -> steps = Flags.integer(flag, v, 1, dev.diffusion.core.pipeline.GenerationRequest.MAX_STEPS);
                case "--sampler" -> sampler = v;
                case "--cfg-scale" -> cfg = Flags.decimal(flag, v, 0, dev.diffusion.core.pipeline.GenerationRequest.MAX_CFG);
                case "--save" -> save = Path.of(v);
                case "--sheet" -> sheetFile = Flags.writable(flag, v);
                case "--analyse" -> {
                    analyseFolder(Flags.existing(flag, v));
                    return;
                }
                case "--threads" -> System.setProperty("diffusion.threads", Integer.toString(Flags.integer(flag, v, 1, 1024)));
                default -> throw new IllegalArgumentException("unknown option " + flag + "\n" + HELP);
            }
        }
        base = base.withSampling(sampler, null, steps, cfg);
        long start = System.nanoTime();
        if (probe) {
            System.out.printf("probe: %s, %d encoded scenes%n", model, Math.min(count, 48));
            WordProbe.run(model.toString(), Math.min(count, 48), seed).forEach(System.out::println);
            return;
        }
        if (vaeOnly) {
            try (dev.diffusion.core.pipeline.ModelSource source = dev.diffusion.core.pipeline.ModelSource.open(model.toString(), null);
                 dev.diffusion.core.vae.AutoencoderKL vae = source.vae(Precision.FP32, true, true)) {
                Adherence.Report r = Adherence.reconstructions(vae, Adherence.heldOutPrompts(count, seed),
                        source.nativeImageSize(), save);
                System.out.println("vae reconstructions: " + r.summary());
            }
            return;
        }
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(model, null, Precision.FP32)) {
            System.out.printf("evaluate: %s, %d held-out prompts, %s, %d steps, cfg %.1f, %dx%d%n", model, count, sampler, steps,
                    cfg, pipeline.nativeImageSize(), pipeline.nativeImageSize());
            java.util.List<ContactSheet.Tile> tiles = sheetFile == null ? null : new java.util.ArrayList<>();
            Adherence.Report r = Adherence.evaluate(pipeline, Adherence.heldOutPrompts(count, seed), base, save, System.out,
                    tiles);
            if (tiles != null) {
                try {
                    ContactSheet.write(tiles, 6, sheetFile);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                System.out.println("evaluate: contact sheet " + sheetFile);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.println("adherence: " + r.summary());
            System.out.printf("evaluate: %.1f s (%.2f s per image, load included)%n", seconds, seconds / count);
        }
    }
}
