package dev.diffusion.core.sampling;

/** The samplers diffusion-core implements ({@code Sampler.create}), by canonical (ComfyUI-style) name. */
public enum SamplerKind {
    EULER("euler"),
    EULER_ANCESTRAL("euler_ancestral"),
    DPMPP_2M("dpmpp_2m"),
    DDIM("ddim"),
    DDPM("ddpm");

    private final String canonicalName;

    SamplerKind(String canonicalName) {
        this.canonicalName = canonicalName;
    }

    public String canonicalName() {
        return canonicalName;
    }

    /** Whether the sampler draws fresh noise on each step (so results depend on the noise stream). */
    public boolean stochastic(double eta) {
        return switch (this) {
            case EULER_ANCESTRAL, DDPM -> true;
            case DDIM -> eta > 0;
            default -> false;
        };
    }
}
