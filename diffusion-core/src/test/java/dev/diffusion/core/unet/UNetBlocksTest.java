package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.MapWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/** The TF blocks against plain-Java loops written from the PyTorch definitions (RefMath), seeded random weights. */
class UNetBlocksTest {
    private static final double TOLERANCE = 1e-4;

    @Test
    void resnetBlockWithChannelChangeMatchesReference() {
        checkResnet(8, 16);
    }

    @Test
    void resnetBlockWithIdentityShortcutMatchesReference() {
        checkResnet(16, 16);
    }

    private void checkResnet(int cin, int cout) {
        int saved = Im2colConv2d.minOutChannels;
        try {
            for (int threshold : new int[] {Integer.MAX_VALUE, 1}) { // 3x3 convs direct, then as im2col
                Im2colConv2d.minOutChannels = threshold;
                checkResnet(cin, cout, threshold == 1 ? "im2col" : "direct");
            }
        } finally {
            Im2colConv2d.minOutChannels = saved;
        }
    }

    private void checkResnet(int cin, int cout, String convs) {
        int b = 2, h = 4, w = 6, temb = 12, groups = 4;
        double eps = 1e-5;
        MapWeights weights = TestWeights.random(7, nn -> new ResnetBlock2D(nn, "r", cin, cout, temb, groups, eps));
        float[] x = gaussian(b * h * w * cin, 1);
        float[] t = gaussian(b * temb, 2);

        float[] actual = TwoInputNet.runOnce(weights, x, new long[] {b, h, w, cin}, t, new long[] {b, temb},
                (nn, xa, ta) -> new ResnetBlock2D(nn, "r", cin, cout, temb, groups, eps).apply(xa, ta));

        float[] hidden = RefMath.conv2d(RefMath.silu(RefMath.groupNorm(x, b, h, w, cin, groups, eps,
                weights.floats("r.norm1.weight"), weights.floats("r.norm1.bias"))), b, h, w, cin,
                weights.floats("r.conv1.weight"), weights.floats("r.conv1.bias"), cout, 3, 1, 1);
        float[] tp = RefMath.linear(RefMath.silu(t), b, temb, weights.floats("r.time_emb_proj.weight"),
                weights.floats("r.time_emb_proj.bias"), cout);
        for (int i = 0; i < hidden.length; i++) {
            hidden[i] += tp[(i / (h * w * cout)) * cout + i % cout];
        }
        hidden = RefMath.conv2d(RefMath.silu(RefMath.groupNorm(hidden, b, h, w, cout, groups, eps,
                weights.floats("r.norm2.weight"), weights.floats("r.norm2.bias"))), b, h, w, cout,
                weights.floats("r.conv2.weight"), weights.floats("r.conv2.bias"), cout, 3, 1, 1);
        float[] shortcut = cin == cout ? x : RefMath.conv2d(x, b, h, w, cin, weights.floats("r.conv_shortcut.weight"),
                weights.floats("r.conv_shortcut.bias"), cout, 1, 1, 0);
        float[] expected = RefMath.add(shortcut, hidden);

        double err = RefMath.relativeError(actual, expected);
        assertTrue(err <= TOLERANCE, "ResnetBlock2D " + cin + "->" + cout + " (" + convs + " 3x3 convs) relative error " + err);
    }

    @Test
    void basicTransformerBlockMatchesReference() {
        int b = 2, l = 6, dim = 8, heads = 2, lc = 5, cd = 6;
        MapWeights weights = TestWeights.random(11, nn -> new BasicTransformerBlock(nn, "t", dim, heads, dim / heads, cd));
        float[] x = gaussian(b * l * dim, 3);
        float[] ctx = gaussian(b * lc * cd, 4);

        float[] actual = TwoInputNet.runOnce(weights, x, new long[] {b, l, dim}, ctx, new long[] {b, lc, cd},
                (nn, xa, ca) -> new BasicTransformerBlock(nn, "t", dim, heads, dim / heads, cd).apply(xa, ca));
        float[] expected = referenceBasicBlock(weights, "t", x, b, l, dim, heads, ctx, lc, cd);

        double err = RefMath.relativeError(actual, expected);
        assertTrue(err <= TOLERANCE, "BasicTransformerBlock relative error " + err);
    }

    @Test
    void transformer2dWithConvAndWithLinearProjectionMatchesReference() {
        for (boolean linear : new boolean[] {false, true}) {
            int b = 2, h = 2, w = 3, ch = 8, heads = 2, lc = 4, cd = 6, groups = 4;
            MapWeights weights = TestWeights.random(13, nn -> new Transformer2DModel(nn, "s", ch, heads, 1, cd, groups, linear));
            float[] x = gaussian(b * h * w * ch, 5);
            float[] ctx = gaussian(b * lc * cd, 6);

            float[] actual = TwoInputNet.runOnce(weights, x, new long[] {b, h, w, ch}, ctx, new long[] {b, lc, cd},
                    (nn, xa, ca) -> new Transformer2DModel(nn, "s", ch, heads, 1, cd, groups, linear).apply(xa, ca));

            int rows = b * h * w;
            float[] hn = RefMath.groupNorm(x, b, h, w, ch, groups, 1e-6, weights.floats("s.norm.weight"), weights.floats("s.norm.bias"));
            // a 1x1 conv's OIHW weight [out, in, 1, 1] has the same values as a Linear's [out, in]
            hn = RefMath.linear(hn, rows, ch, weights.floats("s.proj_in.weight"), weights.floats("s.proj_in.bias"), ch);
            hn = referenceBasicBlock(weights, "s.transformer_blocks.0", hn, b, h * w, ch, heads, ctx, lc, cd);
            hn = RefMath.linear(hn, rows, ch, weights.floats("s.proj_out.weight"), weights.floats("s.proj_out.bias"), ch);
            float[] expected = RefMath.add(hn, x);

            double err = RefMath.relativeError(actual, expected);
            assertTrue(err <= TOLERANCE, "Transformer2DModel (linear projection " + linear + ") relative error " + err);
        }
    }

    @Test
    void downBlockWithDownsamplePaddingZeroPadsRightAndBottomThenConvolves() {
        // diffusers' Downsample2D with padding 0: F.pad(x, (0, 1, 0, 1)), then the stride-2 3x3 conv unpadded
        for (int padding : new int[] {0, 1}) {
            UNetConfig config = UNetConfig.builder().blockOutChannels(8, 8).layersPerBlock(1)
                    .downBlockTypes(UNetConfig.DOWN, UNetConfig.DOWN).upBlockTypes(UNetConfig.UP, UNetConfig.UP)
                    .normNumGroups(4).attentionHeads(1).downsamplePadding(padding).build();
            int b = 2, h = 4, w = 6, c = 8, temb = config.timeEmbeddingDim();
            MapWeights weights = TestWeights.random(17, nn -> new DownBlock2D(nn, "d", config, 0, c, false));
            float[] x = gaussian(b * h * w * c, 7);
            float[] t = gaussian(b * temb, 8);
            // the resnet's output (the skip before the downsampler) and the block's output, from two runs of one graph
            float[][] outputs = new float[2][];
            for (int i = 0; i < 2; i++) {
                int which = i;
                outputs[i] = TwoInputNet.runOnce(weights, x, new long[] {b, h, w, c}, t, new long[] {b, temb}, (nn, xa, ta) -> {
                    List<Operand<TFloat32>> skips = new ArrayList<>();
                    var out = new DownBlock2D(nn, "d", config, 0, c, false).apply(xa, ta, null, skips);
                    return which == 0 ? skips.get(0) : out;
                });
            }
            float[] resnet = outputs[0];
            int ph = h + 1, pw = w + 1; // zero row below, zero column to the right
            float[] padded = new float[b * ph * pw * c];
            for (int n = 0; n < b; n++) {
                for (int y = 0; y < h; y++) {
                    System.arraycopy(resnet, ((n * h + y) * w) * c, padded, ((n * ph + y) * pw) * c, w * c);
                }
            }
            float[] expected = padding == 0
                    ? RefMath.conv2d(padded, b, ph, pw, c, weights.floats("d.downsamplers.0.conv.weight"),
                            weights.floats("d.downsamplers.0.conv.bias"), c, 3, 2, 0)
                    : RefMath.conv2d(resnet, b, h, w, c, weights.floats("d.downsamplers.0.conv.weight"),
                            weights.floats("d.downsamplers.0.conv.bias"), c, 3, 2, 1);
            assertEquals(b * (h / 2) * (w / 2) * c, outputs[1].length);
            double err = RefMath.relativeError(outputs[1], expected);
            assertTrue(err <= TOLERANCE, "downsample padding " + padding + " relative error " + err);
        }
    }

    static float[] referenceBasicBlock(MapWeights w, String p, float[] x, int b, int l, int dim, int heads,
                                       float[] ctx, int lc, int cd) {
        int rows = b * l;
        float[] n1 = RefMath.layerNorm(x, rows, dim, 1e-5, w.floats(p + ".norm1.weight"), w.floats(p + ".norm1.bias"));
        x = RefMath.add(x, referenceAttention(w, p + ".attn1", n1, n1, b, l, l, dim, dim, heads));
        float[] n2 = RefMath.layerNorm(x, rows, dim, 1e-5, w.floats(p + ".norm2.weight"), w.floats(p + ".norm2.bias"));
        x = RefMath.add(x, referenceAttention(w, p + ".attn2", n2, ctx, b, l, lc, dim, cd, heads));
        float[] n3 = RefMath.layerNorm(x, rows, dim, 1e-5, w.floats(p + ".norm3.weight"), w.floats(p + ".norm3.bias"));
        int inner = 4 * dim;
        float[] proj = RefMath.linear(n3, rows, dim, w.floats(p + ".ff.net.0.proj.weight"), w.floats(p + ".ff.net.0.proj.bias"), 2 * inner);
        float[] gated = new float[rows * inner];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < inner; i++) {
                gated[r * inner + i] = (float) (proj[r * 2 * inner + i] * RefMath.gelu(proj[r * 2 * inner + inner + i]));
            }
        }
        return RefMath.add(x, RefMath.linear(gated, rows, inner, w.floats(p + ".ff.net.2.weight"), w.floats(p + ".ff.net.2.bias"), dim));
    }

    static float[] referenceAttention(MapWeights w, String p, float[] x, float[] kv, int b, int l, int lk, int dim,
                                      int kvDim, int heads) {
        float[] q = RefMath.linear(x, b * l, dim, w.floats(p + ".to_q.weight"), null, dim);
        float[] k = RefMath.linear(kv, b * lk, kvDim, w.floats(p + ".to_k.weight"), null, dim);
        float[] v = RefMath.linear(kv, b * lk, kvDim, w.floats(p + ".to_v.weight"), null, dim);
        float[] a = RefMath.attention(q, k, v, b, l, lk, heads, dim / heads);
        return RefMath.linear(a, b * l, dim, w.floats(p + ".to_out.0.weight"), w.floats(p + ".to_out.0.bias"), dim);
    }

    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}
