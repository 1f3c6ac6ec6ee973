package dev.diffusion.core.sampling;

/**
 * DPM-Solver++(2S) ancestral (k-diffusion sample_dpmpp_2s_ancestral, eta 1; A1111's "DPM++ 2S a", sd.cpp's
 * dpm++2s_a): with t = -log sigma aimed at sigma_down (the ancestral split of Euler a), h = t_down - t, the model is
 * evaluated at the half step s = t + h/2 from x_2 = (sigma_s / sigma) x - expm1(-h/2) D, the step is
 * x = (sigma_down / sigma) x - expm1(-h) D(x_2), then fresh noise of scale sigma_up unless the step ends at 0. The
 * step to sigma 0 lands on D (one evaluation).
 */
public final class DpmPp2sAncestralSampler implements TwoStageSampler {
    @Override
    public String name() {
        return "dpmpp_2s_ancestral";
    }

    @Override
    public double firstStage(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double sigmaDown = EulerAncestralSampler.ancestral(sigma, sigmaNext, 1.0)[0];
        if (sigmaDown == 0) {
            System.arraycopy(denoised, 0, x, 0, x.length);
            return Double.NaN;
        }
        double h = Math.log(sigma) - Math.log(sigmaDown);
        double sigmaS = Math.exp(-(-Math.log(sigma) + 0.5 * h));
        double ratio = sigmaS / sigma;
        double coef = Math.expm1(-0.5 * h);
        float[] start = x.clone();
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (ratio * x[i] - coef * denoised[i]);
        }
        state.holdStage(start, null);
        return sigmaS;
    }

    @Override
    public void secondStage(float[] x, float[] denoised, double sigma, double stageSigma, double sigmaNext,
                            SamplerState state) {
        double[] split = EulerAncestralSampler.ancestral(sigma, sigmaNext, 1.0);
        double sigmaDown = split[0];
        double h = Math.log(sigma) - Math.log(sigmaDown);
        double ratio = sigmaDown / sigma;
        double coef = Math.expm1(-h);
        float[] start = state.stageStart();
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (ratio * start[i] - coef * denoised[i]);
        }
        if (sigmaNext > 0) {
            float[] noise = state.nextNoise();
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (x[i] + noise[i] * split[1]);
            }
        }
    }
}
