package dev.diffusion.core.sampling;

/**
 * DDIM (Song et al. 2021, eq. 12) rewritten in the variance-exploding scale, with alpha_bar =
 * 1/(1 + sigma^2): x_next = D + s_down * eps + s_up * z, eps = (x - D)/sigma, where
 * s_up^2 = eta^2 (1 - a_next)/(1 - a) (1 - a/a_next) / a_next and s_down^2 = sigma_next^2 - s_up^2.
 * With eta = 0 this is exactly an Euler step; with eta = 1 its variance is the DDPM posterior's.
 */
public final class DdimSampler implements Sampler {
    private final double eta;

    public DdimSampler() {
        this(0.0);
    }

    public DdimSampler(double eta) {
        if (eta < 0) {
            throw new IllegalArgumentException("DDIM eta must be >= 0, got " + eta);
        }
        this.eta = eta;
    }

    public double eta() {
        return eta;
    }

    @Override
    public String name() {
        return "ddim";
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double a = 1 / (1 + sigma * sigma);
        double aNext = 1 / (1 + sigmaNext * sigmaNext);
        double sUp = 0;
        if (eta > 0 && sigmaNext > 0) {
            double variance = eta * eta * (1 - aNext) / (1 - a) * (1 - a / aNext);
            sUp = Math.min(sigmaNext, Math.sqrt(variance / aNext));
        }
        double sDown = Math.sqrt(sigmaNext * sigmaNext - sUp * sUp);
        for (int i = 0; i < x.length; i++) {
            double eps = (x[i] - denoised[i]) / sigma;
            x[i] = (float) (denoised[i] + sDown * eps);
        }
        if (sUp > 0) {
            float[] noise = state.nextNoise();
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (x[i] + sUp * noise[i]);
            }
        }
    }
}
