package dev.diffusion.core.sampling;

/**
 * DPM-Solver-2 in k-diffusion's form (sample_dpm_2 without churn): an Euler step with slope d = (x - D(x, sigma)) /
 * sigma to the log-midpoint sigma_mid = exp((log sigma + log sigma_target) / 2), the model evaluated there, and the
 * whole step to sigma_target taken with the midpoint's slope. Plain DPM2 aims at sigma_next; the ancestral one
 * (sample_dpm_2_ancestral, eta 1, A1111's "DPM2 a") at sigma_down of Euler a's split and then adds fresh noise of
 * scale sigma_up from the job's stream. A step to sigma 0 is a plain Euler step. As in A1111 and ComfyUI their
 * schedule drops the next-to-last sigma ({@link SigmaSchedule#forSampler}).
 */
public final class Dpm2Sampler implements TwoStageSampler {
    private final boolean ancestral;

    public Dpm2Sampler() {
        this(false);
    }

    public Dpm2Sampler(boolean ancestral) {
        this.ancestral = ancestral;
    }

    @Override
    public String name() {
        return ancestral ? "dpm_2_ancestral" : "dpm_2";
    }

    /** {sigma_target, sigma_up}. */
    private double[] target(double sigma, double sigmaNext) {
        return ancestral ? EulerAncestralSampler.ancestral(sigma, sigmaNext, 1.0) : new double[] {sigmaNext, 0};
    }

    @Override
    public double firstStage(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double to = target(sigma, sigmaNext)[0];
        if (to == 0) {
            TwoStageSampler.eulerMove(x, denoised, sigma, to);
            return Double.NaN;
        }
        double sigmaMid = Math.exp(0.5 * (Math.log(sigma) + Math.log(to)));
        state.holdStage(x.clone(), null);
        TwoStageSampler.eulerMove(x, denoised, sigma, sigmaMid);
        return sigmaMid;
    }

    @Override
    public void secondStage(float[] x, float[] denoised, double sigma, double stageSigma, double sigmaNext,
                            SamplerState state) {
        double[] target = target(sigma, sigmaNext);
        float[] start = state.stageStart();
        double dt = target[0] - sigma;
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (start[i] + (x[i] - denoised[i]) / stageSigma * dt);
        }
        if (ancestral) {
            float[] noise = state.nextNoise();
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (x[i] + noise[i] * target[1]);
            }
        }
    }
}
