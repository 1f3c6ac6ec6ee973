package dev.diffusion.core.sampling;

/**
 * Improved PNDM (Zhang and Chen 2022, "DEIS", iPNDM; as in ComfyUI and stable-diffusion.cpp): an Adams-Bashforth
 * step on the slopes d = (x - D) / sigma of up to the last four steps, with the fixed coefficients of equal steps,
 * lower orders while the history fills: 1; (3, -1)/2; (23, -16, 5)/12; (55, -59, 37, -9)/24.
 */
public final class IpndmSampler implements Sampler {
    static final int MAX_ORDER = 4;

    @Override
    public String name() {
        return "ipndm";
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        double dt = sigmaNext - sigma;
        int order = Math.min(MAX_ORDER, state.slopeCount() + 1);
        float[] d = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = (float) ((x[i] - denoised[i]) / sigma);
        }
        float[] h1 = order > 1 ? state.slope(0) : null;
        float[] h2 = order > 2 ? state.slope(1) : null;
        float[] h3 = order > 3 ? state.slope(2) : null;
        for (int i = 0; i < x.length; i++) {
            double slope = switch (order) {
                case 1 -> d[i];
                case 2 -> (3.0 * d[i] - h1[i]) / 2;
                case 3 -> (23.0 * d[i] - 16.0 * h1[i] + 5.0 * h2[i]) / 12;
                default -> (55.0 * d[i] - 59.0 * h1[i] + 37.0 * h2[i] - 9.0 * h3[i]) / 24;
            };
            x[i] = (float) (x[i] + slope * dt);
        }
        state.rememberSlope(d, sigma, MAX_ORDER - 1);
    }
}
