package dev.diffusion.core.sampling;

/**
 * DPM-Solver-2 in k-diffusion's form (sample_dpm_2 without churn): an Euler step with slope d = (x - D(x, sigma)) /
 * sigma to the log-midpoint sigma_mid = exp((log sigma + log sigma_next) / 2), the model evaluated there, and the
 * whole step taken with the midpoint's slope. The step to sigma 0 is a plain Euler step. As in A1111 and ComfyUI its
 * schedule drops the next-to-last sigma ({@link SigmaSchedule#forSampler}).
 */
public final class Dpm2Sampler implements TwoStageSampler {
    @Override
    public String name() {
        return "dpm_2";
    }

    @Override
    public double firstStage(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        if (sigmaNext == 0) {
            TwoStageSampler.eulerMove(x, denoised, sigma, sigmaNext);
            return Double.NaN;
        }
        double sigmaMid = Math.exp(0.5 * (Math.log(sigma) + Math.log(sigmaNext)));
        state.holdStage(x.clone(), null);
        TwoStageSampler.eulerMove(x, denoised, sigma, sigmaMid);
        return sigmaMid;
    }

    @Override
    public void secondStage(float[] x, float[] denoised, double sigma, double stageSigma, double sigmaNext,
                            SamplerState state) {
        float[] start = state.stageStart();
        double dt2 = sigmaNext - sigma;
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (start[i] + (x[i] - denoised[i]) / stageSigma * dt2);
        }
    }
}
