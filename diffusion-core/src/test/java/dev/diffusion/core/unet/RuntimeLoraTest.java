package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.weights.CompVisKeys;
import dev.diffusion.core.weights.Lora;
import dev.diffusion.core.weights.LoraSet;
import dev.diffusion.core.weights.ModelComponent;
import dev.diffusion.core.weights.SafeTensorsWriter;
import dev.diffusion.core.weights.StableDiffusionModel;
import dev.diffusion.core.weights.TensorDtype;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run-time LoRA path (y = x·W + Σ s·(x·A)·B, {@link dev.diffusion.core.nn.LowRankAdapters}) against the merged
 * one (W + m·α/r·up·down, {@link LoraSet}) on the demo U-Net, with two random kohya LoRAs over every attention
 * module (proj_in/proj_out 1×1 convolutions, attn1/attn2 q/k/v/out, ff.net.0.proj, ff.net.2), of ranks 4 and 2.
 */
class RuntimeLoraTest {
    /**
     * Merged and run-time outputs differ by float rounding only: (x·W + x·ΔW) against x·(W + ΔW), summed in another
     * order, through 120 patched layers. Measured: 4e-7 of the output's largest magnitude (float32's epsilon is
     * 1.2e-7); bound 1e-5 of it, while the LoRAs themselves move the output by 7e-2 and 1.5e-1.
     */
    static final double RELATIVE_BOUND = 1e-5;

    static StableDiffusionModel demo;
    static UNetConfig config;
    static Lora a;
    static Lora b;
    static UNet2DConditionModel runtime;
    @TempDir
    static Path dir;

    @BeforeAll
    static void open() throws Exception {
        demo = StableDiffusionModel.open(ModelSource.demoFolder());
        config = UNetConfig.fromJson(demo.unetConfig().orElseThrow());
        Lora.Targets targets = new Lora.Targets(demo.unet(), demo.textEncoder(),
                CompVisKeys.fromConfigs(demo.unetConfig(), demo.vaeConfig()));
        a = Lora.open(writeLora(dir.resolve("a.safetensors"), 4, 2f, 11), "a", targets);
        b = Lora.open(writeLora(dir.resolve("b.safetensors"), 2, 0f, 12), "b", targets);
        runtime = new UNet2DConditionModel(config, demo.unet(), Precision.FP32,
                UNet2DConditionModel.lowRankLayout(List.of(a, b), 2, 4));
        runtime.loadLoraSlot(0, a);
        runtime.loadLoraSlot(1, b);
    }

    @AfterAll
    static void close() {
        runtime.close();
        demo.close();
    }

    /** A kohya LoRA over every attention module of the demo U-Net; alpha 0 = none written (scale 1). */
    static Path writeLora(Path file, int rank, float alpha, long seed) throws Exception {
        Random r = new Random(seed);
        SafeTensorsWriter w = new SafeTensorsWriter(TensorDtype.F32);
        int modules = 0;
        for (String key : new java.util.TreeSet<>(demo.unet().keys())) {
            if (!key.contains(".attentions.") || !key.endsWith(".weight") || key.contains("norm")) {
                continue;
            }
            long[] shape = demo.unet().info(key).shape();
            boolean conv = shape.length == 4;
            String module = "lora_unet_" + key.substring(0, key.length() - ".weight".length()).replace('.', '_');
            long out = shape[0];
            long in = shape[1];
            w.add(module + ".lora_down.weight", conv ? new long[] {rank, in, 1, 1} : new long[] {rank, in},
                    gaussian(r, rank * in, 0.2));
            w.add(module + ".lora_up.weight", conv ? new long[] {out, rank, 1, 1} : new long[] {out, rank},
                    gaussian(r, out * rank, 0.2));
            if (alpha != 0) {
                w.add(module + ".alpha", new long[] {}, new float[] {alpha});
            }
            modules++;
        }
        assertEquals(10 * 12, modules); // attention in 3 down blocks (1 layer), the mid block, 3 up blocks (2 layers)
        w.write(file);
        return file;
    }

    static float[] gaussian(Random r, long n, double std) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextGaussian() * std);
        }
        return v;
    }

    record Inputs(float[] latents, float[] timesteps, float[] context) {
        static Inputs random(long seed, int batch) {
            Random r = new Random(seed);
            float[] t = new float[batch];
            for (int i = 0; i < batch; i++) {
                t[i] = 100 + r.nextInt(800);
            }
            return new Inputs(gaussian(r, batch * 8 * 8 * 4L, 1), t, gaussian(r, batch * 77 * 64L, 1));
        }

        int batch() {
            return timesteps.length;
        }

        Inputs sample(int i) {
            int n = latents.length / batch();
            int c = context.length / batch();
            return new Inputs(Arrays.copyOfRange(latents, i * n, (i + 1) * n), new float[] {timesteps[i]},
                    Arrays.copyOfRange(context, i * c, (i + 1) * c));
        }
    }

    static float[] predict(UNet2DConditionModel net, Inputs in, float... scales) {
        return scales.length == 0 ? net.predict(in.latents, in.batch(), 8, 8, in.timesteps, in.context, 77)
                : net.predict(in.latents, in.batch(), 8, 8, in.timesteps, in.context, 77, scales);
    }

    static UNet2DConditionModel merged(LoraSet.Applied... loras) {
        return new UNet2DConditionModel(config, new LoraSet(List.of(loras)).apply(ModelComponent.UNET, demo.unet()),
                Precision.FP32);
    }

    /** max |want − got| / max |want|. */
    static double relativeError(float[] want, float[] got) {
        assertEquals(want.length, got.length);
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < want.length; i++) {
            diff = Math.max(diff, Math.abs(want[i] - got[i]));
            scale = Math.max(scale, Math.abs(want[i]));
        }
        return diff / scale;
    }

    @Test
    void runtimeEqualsMergedWithinRoundingAndScaleZeroIsTheBaseExactly() {
        Inputs in = Inputs.random(1, 1);
        float[] base;
        try (UNet2DConditionModel plain = new UNet2DConditionModel(config, demo.unet(), Precision.FP32)) {
            base = predict(plain, in);
        }
        // scale 0 on both slots: the base U-Net bit for bit (the branches add exact zeros)
        assertArrayEquals(base, predict(runtime, in, 0, 0));
        assertArrayEquals(base, predict(runtime, in)); // the plain predict feeds zeros
        try (UNet2DConditionModel one = merged(new LoraSet.Applied(a, 0.8));
             UNet2DConditionModel two = merged(new LoraSet.Applied(a, 0.8), new LoraSet.Applied(b, 1.5))) {
            float[] wantOne = predict(one, in);
            float[] wantTwo = predict(two, in);
            double e1 = relativeError(wantOne, predict(runtime, in, 0.8f, 0));
            double e2 = relativeError(wantTwo, predict(runtime, in, 0.8f, 1.5f));
            System.out.printf("runtime-lora: relative error against merged: 1 LoRA %.2e, 2 LoRAs %.2e; the LoRAs move the "
                    + "output by %.2e and %.2e%n", e1, e2, relativeError(base, wantOne), relativeError(base, wantTwo));
            assertTrue(e1 < RELATIVE_BOUND, "1 LoRA: " + e1);
            assertTrue(e2 < RELATIVE_BOUND, "2 LoRAs: " + e2);
            // and the LoRAs matter: a wrong branch (or none) would be far outside the bound
            assertTrue(relativeError(base, wantOne) > 1000 * RELATIVE_BOUND);
            assertTrue(relativeError(wantOne, wantTwo) > 1000 * RELATIVE_BOUND);
        }
    }

    @Test
    void samplesWithDifferentLoraSetsShareOneBatch() {
        // sample 0: LoRA a at 0.8; sample 1: none; sample 2: a at 0.8 and b at 1.5; sample 3: b alone at -1
        Inputs in = Inputs.random(2, 4);
        float[] scales = {0.8f, 0, 0, 0, 0.8f, 1.5f, 0, -1};
        float[] batched = predict(runtime, in, scales);
        int n = batched.length / 4;
        for (int i = 0; i < 4; i++) {
            float[] alone = predict(runtime, in.sample(i), scales[2 * i], scales[2 * i + 1]);
            float[] mine = Arrays.copyOfRange(batched, i * n, (i + 1) * n);
            double e = relativeError(alone, mine);
            System.out.printf("runtime-lora: sample %d of a mixed batch against its own run: %.2e%n", i, e);
            assertTrue(e < RELATIVE_BOUND, "sample " + i + ": " + e);
        }
        // sample 1 ran with no LoRA: the base U-Net's answer for it
        try (UNet2DConditionModel plain = new UNet2DConditionModel(config, demo.unet(), Precision.FP32)) {
            assertTrue(relativeError(predict(plain, in.sample(1)), Arrays.copyOfRange(batched, n, 2 * n)) < RELATIVE_BOUND);
        }
        try (UNet2DConditionModel onlyB = merged(new LoraSet.Applied(b, -1))) {
            assertTrue(relativeError(predict(onlyB, in.sample(3)), Arrays.copyOfRange(batched, 3 * n, 4 * n)) < RELATIVE_BOUND);
        }
    }

    @Test
    void wrongScalesAndUnknownWeightsAreRefused() {
        Inputs in = Inputs.random(3, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> predict(runtime, in, 1, 0));
        assertEquals("loraScales must hold batch*2 = 4 values (one per sample and run-time LoRA slot), got 2", e.getMessage());
        // a 3x3 convolution is not a run-time target
        String conv = "down_blocks.1.resnets.0.conv1.weight";
        e = assertThrows(IllegalArgumentException.class, () -> new UNet2DConditionModel(config, demo.unet(), Precision.FP32,
                new dev.diffusion.core.nn.LowRankAdapters.Layout(java.util.Map.of(conv, demo.unet().info(conv).shape()), 1, 4)));
        assertTrue(e.getMessage().startsWith("run-time LoRA patches Linear and 1x1 convolution weights only; " + conv),
                e.getMessage());
    }
}
