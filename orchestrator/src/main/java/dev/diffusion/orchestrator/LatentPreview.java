package dev.diffusion.orchestrator;

import dev.diffusion.core.image.Png;
import dev.diffusion.core.vae.LatentRgbMap;
import dev.diffusion.proto.v1.ModelInfo;
import io.grpc.StatusRuntimeException;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Previews in PROGRESS events: one RGB pixel per latent pixel through the served model's own latent → RGB map
 * ({@link LatentRgbMap}, fitted by the VAE service to its decoder and read once from its Info). Microseconds per
 * preview; while the VAE service cannot be asked, previews are left out rather than wrong.
 */
public final class LatentPreview {
    private static final Logger LOG = Logger.getLogger(LatentPreview.class);

    private final ModelClients clients;
    private volatile LatentRgbMap map;

    public LatentPreview(ModelClients clients) {
        this.clients = clients;
    }

    /** The map, fetched from the VAE service the first time; empty while it cannot be had. */
    Optional<LatentRgbMap> map() {
        LatentRgbMap m = map;
        if (m == null) {
            try {
                ModelInfo info = clients.vaeInfo(2000);
                if (info.getLatentRgbMapCount() == 0) {
                    return Optional.empty();
                }
                float[] flat = new float[info.getLatentRgbMapCount()];
                for (int i = 0; i < flat.length; i++) {
                    flat[i] = info.getLatentRgbMap(i);
                }
                m = LatentRgbMap.ofFlat(flat);
                map = m;
            } catch (StatusRuntimeException | IllegalArgumentException e) {
                LOG.debugf("no preview map yet: %s", e.toString());
                return Optional.empty();
            }
        }
        return Optional.of(m);
    }

    /** {@code latentNhwc} [1, h, w, C] (the denoised estimate reads best) → PNG of w×h pixels, if a map is at hand. */
    public Optional<byte[]> png(float[] latentNhwc, int h, int w) {
        return map().map(m -> Png.encodeRgb(w, h, m.rgb8(latentNhwc, h, w), Map.of()));
    }
}
