package dev.diffusion.core.cli;

import dev.diffusion.core.image.Psnr;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.ProcessMemory;
import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.ModelNames;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.Supplier;

/**
 * {@code ./sd bench-precision}: bf16 against fp32 in one process, on the same inputs, in interleaved rounds (so load
 * from other processes hits both alike): the U-Net step (a CFG pair, batch 2) and the VAE decode as ratios, how far
 * the bf16 U-Net's prediction is from fp32's, and the PSNR of a whole bf16 image against the fp32 one of the same
 * seed. A benchmark prints; it asserts nothing.
 */
final class PrecisionBenchCommand {
    static final String HELP = """
            usage: ./sd bench-precision --model PATH [--tokenizer PATH] [--size 256] [--rounds 5] [--steps 4] [--threads N]
              loads the model in fp32 and in bf16 side by side and times, in --rounds interleaved rounds, one U-Net step
              (CFG pair, batch 2) and one VAE decode of each at --size; prints median and best, bf16 / fp32, the bf16
              U-Net's error against fp32, and the PSNR of a whole bf16 image ("a photo of a cat", Euler, --steps, cfg 7,
              seed 42) against the fp32 one
            """;

    private static final Set<String> VALUE_FLAGS = Set.of("--model", "--tokenizer", "--size", "--rounds", "--steps",
            "--threads");

    private final PrintStream out;

    PrecisionBenchCommand(PrintStream out) {
        this.out = out;
    }

    int run(String[] argv) {
        Args a = new Args(argv, VALUE_FLAGS, Set.of());
        if (!a.has("--model")) {
            throw new UsageException("--model is required (see ./sd bench-precision --help)");
        }
        String model = a.string("--model", null);
        if (!ModelNames.exists(model)) {
            throw new UsageException("--model: " + model + " does not exist");
        }
        if (ModelNames.DEMO.equals(model)) {
            model = GenerateCommand.bundledDemoModel().toString();
        }
        Path tokenizer = a.has("--tokenizer") ? Path.of(a.string("--tokenizer", null)) : null;
        int size = a.integer("--size", 256, 64, 2048);
        if (size % 8 != 0) {
            throw new UsageException("--size must be a multiple of 8, got " + size);
        }
        int rounds = a.integer("--rounds", 5, 1, 100);
        int steps = a.integer("--steps", 4, 1, 150);
        int threads = a.integer("--threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
        System.setProperty("diffusion.threads", Integer.toString(threads));

        long t0 = System.nanoTime();
        try (StableDiffusionPipeline fp32 = StableDiffusionPipeline.load(model, tokenizer, Precision.FP32)) {
            double loadFp32 = (System.nanoTime() - t0) / 1e9;
            t0 = System.nanoTime();
            try (StableDiffusionPipeline bf16 = StableDiffusionPipeline.load(model, tokenizer, Precision.BF16)) {
                double loadBf16 = (System.nanoTime() - t0) / 1e9;
                out.printf("model            %s, %dx%d, %d threads, %d interleaved rounds%n", fp32.modelName(), size, size,
                        threads, rounds);
                out.printf("weight load      fp32 %.2f s, bf16 %.2f s%n", loadFp32, loadBf16);

                int lh = size / fp32.latentScale();
                int channels = fp32.latentChannels();
                float[] context = fp32.encodePrompts("", "a photo of a cat", 1, ProgressListener.NONE);
                float[] latents = gaussian(2L * lh * lh * channels, 1);
                float[] t = {500, 500};
                Supplier<float[]> stepFp32 = () -> fp32.predictNoise(latents, 2, lh, lh, t, context);
                Supplier<float[]> stepBf16 = () -> bf16.predictNoise(latents, 2, lh, lh, t, context);
                float[] decodeIn = gaussian(1L * lh * lh * channels, 2);
                Supplier<float[]> decodeFp32 = () -> fp32.decode(decodeIn, 1, lh, lh);
                Supplier<float[]> decodeBf16 = () -> bf16.decode(decodeIn, 1, lh, lh);

                // first calls (graph warm-up) outside the rounds, and the prediction error from them
                float[] eFp32 = stepFp32.get();
                float[] eBf16 = stepBf16.get();
                decodeFp32.get();
                decodeBf16.get();
                double[] u = timeInterleaved(stepFp32, stepBf16, rounds);
                double[] d = timeInterleaved(decodeFp32, decodeBf16, rounds);
                print("U-Net step", u);
                print("VAE decode", d);
                out.printf("U-Net error      bf16 vs fp32: max abs %.3g, relative to fp32's largest value %.3g, RMS %.3g%n",
                        maxAbsDiff(eBf16, eFp32), maxAbsDiff(eBf16, eFp32) / maxAbs(eFp32), rmsDiff(eBf16, eFp32));

                GenerationRequest r = GenerationRequest.of("a photo of a cat").withSize(size, size)
                        .withSampling("euler", "discrete", steps, 7.0).withSeed(42);
                GeneratedImage imgFp32 = fp32.generate(r, ProgressListener.NONE).get(0);
                GeneratedImage imgBf16 = bf16.generate(r, ProgressListener.NONE).get(0);
                out.printf("image PSNR       bf16 vs fp32: %.2f dB (%d Euler steps, seed 42)%n",
                        Psnr.of8Bit(imgBf16.rgb(), imgFp32.rgb()), steps);
                out.printf("peak RSS         %.2f GiB (both pipelines in one process)%n",
                        ProcessMemory.peakResidentBytes() / (double) (1L << 30));
                return 0;
            }
        }
    }

    private void print(String what, double[] ms) {
        // ms: fp32 median, fp32 best, bf16 median, bf16 best
        out.printf("%-16s fp32 %.3f s median, %.3f s best; bf16 %.3f s median, %.3f s best; bf16 / fp32 = %.2f (median), %.2f (best)%n",
                what, ms[0] / 1000, ms[1] / 1000, ms[2] / 1000, ms[3] / 1000, ms[2] / ms[0], ms[3] / ms[1]);
    }

    /** Runs a and b alternately, {@code rounds} times each (a first in even rounds, b first in odd ones). */
    static double[] timeInterleaved(Supplier<?> a, Supplier<?> b, int rounds) {
        List<Double> ta = new ArrayList<>();
        List<Double> tb = new ArrayList<>();
        for (int i = 0; i < rounds; i++) {
            if (i % 2 == 0) {
                ta.add(time(a));
                tb.add(time(b));
            } else {
                tb.add(time(b));
                ta.add(time(a));
            }
        }
        return new double[] {median(ta), min(ta), median(tb), min(tb)};
    }

    private static double time(Supplier<?> s) {
        long t0 = System.nanoTime();
        s.get();
        return (System.nanoTime() - t0) / 1e6;
    }

    static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double min(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
    }

    private static float[] gaussian(long n, long seed) {
        Random random = new Random(seed);
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    private static double rmsDiff(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            s += d * d;
        }
        return Math.sqrt(s / a.length);
    }
}
