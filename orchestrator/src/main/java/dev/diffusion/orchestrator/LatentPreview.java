package dev.diffusion.orchestrator;

import dev.diffusion.core.image.Png;
import java.util.Map;

/**
 * A cheap preview of a latent without the VAE: each latent pixel becomes one RGB pixel through a fixed linear map
 * of the 4 SD 1.x latent channels (the "approximate cheap" factors A1111 uses for live previews). The image is
 * 1/8 of the output size; it costs microseconds, so it can go into PROGRESS events.
 */
public final class LatentPreview {
    // rows: latent channel; columns: R, G, B
    private static final double[][] FACTORS = {
        {0.298, 0.207, 0.208},
        {0.187, 0.286, 0.173},
        {-0.158, 0.189, 0.264},
        {-0.184, -0.271, -0.473},
    };

    private LatentPreview() {}

    /** {@code latentNhwc} [1, h, w, C] (the denoised estimate reads best) → PNG of w×h pixels. */
    public static byte[] png(float[] latentNhwc, int h, int w, int channels) {
        byte[] rgb = new byte[h * w * 3];
        int used = Math.min(channels, FACTORS.length);
        for (int p = 0; p < h * w; p++) {
            for (int c = 0; c < 3; c++) {
                double v = 0;
                for (int k = 0; k < used; k++) {
                    v += latentNhwc[p * channels + k] * FACTORS[k][c];
                }
                double u = Math.max(0, Math.min(1, (v + 1) / 2));
                rgb[p * 3 + c] = (byte) (int) (u * 255);
            }
        }
        return Png.encodeRgb(w, h, rgb, Map.of());
    }
}
