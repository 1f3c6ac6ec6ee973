package dev.diffusion.core.sampling;

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", alg. 2) in k-diffusion's sample_dpmpp_2m form,
 * with lambda = -log sigma, h = lambda_next - lambda:
 * x_next = (sigma_next/sigma) x - expm1(-h) D', where D' = D on the first step and the step to sigma 0,
 * else D' = (1 + 1/(2r)) D - 1/(2r) D_prev with r = h_prev / h. D_prev and sigma_prev live in the state.
 */
public final class DpmPp2mSampler implements Sampler {
    @Override
    public String name() {
        return "dpmpp_2m";
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        float[] old = state.previousDenoised();
        if (sigmaNext == 0) {
            // lambda_next is infinite: the first-order update lands exactly on the denoised estimate.
            System.arraycopy(denoised, 0, x, 0, x.length);
        } else {
            double t = -Math.log(sigma);
            double tNext = -Math.log(sigmaNext);
            double h = tNext - t;
            double ratio = sigmaNext / sigma;
            double coef = -Math.expm1(-h);
            if (old == null) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) (ratio * x[i] + coef * denoised[i]);
                }
            } else {
                double hLast = t + Math.log(state.previousSigma());
                double r = hLast / h;
                double a = 1 + 1 / (2 * r);
                double b = 1 / (2 * r);
                for (int i = 0; i < x.length; i++) {
                    double dd = a * denoised[i] - b * old[i];
                    x[i] = (float) (ratio * x[i] + coef * dd);
                }
            }
        }
        state.rememberDenoised(denoised, sigma);
    }
}
