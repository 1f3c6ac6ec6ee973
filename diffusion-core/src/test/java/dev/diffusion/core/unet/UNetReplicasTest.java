package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.pipeline.ModelSource;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * U-Net replicas (diffusion.unet.replicas) on the demo model: a batch split over two 1-thread sessions gives, for
 * every sample, exactly what one 1-thread session gives for that sample's part run alone — the split only decides
 * where each part runs. Run by surefire's {@code replicas} execution, whose environment gives each session its own
 * thread pool (TF_OVERRIDE_GLOBAL_THREADPOOL=1).
 */
class UNetReplicasTest {
    static final int SIDE = 16;

    @AfterEach
    void clear() {
        System.clearProperty("diffusion.threads");
        System.clearProperty(UNet2DConditionModel.REPLICAS_PROPERTY);
    }

    static UNet2DConditionModel unet(ModelSource demo, int threads, int replicas) {
        System.setProperty("diffusion.threads", Integer.toString(threads));
        System.setProperty(UNet2DConditionModel.REPLICAS_PROPERTY, Integer.toString(replicas));
        return demo.unet(Precision.FP32);
    }

    @Test
    void aSplitBatchEqualsEachPartRunAloneBitForBit() {
        assertTrue(TfNetwork.ownPools(), "this test runs with TF_OVERRIDE_GLOBAL_THREADPOOL=1 (surefire's replicas run)");
        ModelSource demo = ModelSource.open("demo", null);
        try (UNet2DConditionModel split = unet(demo, 2, 2); UNet2DConditionModel alone = unet(demo, 1, 1);
             UNet2DConditionModel whole = unet(demo, 2, 1)) {
            assertEquals(2, split.replicaCount());
            assertEquals(1, alone.replicaCount());
            int ch = split.config().inChannels();
            int ctxLen = demo.contextLength();
            int dim = split.config().crossAttentionDim();
            int per = SIDE * SIDE * ch;
            int outPer = SIDE * SIDE * split.config().outChannels();
            Random r = new Random(3);
            for (int batch : new int[] {2, 3, 5}) {
                float[] lat = gaussian(r, batch * per);
                float[] ctx = gaussian(r, batch * ctxLen * dim);
                float[] ts = new float[batch];
                for (int i = 0; i < batch; i++) {
                    ts[i] = 50 + 180 * i;
                }
                float[] got = split.predict(lat, batch, SIDE, SIDE, ts, ctx, ctxLen);
                // parts of consecutive samples, the first replica taking the larger one: 2 -> 1+1, 3 -> 2+1, 5 -> 3+2
                int first = (batch + 1) / 2;
                float[] a = alone.predict(Arrays.copyOfRange(lat, 0, first * per), first, SIDE, SIDE,
                        Arrays.copyOfRange(ts, 0, first), Arrays.copyOfRange(ctx, 0, first * ctxLen * dim), ctxLen);
                float[] b = alone.predict(Arrays.copyOfRange(lat, first * per, batch * per), batch - first, SIDE, SIDE,
                        Arrays.copyOfRange(ts, first, batch), Arrays.copyOfRange(ctx, first * ctxLen * dim, batch * ctxLen * dim),
                        ctxLen);
                float[] want = new float[batch * outPer];
                System.arraycopy(a, 0, want, 0, a.length);
                System.arraycopy(b, 0, want, a.length, b.length);
                assertArrayEquals(want, got, "batch " + batch);
                // and the same function as one 2-thread session over the whole batch, up to float rounding
                float[] w = whole.predict(lat, batch, SIDE, SIDE, ts, ctx, ctxLen);
                double maxAbs = 0;
                double maxRef = 0;
                for (int i = 0; i < w.length; i++) {
                    maxAbs = Math.max(maxAbs, Math.abs(w[i] - got[i]));
                    maxRef = Math.max(maxRef, Math.abs(w[i]));
                }
                assertTrue(maxRef > 0.1, "a real prediction");
                assertTrue(maxAbs <= 1e-4 * maxRef, "batch " + batch + ": " + maxAbs + " of " + maxRef);
            }
        }
    }

    @Test
    void noMoreReplicasThanThreads() {
        try (UNet2DConditionModel u = unet(ModelSource.open("demo", null), 1, 2)) {
            assertEquals(1, u.replicaCount());
        }
    }

    static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}
