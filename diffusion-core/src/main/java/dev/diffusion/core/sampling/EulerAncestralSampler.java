package dev.diffusion.core.sampling;

/**
 * Euler ancestral (k-diffusion sample_euler_ancestral): an Euler step down to sigma_down, then fresh
 * noise of scale sigma_up, with sigma_up = eta * min(sigma_next, sqrt(sigma_next^2 (sigma^2 -
 * sigma_next^2) / sigma^2)) and sigma_down = sqrt(sigma_next^2 - sigma_up^2). No noise is drawn on a
 * step to sigma 0.
 */
public final class EulerAncestralSampler implements Sampler {
    private final double eta;
    private final double sNoise;

    public EulerAncestralSampler() {
        this(1.0, 1.0);
    }

    public EulerAncestralSampler(double eta, double sNoise) {
        this.eta = eta;
        this.sNoise = sNoise;
    }

    @Override
    public String name() {
        return "euler_ancestral";
    }

    /**
     * k-diffusion's get_ancestral_step: {sigma_down, sigma_up}, the deterministic target and the fresh noise's scale
     * of an ancestral step from {@code sigma} to {@code sigmaNext}, sigma_down^2 + sigma_up^2 = sigma_next^2.
     */
    static double[] ancestral(double sigma, double sigmaNext, double eta) {
        double sigmaUp = 0;
        if (sigmaNext > 0 && eta > 0) {
            sigmaUp = Math.min(sigmaNext,
                    eta * Math.sqrt(sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext) / (sigma * sigma)));
        }
        return new double[] {Math.sqrt(sigmaNext * sigmaNext - sigmaUp * sigmaUp), sigmaUp};
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double[] split = ancestral(sigma, sigmaNext, eta);
        double sigmaDown = split[0];
        double sigmaUp = split[1];
        double dt = sigmaDown - sigma;
        for (int i = 0; i < x.length; i++) {
            float d = (float) ((x[i] - denoised[i]) / sigma);
            x[i] = (float) (x[i] + d * dt);
        }
        if (sigmaNext > 0) {
            float[] noise = state.nextNoise();
            double scale = sNoise * sigmaUp;
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (x[i] + noise[i] * scale);
            }
        }
    }
}
