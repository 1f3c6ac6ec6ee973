package dev.diffusion.core.sampling;

/** The samplers diffusion-core implements ({@code Sampler.create}), by canonical (ComfyUI-style) name. */
public enum SamplerKind {
    EULER("euler"),
    EULER_ANCESTRAL("euler_ancestral"),
    DPMPP_2M("dpmpp_2m"),
    DDIM("ddim"),
    DDPM("ddpm"),
    LMS("lms"),
    HEUN("heun"),
    DPM2("dpm_2"),
    LCM("lcm"),
    IPNDM("ipndm"),
    DPM2_ANCESTRAL("dpm_2_ancestral"),
    DPMPP_2S_ANCESTRAL("dpmpp_2s_ancestral");

    private final String canonicalName;

    SamplerKind(String canonicalName) {
        this.canonicalName = canonicalName;
    }

    public String canonicalName() {
        return canonicalName;
    }

    /** Model evaluations of a step (the second-order ones: two, but one on the last step, to sigma 0). */
    public int evaluationsPerStep() {
        return switch (this) {
            case HEUN, DPM2, DPM2_ANCESTRAL, DPMPP_2S_ANCESTRAL -> 2;
            default -> 1;
        };
    }

    /** Whether the sampler draws fresh noise on each step (so results depend on the noise stream). */
    public boolean stochastic(double eta) {
        return switch (this) {
            case EULER_ANCESTRAL, DDPM, LCM, DPM2_ANCESTRAL, DPMPP_2S_ANCESTRAL -> true;
            case DDIM -> eta > 0;
            default -> false;
        };
    }
}
