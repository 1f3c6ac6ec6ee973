package dev.diffusion.core.sampling;

/**
 * The training noise levels of a model: alphas_cumprod (alpha_bar_t) for t = 0..T-1 and the
 * matching k-diffusion sigmas, sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t), with the conversions
 * between a (fractional) timestep and a sigma that k-diffusion samplers need. Immutable; one per model.
 */
public final class NoiseSchedule {
    private final double[] alphasCumprod;
    private final double[] sigmas;
    private final double[] logSigmas;

    /** How alphas_cumprod is accumulated; the two conventions differ by about 1e-6 relative at sigma_max. */
    public enum Precision {
        /**
         * float32 betas and a float32 running product, as diffusers (torch.cumprod on float32) and
         * stable-diffusion.cpp build it: SD's sigma_max is 14.61466, as the fixtures have it.
         */
        FLOAT32,
        /** float64 throughout, as CompVis/A1111 build it (then store as float32): sigma_max 14.61464. */
        FLOAT64
    }

    public NoiseSchedule(double[] betas) {
        this(betas, Precision.FLOAT32);
    }

    public NoiseSchedule(double[] betas, Precision precision) {
        int n = betas.length;
        alphasCumprod = new double[n];
        sigmas = new double[n];
        logSigmas = new double[n];
        double product = 1.0;
        float productF = 1.0f;
        for (int i = 0; i < n; i++) {
            if (precision == Precision.FLOAT32) {
                productF *= 1.0f - (float) betas[i];
                product = productF;
            } else {
                product *= 1.0 - betas[i];
            }
            alphasCumprod[i] = product;
            sigmas[i] = Math.sqrt((1 - product) / product);
            logSigmas[i] = Math.log(sigmas[i]);
        }
    }

    public static NoiseSchedule of(SchedulerConfig config) {
        return of(config, Precision.FLOAT32);
    }

    public static NoiseSchedule of(SchedulerConfig config, Precision precision) {
        return new NoiseSchedule(
                config.betaSchedule().betas(config.betaStart(), config.betaEnd(), config.numTrainTimesteps()),
                precision);
    }

    public static NoiseSchedule sd15() {
        return of(SchedulerConfig.sd15());
    }

    public int trainTimesteps() {
        return sigmas.length;
    }

    public double alphaCumprod(int t) {
        return alphasCumprod[t];
    }

    public double[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    public double sigma(int t) {
        return sigmas[t];
    }

    public double[] sigmas() {
        return sigmas.clone();
    }

    public double sigmaMin() {
        return sigmas[0];
    }

    public double sigmaMax() {
        return sigmas[sigmas.length - 1];
    }

    /** sigma at a fractional timestep, interpolating log sigma linearly between the integer ones (k-diffusion). */
    public double tToSigma(double t) {
        if (t <= 0) {
            return sigmas[0];
        }
        int last = sigmas.length - 1;
        if (t >= last) {
            return sigmas[last];
        }
        int low = (int) Math.floor(t);
        double w = t - low;
        return Math.exp((1 - w) * logSigmas[low] + w * logSigmas[low + 1]);
    }

    /**
     * The fractional timestep whose sigma is {@code sigma}: log-sigma interpolation between the two
     * neighbouring table entries, clamped to [0, T-1] (k-diffusion's DiscreteSchedule.sigma_to_t).
     */
    public double sigmaToT(double sigma) {
        double logSigma = Math.log(sigma);
        int last = logSigmas.length - 1;
        if (!(logSigma > logSigmas[0])) {
            return 0;
        }
        if (logSigma >= logSigmas[last]) {
            return last;
        }
        // logSigmas increases with t: find low with logSigmas[low] <= logSigma < logSigmas[low + 1].
        int lo = 0;
        int hi = last;
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (logSigmas[mid] <= logSigma) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double w = (logSigmas[lo] - logSigma) / (logSigmas[lo] - logSigmas[lo + 1]);
        w = Math.max(0, Math.min(1, w));
        return lo + w;
    }
}
