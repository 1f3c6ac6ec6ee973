package dev.diffusion.core.cli;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.unet.UNet2DConditionModel;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.Supplier;

/**
 * {@code ./sd bench-replicas}: one U-Net session using every thread against {@code --replicas} sessions sharing them
 * (diffusion.unet.replicas), on the same inputs, in interleaved rounds: per batch size, the time of a call, the ratio,
 * and how far the two outputs are apart (float rounding only). A benchmark prints; it asserts nothing.
 */
final class ReplicasBenchCommand {
    static final String HELP = """
            usage: ./sd bench-replicas [--model demo|PATH] [--tokenizer PATH] [--size 256] [--batches 2,16] [--replicas 2]
                                       [--rounds 5] [--precision fp32|bf16] [--threads N]
              builds the model's U-Net twice: one session with --threads threads, and --replicas sessions with
              threads/replicas each (a batch split over them); times one call of each batch size (2 = a lone job's CFG
              pair, 16 = 8 jobs merged) at --size in interleaved rounds and prints medians, replicas / one, and the
              outputs' largest difference
            """;

    private static final Set<String> VALUE_FLAGS = Set.of("--model", "--tokenizer", "--size", "--batches", "--replicas",
            "--rounds", "--precision", "--threads");

    private final PrintStream out;

    ReplicasBenchCommand(PrintStream out) {
        this.out = out;
    }

    int run(String[] argv) {
        Args a = new Args(argv, VALUE_FLAGS, Set.of());
        String model = a.string("--model", "demo");
        if (!dev.diffusion.core.pipeline.ModelNames.exists(model)) {
            throw new UsageException("--model: " + model + " does not exist");
        }
        Path tokenizer = a.has("--tokenizer") ? Path.of(a.string("--tokenizer", null)) : null;
        int size = a.integer("--size", 256, 64, 2048);
        int replicas = a.integer("--replicas", 2, 2, 64);
        int rounds = a.integer("--rounds", 5, 1, 100);
        int threads = a.integer("--threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
        List<Integer> batches = new ArrayList<>();
        for (String b : a.string("--batches", "2,16").split(",")) {
            try {
                int n = Integer.parseInt(b.trim());
                if (n < 1 || n > 64) {
                    throw new NumberFormatException();
                }
                batches.add(n);
            } catch (NumberFormatException e) {
                throw new UsageException("--batches must be numbers 1..64 separated by commas, got '" + a.string("--batches", "") + "'");
            }
        }
        Precision precision;
        try {
            precision = Precision.parse(a.string("--precision", "fp32"));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--" + e.getMessage());
        }
        if (!TfNetwork.ownPools()) {
            throw new UsageException("bench-replicas needs " + TfNetwork.OWN_POOLS_ENV + "=1 in the environment (./sd sets it)");
        }
        ModelSource source = ModelSource.open(model, tokenizer);
        System.setProperty("diffusion.threads", Integer.toString(threads));
        System.setProperty(UNet2DConditionModel.REPLICAS_PROPERTY, "1");
        try (UNet2DConditionModel one = source.unet(precision)) {
            System.setProperty(UNet2DConditionModel.REPLICAS_PROPERTY, Integer.toString(replicas));
            try (UNet2DConditionModel split = source.unet(precision)) {
                int side = size / source.vaeConfig().downscale();
                int ch = one.config().inChannels();
                int ctxLen = source.contextLength();
                int dim = one.config().crossAttentionDim();
                out.printf("model            %s U-Net (%s), %dx%d (latents %dx%d), %d threads: one session of %d against %d"
                        + " replicas of %d; %d interleaved rounds%n", source.name(), precision.name().toLowerCase(java.util.Locale.ROOT),
                        size, size, side, side, threads, threads, split.replicaCount(), Math.max(1, threads / split.replicaCount()),
                        rounds);
                for (int batch : batches) {
                    float[] lat = gaussian(batch * side * side * ch, 1);
                    float[] ctx = gaussian(batch * ctxLen * dim, 2);
                    float[] ts = new float[batch];
                    for (int i = 0; i < batch; i++) {
                        ts[i] = 999f * (i + 1) / batch;
                    }
                    Supplier<float[]> a1 = () -> one.predict(lat, batch, side, side, ts, ctx, ctxLen);
                    Supplier<float[]> a2 = () -> split.predict(lat, batch, side, side, ts, ctx, ctxLen);
                    float[] y1 = a1.get(); // first calls outside the rounds
                    float[] y2 = a2.get();
                    double[] ms = PrecisionBenchCommand.timeInterleaved(a1, a2, rounds);
                    double diff = 0;
                    double ref = 0;
                    for (int i = 0; i < y1.length; i++) {
                        diff = Math.max(diff, Math.abs(y1[i] - y2[i]));
                        ref = Math.max(ref, Math.abs(y1[i]));
                    }
                    out.printf("batch %2d         one session %.1f ms median (%.1f best); replicas %.1f ms median (%.1f best);"
                            + " replicas / one = %.2f (median); outputs differ by at most %.3g (largest value %.3g)%n",
                            batch, ms[0], ms[1], ms[2], ms[3], ms[2] / ms[0], diff, ref);
                }
                return 0;
            }
        }
    }

    private static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}
