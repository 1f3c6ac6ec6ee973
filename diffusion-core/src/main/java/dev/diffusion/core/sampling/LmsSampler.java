package dev.diffusion.core.sampling;

/**
 * Linear multistep (k-diffusion sample_lms, order 4; A1111's "LMS", ComfyUI's "lms", diffusers'
 * LMSDiscreteScheduler): x_next = x + sum_j c_j d_{i-j} over the slopes d = (x - D) / sigma of this step and up to three
 * before it, where c_j integrates over [sigma_i, sigma_next] the Lagrange basis polynomial that is 1 at sigma_{i-j} and
 * 0 at the other history sigmas. The polynomial has degree at most 3, so Gauss-Legendre quadrature with 4 nodes gives
 * the integral exactly (k-diffusion integrates it numerically to a relative 1e-4).
 */
public final class LmsSampler implements Sampler {
    static final int MAX_ORDER = 4;
    private static final double[] NODES = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
    private static final double[] WEIGHTS = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};

    @Override
    public String name() {
        return "lms";
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        int order = Math.min(MAX_ORDER, state.slopeCount() + 1);
        double[] sigmas = new double[order]; // sigma_i, sigma_{i-1}, ...
        float[][] slopes = new float[order][];
        float[] d = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = (float) ((x[i] - denoised[i]) / sigma);
        }
        sigmas[0] = sigma;
        slopes[0] = d;
        for (int j = 1; j < order; j++) {
            sigmas[j] = state.slopeSigma(j - 1);
            slopes[j] = state.slope(j - 1);
        }
        double[] c = new double[order];
        for (int j = 0; j < order; j++) {
            c[j] = coefficient(sigmas, j, sigma, sigmaNext);
        }
        for (int i = 0; i < x.length; i++) {
            double sum = 0;
            for (int j = 0; j < order; j++) {
                sum += c[j] * slopes[j][i];
            }
            x[i] = (float) (x[i] + sum);
        }
        state.rememberSlope(d, sigma, MAX_ORDER - 1);
    }

    /** The integral over [from, to] of the Lagrange basis polynomial of node {@code j} among {@code nodes}. */
    static double coefficient(double[] nodes, int j, double from, double to) {
        double half = (to - from) / 2;
        double mid = (to + from) / 2;
        double sum = 0;
        for (int q = 0; q < NODES.length; q++) {
            double tau = mid + half * NODES[q];
            double prod = 1;
            for (int k = 0; k < nodes.length; k++) {
                if (k != j) {
                    prod *= (tau - nodes[k]) / (nodes[j] - nodes[k]);
                }
            }
            sum += WEIGHTS[q] * prod;
        }
        return sum * half;
    }
}
