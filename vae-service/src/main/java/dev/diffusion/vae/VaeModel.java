package dev.diffusion.vae;

import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.service.PartModel;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** The VAE of {@code diffusion.model.path} (decoder, and encoder unless {@code diffusion.vae.encoder=false}), loaded at startup. */
@ApplicationScoped
public class VaeModel extends PartModel<VaeModel.Loaded> {
    public record Loaded(AutoencoderKL vae, String name) {
    }

    @ConfigProperty(name = "diffusion.vae.encoder", defaultValue = "true")
    boolean withEncoder;

    public VaeModel() {
        super("vae");
    }

    @Override
    protected Loaded build(ModelSource source) {
        return new Loaded(source.vae(settings.parsedPrecision(), true, withEncoder), source.name());
    }
}
