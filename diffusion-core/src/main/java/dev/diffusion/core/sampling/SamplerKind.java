package dev.diffusion.core.sampling;

/** The samplers this package implements, by canonical (ComfyUI-style) name. */
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

    /** A sampler instance (stateless, shareable); {@code eta} matters only for DDIM. */
    public Sampler create(double eta) {
        return switch (this) {
            case EULER -> new EulerSampler();
            case EULER_ANCESTRAL -> new EulerAncestralSampler();
            case DPMPP_2M -> new DpmPp2mSampler();
            case DDIM -> new DdimSampler(eta);
            case DDPM -> new DdpmSampler();
        };
    }

    public Sampler create() {
        return create(0.0);
    }
}
