package dev.diffusion.core.sampling;

/**
 * Heun's method (Karras et al. 2022, alg. 1; k-diffusion sample_heun without churn): an Euler step to sigma_next with
 * the slope d = (x - D(x, sigma)) / sigma, the model evaluated again there, and the step redone with the mean of both
 * slopes. The step to sigma 0 stays a plain Euler step (one evaluation). 2 × steps - 1 model evaluations in all.
 */
public final class HeunSampler implements TwoStageSampler {
    @Override
    public String name() {
        return "heun";
    }

    @Override
    public double firstStage(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        if (sigmaNext == 0) {
            TwoStageSampler.eulerMove(x, denoised, sigma, sigmaNext);
            return Double.NaN;
        }
        double dt = sigmaNext - sigma;
        float[] start = x.clone();
        float[] d = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = (float) ((x[i] - denoised[i]) / sigma);
            x[i] = (float) (x[i] + d[i] * dt);
        }
        state.holdStage(start, d);
        return sigmaNext;
    }

    @Override
    public void secondStage(float[] x, float[] denoised, double sigma, double stageSigma, double sigmaNext,
                            SamplerState state) {
        float[] start = state.stageStart();
        float[] d = state.stageSlope();
        double dt = sigmaNext - sigma;
        for (int i = 0; i < x.length; i++) {
            float d2 = (float) ((x[i] - denoised[i]) / stageSigma);
            x[i] = (float) (start[i] + (d[i] + d2) / 2 * dt);
        }
    }
}
