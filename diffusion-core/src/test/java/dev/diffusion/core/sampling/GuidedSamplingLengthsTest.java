package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The guided step with a negative prompt and a prompt of different lengths (e.g. 77 and 154 tokens): two U-Net
 * calls, each at its own context length, never padded into each other; of equal lengths, one call of batch 2 as
 * before. The fake U-Net answers each sample with the mean of its own context, so a mixed-up context shows.
 */
class GuidedSamplingLengthsTest {
    private record Call(int batch, int contextFloats) {}

    private static float[] run(float[] uncond, float[] cond, List<Call> calls, List<float[][]> outputs) {
        SamplingLoop loop = SamplingLoop.of(SamplerSpec.parse("euler"), 2, SchedulerConfig.sd15());
        LatentShape shape = LatentShape.nhwc(1, 4, 2, 2);
        SamplerState state = loop.start(RngKind.PHILOX, 3, shape);
        GuidedSampling.BatchPredictor unet = (latents, s, timesteps, context) -> {
            calls.add(new Call(s.batch(), context.length));
            int per = context.length / s.batch();
            int n = latents.length / s.batch();
            float[] out = new float[latents.length];
            for (int b = 0; b < s.batch(); b++) {
                double mean = 0;
                for (int i = 0; i < per; i++) {
                    mean += context[b * per + i] / per;
                }
                for (int i = 0; i < n; i++) {
                    out[b * n + i] = (float) mean;
                }
            }
            return out;
        };
        return new GuidedSampling(loop, unet, uncond, cond, 7.0).run(state, new GuidedSampling.Observer() {
            @Override
            public void onStep(GuidedSampling.Step step) {
                outputs.add(new float[][] {step.uncond(), step.cond()});
            }
        });
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test
    void differentLengthsRunApartEachWithItsOwnContext() {
        int d = 8;
        List<Call> calls = new ArrayList<>();
        List<float[][]> outs = new ArrayList<>();
        run(filled(77 * d, 1f), filled(154 * d, 3f), calls, outs);
        assertEquals(List.of(new Call(1, 77 * d), new Call(1, 154 * d), new Call(1, 77 * d), new Call(1, 154 * d)), calls);
        for (float[][] o : outs) {
            assertEquals(1f, o[0][0]); // uncond saw the negative prompt (mean 1)
            assertEquals(3f, o[1][0]); // cond saw the prompt (mean 3)
        }

        // equal lengths: one call of batch 2, [uncond, cond]; the same outputs as two separate calls would give
        List<Call> paired = new ArrayList<>();
        List<float[][]> pairedOuts = new ArrayList<>();
        float[] a = run(filled(77 * d, 1f), filled(77 * d, 3f), paired, pairedOuts);
        assertEquals(List.of(new Call(2, 2 * 77 * d), new Call(2, 2 * 77 * d)), paired);
        // a per-sample U-Net gives the same image whether the pair shares a call or runs apart
        List<Call> apart = new ArrayList<>();
        float[] b = run(filled(154 * d, 1f), filled(77 * d, 3f), apart, new ArrayList<>());
        assertEquals(4, apart.size());
        assertArrayEquals(a, b);
    }

    @Test
    void padCondUncondAppendsEmptyChunksToTheShorterSoThePairSharesOneCall() {
        // chunks of 2 floats for the hand check: uncond 1 chunk, cond 3 chunks -> uncond + empty + empty
        float[] empty = {9, 8};
        float[][] p = GuidedSampling.padCondUncond(new float[] {1, 2}, new float[] {3, 4, 5, 6, 7, 8}, empty);
        assertArrayEquals(new float[] {1, 2, 9, 8, 9, 8}, p[0]);
        assertArrayEquals(new float[] {3, 4, 5, 6, 7, 8}, p[1]);
        // a longer negative prompt pads the prompt instead
        float[][] q = GuidedSampling.padCondUncond(new float[] {1, 2, 3, 4}, new float[] {5, 6}, empty);
        assertArrayEquals(new float[] {1, 2, 3, 4}, q[0]);
        assertArrayEquals(new float[] {5, 6, 9, 8}, q[1]);
        // equal lengths: unchanged
        float[][] r = GuidedSampling.padCondUncond(new float[] {1, 2}, new float[] {3, 4}, empty);
        assertArrayEquals(new float[] {1, 2}, r[0]);
        assertArrayEquals(new float[] {3, 4}, r[1]);

        // in the loop: 77 and 231 tokens padded to 231 each run as one call of batch 2; the uncond's mean is now the
        // mean over its own chunk (1) and two empty chunks (0): 1/3
        int d = 8;
        float[][] padded = GuidedSampling.padCondUncond(filled(77 * d, 1f), filled(231 * d, 3f), filled(77 * d, 0f));
        List<Call> calls = new ArrayList<>();
        List<float[][]> outs = new ArrayList<>();
        run(padded[0], padded[1], calls, outs);
        assertEquals(List.of(new Call(2, 2 * 231 * d), new Call(2, 2 * 231 * d)), calls);
        assertEquals(1f / 3, outs.get(0)[0][0], 1e-6f);
        assertEquals(3f, outs.get(0)[1][0], 1e-6f);
    }
}
