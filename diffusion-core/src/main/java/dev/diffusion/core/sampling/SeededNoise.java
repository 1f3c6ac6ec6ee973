package dev.diffusion.core.sampling;

/**
 * Initial latent noise and layout helpers. Noise is generated in NCHW order (the order torch fills a
 * [N, C, H, W] tensor, which is what seeds are compared against); the pipeline's tensors are NHWC.
 */
public final class SeededNoise {
    private SeededNoise() {
    }

    /**
     * Noise for a batch in NCHW order: image {@code i} is one draw of {@code c*h*w} values from a fresh
     * stream seeded with {@code seed + i}, as A1111 and stable-diffusion.cpp seed batches.
     */
    public static float[] initialNoiseNchw(RngKind rng, long seed, int batch, int channels, int height, int width) {
        int perImage = channels * height * width;
        float[] out = new float[batch * perImage];
        for (int b = 0; b < batch; b++) {
            float[] one = NoiseGenerator.create(rng, seed + b).randn(perImage);
            System.arraycopy(one, 0, out, b * perImage, perImage);
        }
        return out;
    }

    /** {@link #initialNoiseNchw} converted to NHWC. */
    public static float[] initialNoiseNhwc(RngKind rng, long seed, int batch, int channels, int height, int width) {
        return nchwToNhwc(initialNoiseNchw(rng, seed, batch, channels, height, width), batch, channels, height, width);
    }

    /** [N, C, H, W] -> [N, H, W, C]. */
    public static float[] nchwToNhwc(float[] src, int n, int c, int h, int w) {
        checkSize(src, n, c, h, w);
        float[] dst = new float[src.length];
        int hw = h * w;
        for (int b = 0; b < n; b++) {
            int base = b * c * hw;
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < hw; p++) {
                    dst[base + p * c + ch] = src[base + ch * hw + p];
                }
            }
        }
        return dst;
    }

    /** [N, H, W, C] -> [N, C, H, W]. */
    public static float[] nhwcToNchw(float[] src, int n, int c, int h, int w) {
        checkSize(src, n, c, h, w);
        float[] dst = new float[src.length];
        int hw = h * w;
        for (int b = 0; b < n; b++) {
            int base = b * c * hw;
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < hw; p++) {
                    dst[base + ch * hw + p] = src[base + p * c + ch];
                }
            }
        }
        return dst;
    }

    private static void checkSize(float[] src, int n, int c, int h, int w) {
        if ((long) n * c * h * w != src.length) {
            throw new IllegalArgumentException("array of " + src.length + " floats is not [" + n + ", " + c + ", "
                    + h + ", " + w + "]");
        }
    }
}
