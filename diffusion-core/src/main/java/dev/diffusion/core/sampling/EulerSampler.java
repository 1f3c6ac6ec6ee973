package dev.diffusion.core.sampling;

/** Euler's method on the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022, alg. 1). */
public final class EulerSampler implements Sampler {
    @Override
    public String name() {
        return "euler";
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double dt = sigmaNext - sigma;
        for (int i = 0; i < x.length; i++) {
            float d = (float) ((x[i] - denoised[i]) / sigma);
            x[i] = (float) (x[i] + d * dt);
        }
    }
}
