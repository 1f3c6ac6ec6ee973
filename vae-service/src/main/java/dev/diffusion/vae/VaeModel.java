package dev.diffusion.vae;

import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.vae.LatentRgbMap;
import dev.diffusion.service.PartModel;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** The VAE of {@code diffusion.model.path} (decoder, and encoder unless {@code diffusion.vae.encoder=false}), loaded at startup. */
@ApplicationScoped
public class VaeModel extends PartModel<VaeModel.Loaded> {
    /** @param previewMap the latent → RGB map fitted to this decoder (previews in progress events) */
    public record Loaded(AutoencoderKL vae, String name, LatentRgbMap previewMap) {
    }

    @ConfigProperty(name = "diffusion.vae.encoder", defaultValue = "true")
    boolean withEncoder;

    public VaeModel() {
        super("vae");
    }

    @Override
    protected Loaded build(ModelSource source) {
        AutoencoderKL vae = source.vae(settings.parsedPrecision(), true, withEncoder);
        return new Loaded(vae, source.name(), LatentRgbMap.fit(vae));
    }

    /** One decode of an {@code imageSide}² image (the encoder, used by img2img only, is left cold). */
    @Override
    protected void warmUp(Loaded loaded, ModelSource source, int imageSide) {
        AutoencoderKL vae = loaded.vae();
        int side = Math.max(1, imageSide / vae.config().downscale());
        vae.decode(new float[side * side * vae.config().latentChannels()], 1, side, side);
    }
}
