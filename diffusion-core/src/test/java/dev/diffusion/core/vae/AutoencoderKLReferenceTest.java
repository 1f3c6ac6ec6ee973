package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.vae.VaeLayersTest.Ref;
import dev.diffusion.core.weights.MapWeights;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The whole tiny encoder and decoder against a plain-Java composition of the reference layers,
 * written from diffusers' {@code Encoder}/{@code Decoder} forward passes: level order, channel
 * walk, the strided and padded downsample, nearest upsampling, the mean/logvar split and clamp.
 */
class AutoencoderKLReferenceTest {
    static final VaeConfig TINY = new VaeConfig(3, 3, 4, List.of(8, 16), 1, 4, 1e-6, 0.18215, 0.0, true, true, true);

    /** A feature map NHWC with its sizes. */
    record Map(float[] v, int b, int h, int w, int c) {}

    @Test
    void encoderMatchesReference() {
        MapWeights w = VaeTestSupport.randomWeights(TINY, 11);
        int b = 2, h = 8, wd = 6;
        float[] img = VaeTestSupport.gauss(new Random(12), b * h * wd * 3, 0.6, 0);
        Moments got;
        try (AutoencoderKL vae = AutoencoderKL.encoderOnly(TINY, w, Precision.FP32)) {
            got = vae.encode(img, b, h, wd);
        }
        Map x = conv(w, "encoder.conv_in", new Map(img, b, h, wd, 3), 8, 3, 1, 1, 1, 1, 1);
        x = resnet(w, "encoder.down_blocks.0.resnets.0", x, 8);
        x = conv(w, "encoder.down_blocks.0.downsamplers.0.conv", x, 8, 3, 2, 0, 1, 0, 1);
        x = resnet(w, "encoder.down_blocks.1.resnets.0", x, 16);
        x = mid(w, "encoder.mid_block", x);
        x = new Map(Ref.silu(Ref.groupNorm(x.v, x.b, x.h, x.w, x.c, 4, w.floats("encoder.conv_norm_out.weight"),
                w.floats("encoder.conv_norm_out.bias"))), x.b, x.h, x.w, x.c);
        x = conv(w, "encoder.conv_out", x, 8, 3, 1, 1, 1, 1, 1);
        x = conv(w, "quant_conv", x, 8, 1, 1, 0, 0, 0, 0);
        assertEquals(List.of(2, 4, 3), List.of(got.batch(), got.height(), got.width()));
        int n = x.b * x.h * x.w;
        float[] mean = new float[n * 4];
        float[] logvar = new float[n * 4];
        for (int p = 0; p < n; p++) {
            for (int c = 0; c < 4; c++) {
                mean[p * 4 + c] = x.v[p * 8 + c];
                logvar[p * 4 + c] = Math.max(-30f, Math.min(20f, x.v[p * 8 + 4 + c]));
            }
        }
        VaeLayersTest.assertClose(mean, got.mean(), 1e-4);
        VaeLayersTest.assertClose(logvar, got.logvar(), 1e-4);
    }

    @Test
    void decoderMatchesReference() {
        MapWeights w = VaeTestSupport.randomWeights(TINY, 13);
        int b = 2, h = 3, wd = 4;
        float[] z = VaeTestSupport.gauss(new Random(14), b * h * wd * 4, 0.5, 0);
        float[] got;
        try (AutoencoderKL vae = AutoencoderKL.decoderOnly(TINY, w, Precision.FP32)) {
            got = vae.decode(z, b, h, wd);
        }
        float[] unscaled = new float[z.length];
        for (int i = 0; i < z.length; i++) {
            unscaled[i] = (float) (z[i] / 0.18215);
        }
        Map x = conv(w, "post_quant_conv", new Map(unscaled, b, h, wd, 4), 4, 1, 1, 0, 0, 0, 0);
        x = conv(w, "decoder.conv_in", x, 16, 3, 1, 1, 1, 1, 1);
        x = mid(w, "decoder.mid_block", x);
        x = resnet(w, "decoder.up_blocks.0.resnets.0", x, 16);
        x = resnet(w, "decoder.up_blocks.0.resnets.1", x, 16);
        x = conv(w, "decoder.up_blocks.0.upsamplers.0.conv", nearest2x(x), 16, 3, 1, 1, 1, 1, 1);
        x = resnet(w, "decoder.up_blocks.1.resnets.0", x, 8);
        x = resnet(w, "decoder.up_blocks.1.resnets.1", x, 8);
        x = new Map(Ref.silu(Ref.groupNorm(x.v, x.b, x.h, x.w, x.c, 4, w.floats("decoder.conv_norm_out.weight"),
                w.floats("decoder.conv_norm_out.bias"))), x.b, x.h, x.w, x.c);
        x = conv(w, "decoder.conv_out", x, 3, 3, 1, 1, 1, 1, 1);
        assertEquals(List.of(2, 6, 8, 3), List.of(x.b, x.h, x.w, x.c));
        VaeLayersTest.assertClose(x.v, got, 1e-4);
    }

    static Map resnet(MapWeights w, String p, Map x, int out) {
        return new Map(Ref.resnet(w, p, x.v, x.b, x.h, x.w, x.c, out, 4), x.b, x.h, x.w, out);
    }

    static Map mid(MapWeights w, String p, Map x) {
        Map r = resnet(w, p + ".resnets.0", x, x.c);
        r = new Map(Ref.attention(w, p + ".attentions.0", r.v, r.b, r.h, r.w, r.c, 4), r.b, r.h, r.w, r.c);
        return resnet(w, p + ".resnets.1", r, r.c);
    }

    static Map nearest2x(Map x) {
        float[] y = new float[x.v.length * 4];
        int h2 = 2 * x.h, w2 = 2 * x.w;
        for (int n = 0; n < x.b; n++)
            for (int i = 0; i < h2; i++)
                for (int j = 0; j < w2; j++)
                    for (int c = 0; c < x.c; c++)
                        y[((n * h2 + i) * w2 + j) * x.c + c] = x.v[((n * x.h + i / 2) * x.w + j / 2) * x.c + c];
        return new Map(y, x.b, h2, w2, x.c);
    }

    /** Convolution with stride and explicit zero padding (top, bottom, left, right); weight OIHW. */
    static Map conv(MapWeights mw, String p, Map x, int cout, int k, int stride, int pt, int pb, int pl, int pr) {
        float[] wt = mw.floats(p + ".weight");
        float[] bias = mw.floats(p + ".bias");
        int oh = (x.h + pt + pb - k) / stride + 1;
        int ow = (x.w + pl + pr - k) / stride + 1;
        float[] y = new float[x.b * oh * ow * cout];
        for (int n = 0; n < x.b; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int o = 0; o < cout; o++) {
                        double s = bias[o];
                        for (int ky = 0; ky < k; ky++) {
                            int iy = oy * stride + ky - pt;
                            if (iy < 0 || iy >= x.h) continue;
                            for (int kx = 0; kx < k; kx++) {
                                int ix = ox * stride + kx - pl;
                                if (ix < 0 || ix >= x.w) continue;
                                for (int i = 0; i < x.c; i++)
                                    s += x.v[((n * x.h + iy) * x.w + ix) * x.c + i] * (double) wt[((o * x.c + i) * k + ky) * k + kx];
                            }
                        }
                        y[((n * oh + oy) * ow + ox) * cout + o] = (float) s;
                    }
        return new Map(y, x.b, oh, ow, cout);
    }
}
