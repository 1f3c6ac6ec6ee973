package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.diffusion.core.unet.RefMath;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.TinyStableDiffusion;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Sliced attention ({@code diffusion.attention.slice-mb}) computes what attention in one piece computes: against a
 * plain softmax(q·kᵀ/√d)·v of {@code RefMath.attention} (accumulated in double), with a query length no slice size divides, and a
 * whole U-Net's prediction with slicing on against the same U-Net with it off.
 */
class SlicedAttentionTest {
    private static final int B = 2, HEADS = 2, D = 8, LQ = 1000, LK = 700;

    @Test
    void slicedAttentionEqualsTheFormula() {
        Random r = new Random(7);
        float[] q = random(r, B * LQ * HEADS * D), k = random(r, B * LK * HEADS * D), v = random(r, B * LK * HEADS * D);
        float[] expected = RefMath.attention(q, k, v, B, LQ, LK, HEADS, D); // accumulated in double
        // one slice's scores take B·heads·rows·Lk·4 = 11,200 bytes a row: 64 KiB gives 5 rows, so the 64-slice cap
        // rules (16 rows a slice, the last one 8); 1 MiB gives 93 rows (11 slices, the last 70); 0: one piece
        for (long budget : new long[] {64 << 10, 1 << 20, 0}) {
            float[] got = attention(budget, q, k, v);
            double maxErr = 0;
            for (int i = 0; i < got.length; i++) {
                maxErr = Math.max(maxErr, Math.abs(got[i] - expected[i]));
            }
            assertTrue(maxErr < 1e-5, "budget " + budget + ": max error " + maxErr);
        }
        assertArrayEquals(attention(0, q, k, v), attention(1 << 20, q, k, v), 1e-6f, "sliced vs one piece");
    }

    @Test
    void aSlicedUNetPredictsWhatTheWholeOneDoes() throws Exception {
        UNetConfig config = UNetConfig.fromJson(new ObjectMapper().readTree(TinyStableDiffusion.UNET_CONFIG));
        MapWeights weights = new MapWeights().putAll(TinyStableDiffusion.unet(config, 3));
        int side = 48; // 2304 query rows at the top level: under a 1 MiB budget, slices of the 36-row minimum (64 of them)
        Random r = new Random(11);
        float[] latents = random(r, 2 * side * side * config.inChannels());
        float[] context = random(r, 2 * 77 * config.crossAttentionDim());
        float[] whole;
        float[] sliced;
        try (UNet2DConditionModel unet = new UNet2DConditionModel(config, weights, Precision.FP32)) {
            whole = unet.predict(latents, 2, side, side, new float[] {999, 10}, context, 77);
        }
        System.setProperty(Nn.ATTENTION_SLICE_PROPERTY, "1");
        try (UNet2DConditionModel unet = new UNet2DConditionModel(config, weights, Precision.FP32)) {
            sliced = unet.predict(latents, 2, side, side, new float[] {999, 10}, context, 77);
        } finally {
            System.clearProperty(Nn.ATTENTION_SLICE_PROPERTY);
        }
        assertEquals(whole.length, sliced.length);
        double maxErr = 0, maxAbs = 0;
        for (int i = 0; i < whole.length; i++) {
            maxErr = Math.max(maxErr, Math.abs(whole[i] - sliced[i]));
            maxAbs = Math.max(maxAbs, Math.abs(whole[i]));
        }
        System.out.printf("sliced U-Net vs whole: max abs error %.3g (max |value| %.3g)%n", maxErr, maxAbs);
        assertTrue(maxErr <= 1e-5 * Math.max(1, maxAbs), "max error " + maxErr);
    }

    private static float[] attention(long sliceBytes, float[] q, float[] k, float[] v) {
        try (Graph g = new Graph()) {
            Nn nn = new Nn(g, new MapWeights(), Precision.FP32, sliceBytes);
            var pq = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, HEADS * D)));
            var pk = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, HEADS * D)));
            var pv = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, HEADS * D)));
            Operand<TFloat32> out = Attention.apply(nn, pq, pk, pv, HEADS, D, null);
            try (Session s = new Session(g);
                 TFloat32 tq = Tensors.of(q, B, LQ, HEADS * D);
                 TFloat32 tk = Tensors.of(k, B, LK, HEADS * D);
                 TFloat32 tv = Tensors.of(v, B, LK, HEADS * D);
                 Result res = s.runner().feed(pq, tq).feed(pk, tk).feed(pv, tv).fetch(out).run()) {
                return Tensors.toFloats((TFloat32) res.get(0));
            }
        }
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }
}
