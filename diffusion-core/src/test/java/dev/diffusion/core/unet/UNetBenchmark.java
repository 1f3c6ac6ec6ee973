package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.testing.Fixtures;
import dev.diffusion.core.weights.StableDiffusionModel;
import dev.diffusion.core.weights.Weights;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TFloat32;

/**
 * Timing of one batch-2 step at 32×32 latents (256×256 images) on the real-size checkpoint, fp32 and bf16, and a
 * per-op-type profile of one traced run. Not a test: runs only with {@code -Dunet.benchmark=true} (and the checkpoint).
 */
class UNetBenchmark {
    @Test
    void timeOneStep() {
        assumeTrue(Boolean.getBoolean("unet.benchmark"), "benchmark: pass -Dunet.benchmark=true");
        String precisions = System.getProperty("unet.benchmark.precisions", "FP32,BF16");
        try (StableDiffusionModel ckpt = StableDiffusionModel.open(Fixtures.sd15Checkpoint())) {
            for (String p : precisions.split(",")) {
                // e.g. -Dunet.benchmark.im2colFrom=100000,1280,320 compares where im2col starts (in output channels)
                int saved = Im2colConv2d.minOutChannels;
                for (String from : System.getProperty("unet.benchmark.im2colFrom", String.valueOf(saved)).split(",")) {
                    Im2colConv2d.minOutChannels = Integer.parseInt(from.trim());
                    System.out.println("3x3 convolutions as im2col from " + from + " output channels:");
                    run(ckpt.unet(), Precision.valueOf(p.trim()));
                }
                Im2colConv2d.minOutChannels = saved;
            }
        }
    }

    private static void run(Weights weights, Precision precision) {
        int b = 2, h = 32, w = 32;
        float[] x = UNetBlocksTest.gaussian(b * h * w * 4, 1);
        float[] ctx = UNetBlocksTest.gaussian(b * 77 * 768, 2);
        float[] t = {999, 500};
        try (Profiled net = new Profiled(weights, precision)) {
            net.run(x, b, h, w, t, ctx, false); // warm-up
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            int n = Integer.getInteger("unet.benchmark.runs", 3);
            long[] millis = new long[n];
            long[] cpuMillis = new long[n];
            for (int i = 0; i < n; i++) {
                long start = System.nanoTime();
                long cpu = os.getProcessCpuTime();
                net.run(x, b, h, w, t, ctx, false);
                millis[i] = (System.nanoTime() - start) / 1_000_000;
                cpuMillis[i] = (os.getProcessCpuTime() - cpu) / 1_000_000;
            }
            System.out.printf("%s batch %d %dx%d latents: one predict %s ms wall, %s ms process CPU, load avg %.1f (load %d ms)%n",
                    precision, b, h, w, Arrays.toString(millis), Arrays.toString(cpuMillis), os.getSystemLoadAverage(),
                    net.loadMillis());
            if (Boolean.getBoolean("unet.benchmark.profile")) {
                net.run(x, b, h, w, t, ctx, true);
            }
        }
    }

    /** The U-Net graph with traced runs. */
    static final class Profiled extends TfNetwork {
        final Placeholder<TFloat32> sample;
        final Placeholder<TFloat32> timesteps;
        final Placeholder<TFloat32> context;
        final Operand<TFloat32> out;

        Profiled(Weights weights, Precision precision) {
            super(weights, precision);
            UNetConfig c = UNetConfig.sd15();
            sample = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, 4)));
            timesteps = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
            context = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, 768)));
            out = UNet2DConditionModel.build(nn, c, sample, timesteps, context);
            load();
        }

        void run(float[] x, int b, int h, int w, float[] t, float[] ctx, boolean trace) {
            try (TFloat32 xt = Tensors.of(x, b, h, w, 4);
                 TFloat32 tt = Tensors.of(t, b);
                 TFloat32 ct = Tensors.of(ctx, b, 77, 768)) {
                var runner = session().runner().feed(sample, xt).feed(timesteps, tt).feed(context, ct).fetch(out);
                if (!trace) {
                    try (Result r = runner.run()) {
                        return;
                    }
                }
                runner.setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build());
                try (Result r = runner.runAndFetchMetadata()) {
                    RunMetadata md = r.getMetadata().orElseThrow();
                    Map<String, long[]> byType = new HashMap<>();
                    long total = 0;
                    for (var dev : md.getStepStats().getDevStatsList()) {
                        for (NodeExecStats n : dev.getNodeStatsList()) {
                            String label = n.getTimelineLabel();
                            int eq = label.indexOf(" = ");
                            String type = eq >= 0 ? label.substring(eq + 3).split("\\(")[0] : n.getNodeName();
                            long us = n.getAllEndRelMicros();
                            byType.computeIfAbsent(type, k -> new long[2])[0] += us;
                            byType.get(type)[1]++;
                            total += us;
                        }
                    }
                    long sum = total;
                    System.out.printf("%s profile (op time summed over threads, %d ms total):%n", precision(), sum / 1000);
                    byType.entrySet().stream().sorted((a, c) -> Long.compare(c.getValue()[0], a.getValue()[0])).limit(15)
                            .forEach(e -> System.out.printf("  %-28s %8d ms  %5d ops  %5.1f%%%n", e.getKey(),
                                    e.getValue()[0] / 1000, e.getValue()[1], 100.0 * e.getValue()[0] / sum));
                }
            }
        }
    }
}
