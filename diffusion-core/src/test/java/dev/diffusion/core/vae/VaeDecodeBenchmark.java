package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.Fixtures;
import dev.diffusion.core.weights.CompVisKeys;
import dev.diffusion.core.weights.ModelComponent;
import dev.diffusion.core.weights.SafeTensorsFile;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Decode time of 32x32 latents → 256x256 on the real-size checkpoint; a report, run with -Dvae.bench=true. */
class VaeDecodeBenchmark {
    @Test
    void decodeTiming() throws Exception {
        assumeTrue(Boolean.getBoolean("vae.bench"), "SKIPPED: benchmark; run with -Dvae.bench=true");
        Path ckpt = Fixtures.sd15Checkpoint();
        Path dir = Fixtures.fixtureCase("euler-cat-s42-256");
        float[] x0 = Fixtures.nchwToNhwc(Fixtures.readF32(dir.resolve("x0_b0.f32")), 1, 4, 32, 32);
        String only = System.getProperty("vae.bench.precision", "fp32,bf16");
        int runs = Integer.getInteger("vae.bench.runs", 3);
        try (SafeTensorsFile file = SafeTensorsFile.open(ckpt)) {
            for (String p : only.split(",")) {
                Precision precision = Precision.parse(p);
                try (AutoencoderKL vae = AutoencoderKL.decoderOnly(VaeConfig.sd15(),
                        CompVisKeys.sd1().diffusersView(file, ModelComponent.VAE), precision)) {
                    long t0 = System.nanoTime();
                    vae.decode(x0, 1, 32, 32);
                    long warm = (System.nanoTime() - t0) / 1_000_000;
                    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
                    long cpu0 = os.getProcessCpuTime();
                    long best = Long.MAX_VALUE, sum = 0;
                    for (int i = 0; i < runs; i++) {
                        long s = System.nanoTime();
                        vae.decode(x0, 1, 32, 32);
                        long ms = (System.nanoTime() - s) / 1_000_000;
                        best = Math.min(best, ms);
                        sum += ms;
                    }
                    long cpuMs = (os.getProcessCpuTime() - cpu0) / 1_000_000 / runs;
                    // wall time depends on what else runs on the machine; CPU time per decode does not
                    System.out.printf("VAE decode 32x32 -> 256x256 %s: first %d ms, then best %d ms, mean %d ms, %d CPU-ms per decode,"
                                    + " over %d runs (cores %d, load avg %.1f)%n", precision, warm, best, sum / runs, cpuMs, runs,
                            Runtime.getRuntime().availableProcessors(), os.getSystemLoadAverage());
                }
            }
        }
    }
}
