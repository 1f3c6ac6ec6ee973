package dev.diffusion.core.unet;

import dev.diffusion.core.weights.MapWeights;
import dev.diffusion.core.weights.TensorInfo;
import dev.diffusion.core.weights.Weights;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * The diffusers weight keys and PyTorch shapes a UNet2DConditionModel of a given config has, written out
 * independently of the model code (from diffusers' unet_2d_condition / unet_2d_blocks), and seeded random
 * values for them.
 */
final class UNetKeys {
    private UNetKeys() {}

    static Map<String, long[]> of(UNetConfig c) {
        Map<String, long[]> k = new LinkedHashMap<>();
        int[] ch = c.blockOutChannels();
        int n = ch.length;
        long t = c.timeEmbeddingDim();
        conv(k, "conv_in", c.inChannels(), ch[0], 3);
        linear(k, "time_embedding.linear_1", ch[0], t, true);
        linear(k, "time_embedding.linear_2", t, t, true);
        long in = ch[0];
        for (int i = 0; i < n; i++) {
            String p = "down_blocks." + i;
            for (int j = 0; j < c.layersPerBlock(); j++) {
                resnet(k, p + ".resnets." + j, j == 0 ? in : ch[i], ch[i], t);
                if (c.downBlockTypes().get(i).equals("CrossAttnDownBlock2D")) {
                    transformer(k, p + ".attentions." + j, ch[i], c.transformerLayersPerBlock()[i], c.crossAttentionDim(),
                            c.useLinearProjection());
                }
            }
            if (i < n - 1) {
                conv(k, p + ".downsamplers.0.conv", ch[i], ch[i], 3);
            }
            in = ch[i];
        }
        resnet(k, "mid_block.resnets.0", ch[n - 1], ch[n - 1], t);
        transformer(k, "mid_block.attentions.0", ch[n - 1], c.transformerLayersPerBlock()[n - 1], c.crossAttentionDim(),
                c.useLinearProjection());
        resnet(k, "mid_block.resnets.1", ch[n - 1], ch[n - 1], t);
        long prev = ch[n - 1];
        for (int i = 0; i < n; i++) {
            String p = "up_blocks." + i;
            long out = ch[n - 1 - i];
            long skipIn = ch[Math.max(n - 2 - i, 0)];
            int layers = c.layersPerBlock() + 1;
            for (int j = 0; j < layers; j++) {
                long res = (j == 0 ? prev : out) + (j == layers - 1 ? skipIn : out);
                resnet(k, p + ".resnets." + j, res, out, t);
                if (c.upBlockTypes().get(i).equals("CrossAttnUpBlock2D")) {
                    transformer(k, p + ".attentions." + j, out, c.transformerLayersPerBlock()[n - 1 - i], c.crossAttentionDim(),
                            c.useLinearProjection());
                }
            }
            if (i < n - 1) {
                conv(k, p + ".upsamplers.0.conv", out, out, 3);
            }
            prev = out;
        }
        norm(k, "conv_norm_out", ch[0]);
        conv(k, "conv_out", ch[0], c.outChannels(), 3);
        return k;
    }

    static void resnet(Map<String, long[]> k, String p, long in, long out, long temb) {
        norm(k, p + ".norm1", in);
        conv(k, p + ".conv1", in, out, 3);
        linear(k, p + ".time_emb_proj", temb, out, true);
        norm(k, p + ".norm2", out);
        conv(k, p + ".conv2", out, out, 3);
        if (in != out) {
            conv(k, p + ".conv_shortcut", in, out, 1);
        }
    }

    static void transformer(Map<String, long[]> k, String p, long ch, int layers, long ctx, boolean linearProjection) {
        norm(k, p + ".norm", ch);
        if (linearProjection) {
            linear(k, p + ".proj_in", ch, ch, true);
        } else {
            conv(k, p + ".proj_in", ch, ch, 1);
        }
        for (int l = 0; l < layers; l++) {
            basicBlock(k, p + ".transformer_blocks." + l, ch, ctx);
        }
        if (linearProjection) {
            linear(k, p + ".proj_out", ch, ch, true);
        } else {
            conv(k, p + ".proj_out", ch, ch, 1);
        }
    }

    static void basicBlock(Map<String, long[]> k, String p, long dim, long ctx) {
        norm(k, p + ".norm1", dim);
        attention(k, p + ".attn1", dim, dim);
        norm(k, p + ".norm2", dim);
        attention(k, p + ".attn2", dim, ctx);
        norm(k, p + ".norm3", dim);
        linear(k, p + ".ff.net.0.proj", dim, 8 * dim, true);
        linear(k, p + ".ff.net.2", 4 * dim, dim, true);
    }

    static void attention(Map<String, long[]> k, String p, long dim, long ctx) {
        linear(k, p + ".to_q", dim, dim, false);
        linear(k, p + ".to_k", ctx, dim, false);
        linear(k, p + ".to_v", ctx, dim, false);
        linear(k, p + ".to_out.0", dim, dim, true);
    }

    static void conv(Map<String, long[]> k, String p, long in, long out, int size) {
        k.put(p + ".weight", new long[] {out, in, size, size});
        k.put(p + ".bias", new long[] {out});
    }

    static void linear(Map<String, long[]> k, String p, long in, long out, boolean bias) {
        k.put(p + ".weight", new long[] {out, in});
        if (bias) {
            k.put(p + ".bias", new long[] {out});
        }
    }

    static void norm(Map<String, long[]> k, String p, long ch) {
        k.put(p + ".weight", new long[] {ch});
        k.put(p + ".bias", new long[] {ch});
    }

    /**
     * Seeded values: matrices N(0, 1/fan_in) so activations keep their scale through the depth, norm scales
     * 1 + N(0, 0.1²) and biases N(0, 0.1²) so that a swapped or ignored scale/bias shows.
     */
    static MapWeights random(Map<String, long[]> keys, long seed) {
        Random rnd = new Random(seed);
        MapWeights w = new MapWeights();
        for (Map.Entry<String, long[]> e : keys.entrySet()) {
            long[] s = e.getValue();
            int count = 1;
            for (long d : s) {
                count *= (int) d;
            }
            float[] v = new float[count];
            boolean vector = s.length == 1;
            boolean normScale = vector && e.getKey().endsWith(".weight");
            double scale = vector ? 0.1 : 1 / Math.sqrt((double) count / s[0]);
            for (int i = 0; i < count; i++) {
                v[i] = (float) ((normScale ? 1 : 0) + scale * rnd.nextGaussian());
            }
            w.put(e.getKey(), s, v);
        }
        return w;
    }

    /** Passes through to a source and remembers every key the network asked for. */
    static final class Recording implements Weights {
        final Weights source;
        final Set<String> asked = new LinkedHashSet<>();

        Recording(Weights source) {
            this.source = source;
        }

        @Override
        public Set<String> keys() {
            return source.keys();
        }

        @Override
        public TensorInfo info(String key) {
            asked.add(key);
            return source.info(key);
        }

        @Override
        public float[] floats(String key) {
            asked.add(key);
            return source.floats(key);
        }
    }
}
