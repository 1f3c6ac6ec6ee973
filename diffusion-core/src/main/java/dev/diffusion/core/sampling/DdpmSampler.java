package dev.diffusion.core.sampling;

/**
 * DDPM ancestral sampling (Ho et al. 2020, eqs. 6-7), strided as diffusers' DDPMScheduler does:
 * with a = alpha_bar_t, a' = alpha_bar_prev, alpha = a/a', beta = 1 - alpha, the posterior
 * q(x_prev | x_t, x0) has mean sqrt(a') beta/(1-a) x0 + sqrt(alpha) (1-a')/(1-a) x_t and variance
 * (1-a')/(1-a) beta ("fixed_small"), x0 being the model's denoised estimate. Computed in the
 * variance-preserving scale and mapped back (x_vp = x / sqrt(sigma^2 + 1)).
 */
public final class DdpmSampler implements Sampler {
    @Override
    public String name() {
        return "ddpm";
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double a = 1 / (1 + sigma * sigma);
        double aPrev = 1 / (1 + sigmaNext * sigmaNext);
        double alpha = a / aPrev;
        double beta = 1 - alpha;
        double coefX0 = Math.sqrt(aPrev) * beta / (1 - a);
        double coefXt = Math.sqrt(alpha) * (1 - aPrev) / (1 - a) * Math.sqrt(a);
        double variance = (1 - aPrev) / (1 - a) * beta;
        double toVe = 1 / Math.sqrt(aPrev);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((coefX0 * denoised[i] + coefXt * x[i]) * toVe);
        }
        if (sigmaNext > 0 && variance > 0) {
            float[] noise = state.nextNoise();
            double scale = Math.sqrt(variance) * toVe;
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (x[i] + scale * noise[i]);
            }
        }
    }
}
