package dev.diffusion.core.sampling;

/**
 * DPM2 ancestral (k-diffusion sample_dpm_2_ancestral, eta 1; A1111's "DPM2 a"): the DPM2 step aimed at sigma_down
 * (midpoint exp((log sigma + log sigma_down) / 2)), then fresh noise of scale sigma_up from the job's stream, split
 * as in Euler a. The step to sigma 0 is a plain Euler step. Its schedule drops the next-to-last sigma, as DPM2's.
 */
public final class Dpm2AncestralSampler implements TwoStageSampler {
    @Override
    public String name() {
        return "dpm_2_ancestral";
    }

    @Override
    public double firstStage(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double sigmaDown = EulerAncestralSampler.ancestral(sigma, sigmaNext, 1.0)[0];
        if (sigmaDown == 0) {
            TwoStageSampler.eulerMove(x, denoised, sigma, sigmaDown);
            return Double.NaN;
        }
        double sigmaMid = Math.exp(0.5 * (Math.log(sigma) + Math.log(sigmaDown)));
        state.holdStage(x.clone(), null);
        TwoStageSampler.eulerMove(x, denoised, sigma, sigmaMid);
        return sigmaMid;
    }

    @Override
    public void secondStage(float[] x, float[] denoised, double sigma, double stageSigma, double sigmaNext,
                            SamplerState state) {
        double[] split = EulerAncestralSampler.ancestral(sigma, sigmaNext, 1.0);
        float[] start = state.stageStart();
        double dt2 = split[0] - sigma;
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (start[i] + (x[i] - denoised[i]) / stageSigma * dt2);
        }
        float[] noise = state.nextNoise();
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (x[i] + noise[i] * split[1]);
        }
    }
}
