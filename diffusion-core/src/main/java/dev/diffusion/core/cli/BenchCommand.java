package dev.diffusion.core.cli;

import dev.diffusion.core.image.Psnr;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.nn.OpProfile;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.ProcessMemory;
import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.ModelNames;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code ./sd bench}: the figures of a generation on this machine — weight load, text encode,
 * U-Net time per step (CFG: batch 2), VAE decode, peak RSS against the weight bytes at the
 * precision used — and, with {@code --compare}, the PSNR of the image against another run's PNG
 * (e.g. bf16 against fp32). A benchmark prints; it asserts nothing.
 */
final class BenchCommand {
    static final String HELP = """
            usage: ./sd bench --model PATH [--tokenizer PATH] [--precision fp32|bf16] [--size N] [--steps 4]
                              [--out FILE.png] [--compare OTHER.png] [--threads N] [--end-to-end]
                              [--profile]
              runs "a photo of a cat", Euler, cfg 7, seed 42 and prints load, encode, per-step, decode and peak-RSS figures,
              then (for models of native size <= 256, or with --end-to-end) one whole image at ./sd generate's defaults;
              --size defaults to 256 (the native size if smaller); --profile then traces one more 2-step image and prints
              where each network's time goes by TensorFlow op type (from TensorFlow's step stats)
            """;

    private static final Set<String> VALUE_FLAGS = Set.of("--model", "--tokenizer", "--precision", "--size", "--steps",
            "--out", "--compare", "--threads");

    private final PrintStream out;
    private final PrintStream err;

    BenchCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    int run(String[] argv) {
        Args a = new Args(argv, VALUE_FLAGS, Set.of("--end-to-end", "--profile"));
        // a path, or the names generate takes: "demo" (the bundled demo model) and "tiny-random"
        String model = a.has("--model") ? a.string("--model", null) : null;
        if (model != null && !ModelNames.exists(model)) {
            throw new UsageException("--model: " + model + " does not exist");
        }
        if (ModelNames.DEMO.equals(model)) {
            model = GenerateCommand.bundledDemoModel().toString();
        }
        Path outFile = a.has("--out") ? Path.of(a.string("--out", null)) : null;
        if (outFile != null && !outFile.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".png")) {
            throw new UsageException("--out must name a .png file, got '" + outFile + "'");
        }
        if (outFile != null && outFile.toAbsolutePath().getParent() != null
                && !Files.isDirectory(outFile.toAbsolutePath().getParent())) {
            throw new UsageException("--out: folder " + outFile.toAbsolutePath().getParent() + " does not exist");
        }
        if (outFile != null) {
            GenerationOptions.checkWritable("--out", outFile);
        }
        if (a.has("--compare")) {
            Path other = Path.of(a.string("--compare", null));
            try {
                Png.decode(Files.readAllBytes(other));
            } catch (java.io.IOException | IllegalArgumentException e) {
                throw new UsageException("--compare: " + other + " is not a PNG image (" + (e instanceof java.io.IOException io
                        ? GenerationOptions.why(io) : e.getMessage()) + ")");
            }
        }
        Path tokenizer = a.has("--tokenizer") ? Path.of(a.string("--tokenizer", null)) : null;
        Precision precision;
        try {
            precision = Precision.parse(a.string("--precision", "fp32"));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--" + e.getMessage());
        }
        int sizeGiven = a.integer("--size", 0, 0, 2048);
        if (sizeGiven % 8 != 0 || (sizeGiven != 0 && sizeGiven < 64)) {
            throw new UsageException("--size must be a multiple of 8 from 64 to 2048, got " + sizeGiven);
        }
        int steps = a.integer("--steps", 4, 2, 150);
        int threads = a.integer("--threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
        System.setProperty("diffusion.threads", Integer.toString(threads));

        long t0 = System.nanoTime();
        try (StableDiffusionPipeline p = model == null ? StableDiffusionPipeline.tinyRandom(precision)
                : StableDiffusionPipeline.load(model, tokenizer, precision)) { // "tiny-random" by name too
            double loadS = (System.nanoTime() - t0) / 1e9;
            // default: 256, or the model's native size where that is smaller (64 for the demo model)
            int size = sizeGiven != 0 ? sizeGiven : Math.min(256, p.nativeImageSize());
            long params = p.parameterCount();
            double weightGiB = params * (double) precision.bytesPerWeight() / (1L << 30);
            out.printf("model            %s (%,d parameters, %.2f GiB at %s), %d threads%n", p.modelName(), params, weightGiB,
                    precision.name().toLowerCase(java.util.Locale.ROOT), threads);
            out.printf("weight load      %.2f s (RSS now %.2f GiB)%n", loadS, ProcessMemory.residentBytes() / (double) (1L << 30));

            long e0 = System.nanoTime();
            p.encodePrompts("", "a photo of a cat", 1, ProgressListener.NONE);
            double encodeFirst = (System.nanoTime() - e0) / 1e9;
            e0 = System.nanoTime();
            p.encodePrompts("", "a photo of a cat", 1, ProgressListener.NONE);
            double encodeWarm = (System.nanoTime() - e0) / 1e9;
            out.printf("text encode      %.3f s (first call %.3f s), batch 2%n", encodeWarm, encodeFirst);

            GenerationRequest r = GenerationRequest.of("a photo of a cat").withSize(size, size)
                    .withSampling("euler", "discrete", steps, 7.0).withSeed(42);
            List<Long> stepMillis = new ArrayList<>();
            List<Long> decodeMillis = new ArrayList<>();
            GeneratedImage img = p.generate(r, new ProgressListener() {
                @Override
                public void onStep(int image, int step, int totalSteps, long millis) {
                    stepMillis.add(millis);
                }

                @Override
                public void onStage(String stage, long millis) {
                    if (stage.equals("decode")) {
                        decodeMillis.add(millis);
                    }
                }
            }).get(0);
            double warmSteps = stepMillis.subList(1, stepMillis.size()).stream().mapToLong(Long::longValue).average().orElse(0) / 1000;
            double minStep = stepMillis.subList(1, stepMillis.size()).stream().mapToLong(Long::longValue).min().orElse(0) / 1000.0;
            out.printf("U-Net step       %.2f s mean, %.2f s best over steps 2..%d (first %.2f s), CFG batch 2, %dx%d%n",
                    warmSteps, minStep, steps, stepMillis.get(0) / 1000.0, size, size);
            out.printf("RSS after steps  %.2f GiB%n", ProcessMemory.residentBytes() / (double) (1L << 30));
            int lh = size / p.latentScale();
            long d0 = System.nanoTime();
            p.decode(img.latent(), 1, lh, lh);
            double decodeWarm = (System.nanoTime() - d0) / 1e9;
            out.printf("VAE decode       %.2f s (first call %.2f s), %dx%d%n", decodeWarm, decodeMillis.get(0) / 1000.0, size, size);
            long peakRss = ProcessMemory.peakResidentBytes();
            out.printf("peak RSS         %.2f GiB = %.2f x the weight bytes at %s%n", peakRss / (double) (1L << 30),
                    peakRss / (params * (double) precision.bytesPerWeight()), precision.name().toLowerCase(java.util.Locale.ROOT));
            // one whole image at ./sd generate's defaults (20 Euler steps, cfg 7, the model's native size), warm:
            // by default only for small models (the demo model), where it takes a second, not minutes
            int side = p.nativeImageSize();
            if (a.has("--end-to-end") || side <= 256) {
                GenerationRequest whole = GenerationRequest.of("a photo of a cat").withSize(side, side);
                long w0 = System.nanoTime();
                p.generate(whole, ProgressListener.NONE);
                out.printf("end to end       %.2f s per image: encode, %d Euler steps at cfg %.0f, decode, PNG, %dx%d%n",
                        (System.nanoTime() - w0) / 1e9, whole.steps(), whole.cfgScale(), side, side);
            }
            if (a.has("--profile")) {
                OpProfile profile = OpProfile.start();
                try {
                    p.generate(r.withSampling("euler", "discrete", 2, 7.0), ProgressListener.NONE);
                } finally {
                    profile.stop();
                }
                out.printf("profile          one 2-step image traced (%s), by op type:%n",
                        precision.name().toLowerCase(java.util.Locale.ROOT));
                profile.print(out, 12);
            }
            if (a.has("--out")) {
                Files.write(Path.of(a.string("--out", null)), img.png());
                out.println("image            " + a.string("--out", null));
            }
            if (a.has("--compare")) {
                Png.Image other = Png.decode(Files.readAllBytes(Path.of(a.string("--compare", null))));
                out.printf("PSNR vs %s  %.2f dB%n", a.string("--compare", null), Psnr.of8Bit(img.rgb(), other.rgb()));
            }
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
