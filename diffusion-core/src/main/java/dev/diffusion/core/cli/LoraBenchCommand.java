package dev.diffusion.core.cli;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.ProcessMemory;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.weights.Lora;
import dev.diffusion.core.weights.LoraDirectory;
import dev.diffusion.core.weights.LoraSet;
import dev.diffusion.core.weights.ModelComponent;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;

/**
 * {@code ./sd bench-lora}: the two ways of serving LoRAs on one U-Net, measured in one run on the same inputs (a CFG
 * pair, batch 2): merged variants (W + ΔW, one U-Net copy per LoRA set: {@link LoraSet}) and run-time slots
 * (x·W + s·(x·A)·B: {@link dev.diffusion.core.nn.LowRankAdapters}). Prints the step time with 0, 1 and 2 LoRAs for
 * each, their ratio, the switch cost (a variant built against A and B loaded into a slot) and RSS. A benchmark prints;
 * it asserts nothing.
 */
final class LoraBenchCommand {
    static final String HELP = """
            usage: ./sd bench-lora --model PATH --lora-dir DIR --loras A,B [--weights 0.8,0.5] [--size 256] [--rounds 5]
                                   [--tokenizer PATH] [--threads N]
              one U-Net step (CFG pair, batch 2) on random inputs with 0, 1 (A) and 2 (A+B) LoRAs, merged into a U-Net
              copy and applied at run time (x*W + s*(x*A)*B, 2 slots), median and best of --rounds interleaved runs; the
              switch cost of each (a merged variant built, A and B loaded into a slot) and RSS after each step
            """;

    private static final Set<String> VALUE_FLAGS = Set.of("--model", "--lora-dir", "--loras", "--weights", "--size",
            "--rounds", "--tokenizer", "--threads");

    private final PrintStream out;

    LoraBenchCommand(PrintStream out) {
        this.out = out;
    }

    /** One U-Net call to time: which network, and the per-sample run-time scales (null for a merged network). */
    private record Config(String name, UNet2DConditionModel net, float[] scales) {}

    int run(String[] argv) {
        Args a = new Args(argv, VALUE_FLAGS, Set.of());
        if (!a.has("--model") || !a.has("--lora-dir") || !a.has("--loras")) {
            throw new UsageException("--model, --lora-dir and --loras are required (see ./sd bench-lora --help)");
        }
        Path model = Path.of(a.string("--model", null));
        if (!Files.exists(model)) {
            throw new UsageException("--model: " + model + " does not exist");
        }
        Path loraDir = Path.of(a.string("--lora-dir", null));
        if (!Files.isDirectory(loraDir)) {
            throw new UsageException("--lora-dir: " + loraDir + " is not a folder");
        }
        String[] names = a.string("--loras", "").split(",");
        String[] weightText = a.string("--weights", "0.8,0.5").split(",");
        if (names.length != 2 || weightText.length != 2) {
            throw new UsageException("--loras and --weights each take two values, A,B");
        }
        double[] weights = new double[2];
        for (int i = 0; i < 2; i++) {
            try {
                weights[i] = Double.parseDouble(weightText[i].trim());
            } catch (NumberFormatException e) {
                throw new UsageException("--weights must be numbers, got '" + weightText[i] + "'");
            }
        }
        int size = a.integer("--size", 256, 64, 2048);
        if (size % 8 != 0) {
            throw new UsageException("--size must be a multiple of 8, got " + size);
        }
        int rounds = a.integer("--rounds", 5, 1, 100);
        int threads = a.integer("--threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
        System.setProperty("diffusion.threads", Integer.toString(threads));
        Path tokenizer = a.has("--tokenizer") ? Path.of(a.string("--tokenizer", null)) : null;

        try (ModelSource source = ModelSource.open(model.toString(), tokenizer)) {
            LoraDirectory dir = new LoraDirectory(loraDir);
            LoraRef refA = new LoraRef(names[0].trim(), weights[0]);
            LoraRef refB = new LoraRef(names[1].trim(), weights[1]);
            long t0 = System.nanoTime();
            LoraSet one = source.loras(dir, List.of(refA));
            LoraSet two = source.loras(dir, List.of(refA, refB));
            double bindS = seconds(t0) / 2;
            Lora loraA = two.loras().get(0).lora();
            Lora loraB = two.loras().get(1).lora();
            int rank = Math.max(maxRank(loraA), maxRank(loraB));
            out.printf("model            %s, U-Net fp32, %d threads; LoRAs %s (%d U-Net patches, rank %d) at %s, %s (%d, rank %d) at %s%n",
                    source.name(), threads, loraA.name(), unetPatches(loraA), maxRank(loraA), weights[0], loraB.name(),
                    unetPatches(loraB), maxRank(loraB), weights[1]);
            out.printf("LoRA files       read and bound in %.2f s each%n", bindS);

            long rss0 = rss();
            t0 = System.nanoTime();
            UNet2DConditionModel base = source.unet(Precision.FP32);
            double baseLoadS = seconds(t0);
            long rssBase = rss();
            t0 = System.nanoTime();
            var layout = UNet2DConditionModel.lowRankLayout(List.of(loraA, loraB), 2, rank);
            UNet2DConditionModel runtime = source.unet(Precision.FP32, layout);
            double runtimeLoadS = seconds(t0);
            long rssRuntime = rss();
            t0 = System.nanoTime();
            runtime.loadLoraSlot(0, loraA);
            double slotA = seconds(t0);
            t0 = System.nanoTime();
            runtime.loadLoraSlot(1, loraB);
            double slotB = seconds(t0);
            long slotBytes = 0;
            for (long[] shape : layout.targets().values()) {
                slotBytes += 4L * rank * (shape[0] + shape[1]) * layout.slots();
            }
            out.printf("U-Net load       merged base %.1f s (RSS +%.2f GiB); run-time U-Net with %d slots on %d weights %.1f s "
                    + "(RSS +%.2f GiB; the slots' A and B: %.1f MiB)%n", baseLoadS, gib(rssBase - rss0), layout.slots(),
                    layout.targets().size(), runtimeLoadS, gib(rssRuntime - rssBase), slotBytes / (double) (1 << 20));
            out.printf("switch, run-time A and B into a slot: %s %.2f s, %s %.2f s%n", loraA.name(), slotA, loraB.name(), slotB);

            int side = size / 8;
            Random rnd = new Random(0);
            float[] latents = gaussian(rnd, 2 * side * side * 4);
            float[] context = gaussian(rnd, 2 * 77 * source.unetConfig().crossAttentionDim());
            float[] ts = {500, 500};
            float wa = (float) weights[0];
            float wb = (float) weights[1];

            List<String> summary = new ArrayList<>();
            for (int loras = 1; loras <= 2; loras++) {
                LoraSet set = loras == 1 ? one : two;
                long before = rss();
                t0 = System.nanoTime();
                try (UNet2DConditionModel variant = source.unet(Precision.FP32, set)) {
                    double buildS = seconds(t0);
                    out.printf("switch, merged: a U-Net with %d LoRA%s built in %.1f s (RSS +%.2f GiB)%n", loras,
                            loras == 1 ? "" : "s", buildS, gib(rss() - before));
                    List<Config> configs = new ArrayList<>();
                    configs.add(new Config("merged, 0 LoRAs", base, null));
                    configs.add(new Config("merged, " + loras + " LoRA" + (loras == 1 ? "" : "s"), variant, null));
                    configs.add(new Config("run-time, 0 LoRAs", runtime, new float[4]));
                    configs.add(new Config("run-time, " + loras + " LoRA" + (loras == 1 ? "" : "s"), runtime,
                            loras == 1 ? new float[] {wa, 0, wa, 0} : new float[] {wa, wb, wa, wb}));
                    if (loras == 2) {
                        configs.add(new Config("run-time, sample 1 LoRA A, sample 2 LoRA B", runtime, new float[] {wa, 0, 0, wb}));
                    }
                    double[][] t = time(configs, rounds, latents, side, ts, context);
                    for (int i = 0; i < configs.size(); i++) {
                        out.printf("U-Net step       %-44s %6.3f s median, %6.3f s best of %d%n", configs.get(i).name(), t[i][0],
                                t[i][1], rounds);
                    }
                    double[] best = Arrays.stream(t).mapToDouble(x -> x[1]).toArray();
                    summary.add(String.format(Locale.ROOT, "%d LoRA%s (best of %d): run-time / merged = %.3f; run-time / merged "
                            + "base = %.3f; merged / merged base = %.3f; run-time %d / run-time 0 = %.3f", loras,
                            loras == 1 ? "" : "s", rounds, best[3] / best[1], best[3] / best[0], best[1] / best[0], loras,
                            best[3] / best[2]));
                    if (loras == 2) {
                        summary.add(String.format(Locale.ROOT, "a batch mixing two LoRA sets (run-time; merged cannot) / "
                                + "merged base = %.3f", best[4] / best[0]));
                    }
                }
            }
            for (String s : summary) {
                out.println("ratio            " + s);
            }
            out.printf("peak RSS         %.2f GiB%n", gib(ProcessMemory.peakResidentBytes()));
            runtime.close();
            base.close();
            return 0;
        }
    }

    /**
     * Per config, {median, best} seconds over {@code rounds}, the configs interleaved within a round (after one warm-up
     * each): on a shared machine the best of several is the steadier figure, so the ratios use it.
     */
    private static double[][] time(List<Config> configs, int rounds, float[] latents, int side, float[] ts, float[] context) {
        for (Config c : configs) {
            call(c, latents, side, ts, context);
        }
        long[][] nanos = new long[configs.size()][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < configs.size(); i++) {
                long s = System.nanoTime();
                call(configs.get(i), latents, side, ts, context);
                nanos[i][r] = System.nanoTime() - s;
            }
        }
        double[][] out = new double[configs.size()][];
        for (int i = 0; i < out.length; i++) {
            long[] n = nanos[i].clone();
            Arrays.sort(n);
            out[i] = new double[] {n[n.length / 2] / 1e9, n[0] / 1e9};
        }
        return out;
    }

    private static void call(Config c, float[] latents, int side, float[] ts, float[] context) {
        if (c.scales() == null) {
            c.net().predict(latents, 2, side, side, ts, context, 77);
        } else {
            c.net().predict(latents, 2, side, side, ts, context, 77, c.scales());
        }
    }

    private static int maxRank(Lora l) {
        return l.patches().stream().filter(p -> p.component() == ModelComponent.UNET).mapToInt(Lora.Patch::rank).max().orElse(1);
    }

    private static long unetPatches(Lora l) {
        return l.patches().stream().filter(p -> p.component() == ModelComponent.UNET).count();
    }

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static double seconds(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static long rss() {
        return ProcessMemory.residentBytes();
    }

    private static double gib(long bytes) {
        return bytes / (double) (1L << 30);
    }
}
