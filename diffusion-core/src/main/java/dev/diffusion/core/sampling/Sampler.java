package dev.diffusion.core.sampling;

/**
 * One sampler step, k-diffusion style: with the model's denoised estimate at {@code sigma}, move
 * {@code x} (variance-exploding scale) to {@code sigmaNext}, in place. Everything that persists between
 * steps (previous denoised, noise stream) is in the job's {@link SamplerState}; samplers are stateless
 * and shared.
 */
public interface Sampler {

    /** The canonical name (as {@link SamplerSpec#parse} gives it). */
    String name();

    void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state);

    /** The sampler of {@code kind} (stateless, shareable); {@code eta} matters only for DDIM. */
    static Sampler create(SamplerKind kind, double eta) {
        return switch (kind) {
            case EULER -> new EulerSampler();
            case EULER_ANCESTRAL -> new EulerAncestralSampler();
            case DPMPP_2M -> new DpmPp2mSampler();
            case DDIM -> new DdimSampler(eta);
            case DDPM -> new DdpmSampler();
            case LMS -> new LmsSampler();
            case HEUN -> new HeunSampler();
            case DPM2 -> new Dpm2Sampler();
            case LCM -> new LcmSampler();
            case IPNDM -> new IpndmSampler();
            case DPM2_ANCESTRAL -> new Dpm2Sampler(true);
            case DPMPP_2S_ANCESTRAL -> new DpmPp2sAncestralSampler();
        };
    }

    static Sampler create(SamplerKind kind) {
        return create(kind, 0.0);
    }
}
