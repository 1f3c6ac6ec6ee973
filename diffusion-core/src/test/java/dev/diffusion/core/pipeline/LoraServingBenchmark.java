package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.Fixtures;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.weights.Lora;
import dev.diffusion.core.weights.LoraDirectory;
import dev.diffusion.core.weights.LoraSet;
import dev.diffusion.core.weights.ModelComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * What serving LoRAs per job costs on the random SD 1.5 checkpoint (256×256: 32×32 latents, batch 2 = one CFG step),
 * with the seeded rank-8 LoRAs of {@code make_random_lora.py} (seeds 1 and 2): building a merged U-Net variant (the
 * switch cost), the Java merge alone, memory per variant, and one step on the base against one on a variant. The
 * run-time alternative (x·W + s·(x·A)·B per layer) is costed in FLOPs from the same patches. Not a test: runs only
 * with {@code -Dlora.benchmark=true}.
 */
class LoraServingBenchmark {
    private static long rssKb() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return -1;
    }

    private static double median(long[] nanos) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        return s[s.length / 2] / 1e6;
    }

    @Test
    void mergedVariantsAgainstTheBase() throws Exception {
        assumeTrue(Boolean.getBoolean("lora.benchmark"), "benchmark: pass -Dlora.benchmark=true");
        Path dir = Fixtures.repoRoot().resolve("target").resolve("loras-bench");
        Files.createDirectories(dir);
        for (int seed : new int[] {1, 2}) {
            Path link = dir.resolve("l" + seed + ".safetensors");
            if (!Files.exists(link)) {
                Files.createSymbolicLink(link, Fixtures.randomLoraDir(seed, false).resolve("randlora.safetensors"));
            }
        }
        LoraDirectory loras = new LoraDirectory(dir);
        try (ModelSource source = ModelSource.open(Fixtures.sd15Checkpoint().toString(), Fixtures.clipVocabulary())) {
            long r0 = rssKb();
            long t0 = System.nanoTime();
            UNet2DConditionModel base = source.unet(Precision.FP32);
            long baseMs = (System.nanoTime() - t0) / 1_000_000;
            long r1 = rssKb();
            t0 = System.nanoTime();
            LoraSet one = source.loras(loras, List.of(new LoraRef("l1", 0.8)));
            long openMs = (System.nanoTime() - t0) / 1_000_000;
            LoraSet two = source.loras(loras, List.of(new LoraRef("l1", 0.8), new LoraRef("l2", 0.5)));
            // the Java merge alone: every patched U-Net weight read with and without the set
            var plainWeights = LoraSet.NONE.apply(ModelComponent.UNET, unetWeights(source));
            var merged = one.apply(ModelComponent.UNET, unetWeights(source));
            long readPlain = 0;
            long readMerged = 0;
            for (Lora.Patch p : one.loras().get(0).lora().patches()) {
                if (p.component() != ModelComponent.UNET) {
                    continue;
                }
                long a = System.nanoTime();
                plainWeights.floats(p.weightKey());
                long b = System.nanoTime();
                merged.floats(p.weightKey());
                readMerged += System.nanoTime() - b;
                readPlain += b - a;
            }
            t0 = System.nanoTime();
            UNet2DConditionModel variant1 = source.unet(Precision.FP32, one);
            long variant1Ms = (System.nanoTime() - t0) / 1_000_000;
            long r2 = rssKb();
            t0 = System.nanoTime();
            UNet2DConditionModel variant2 = source.unet(Precision.FP32, two);
            long variant2Ms = (System.nanoTime() - t0) / 1_000_000;
            long r3 = rssKb();

            Random rnd = new Random(0);
            float[] latents = new float[2 * 32 * 32 * 4];
            float[] context = new float[2 * 77 * 768];
            for (int i = 0; i < latents.length; i++) {
                latents[i] = (float) rnd.nextGaussian();
            }
            for (int i = 0; i < context.length; i++) {
                context[i] = (float) rnd.nextGaussian();
            }
            float[] ts = {500, 500};
            UNet2DConditionModel[] nets = {base, variant1, variant2};
            for (UNet2DConditionModel n : nets) {
                n.predict(latents, 2, 32, 32, ts, context, 77); // warm-up
            }
            int rounds = Integer.getInteger("lora.benchmark.rounds", 3);
            long[][] step = new long[3][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int k = 0; k < 3; k++) {
                    long s = System.nanoTime();
                    nets[k].predict(latents, 2, 32, 32, ts, context, 77);
                    step[k][r] = System.nanoTime() - s;
                }
            }
            System.out.printf("lora-bench: U-Net base load %d ms; variant with 1 LoRA built in %d ms, with 2 in %d ms"
                    + " (LoRA files read and bound in %d ms)%n", baseMs, variant1Ms, variant2Ms, openMs);
            System.out.printf("lora-bench: reading the %d patched U-Net weights: %.0f ms plain, %.0f ms merged (the merge: %.0f ms)%n",
                    one.loras().get(0).lora().patches().stream().filter(p -> p.component() == ModelComponent.UNET).count(),
                    readPlain / 1e6, readMerged / 1e6, (readMerged - readPlain) / 1e6);
            System.out.printf("lora-bench: RSS base U-Net +%d MiB; variant 1 +%d MiB; variant 2 +%d MiB; LoRA on heap %d MiB each%n",
                    (r1 - r0) / 1024, (r2 - r1) / 1024, (r3 - r2) / 1024, one.loras().get(0).lora().heapBytes() >> 20);
            System.out.printf("lora-bench: step (batch 2, 32x32) median of %d: base %.0f ms, 1 LoRA merged %.0f ms, 2 LoRAs "
                    + "merged %.0f ms%n", rounds, median(step[0]), median(step[1]), median(step[2]));
            System.out.printf("lora-bench: run-time LoRA (x·W + s·(x·A)·B) would add %.2f %% to the FLOPs of the %d patched "
                    + "layers per LoRA (rank 8, 256x256)%n", 100 * runtimeFlopsShare(one), countUnet(one));
            for (UNet2DConditionModel n : nets) {
                n.close();
            }
        }
    }

    private static dev.diffusion.core.weights.Weights unetWeights(ModelSource source) {
        return source.networkWeights(ModelComponent.UNET);
    }

    private static long countUnet(LoraSet set) {
        return set.loras().get(0).lora().patches().stream().filter(p -> p.component() == ModelComponent.UNET).count();
    }

    /** Σ tokens·r·(in+out) over Σ tokens·in·out for the U-Net patches at 256×256 (latent 32, levels 32/16/8/4). */
    private static double runtimeFlopsShare(LoraSet set) {
        double base = 0;
        double extra = 0;
        for (Lora.Patch p : set.loras().get(0).lora().patches()) {
            if (p.component() != ModelComponent.UNET) {
                continue;
            }
            String k = p.weightKey();
            int level = k.startsWith("down_blocks.") ? k.charAt(12) - '0'
                    : k.startsWith("up_blocks.") ? 3 - (k.charAt(10) - '0') : 3;
            long side = 32 >> level;
            boolean fromContext = k.contains("attn2.to_k") || k.contains("attn2.to_v");
            long tokens = fromContext ? 77 : side * side;
            long out = p.out();
            long in = p.inner();
            base += (double) tokens * in * out;
            extra += (double) tokens * p.rank() * (in + out);
        }
        return extra / base;
    }
}
