package dev.diffusion.core.sampling;

import java.util.Locale;

/** How the training noise levels beta_t are laid out over the T training timesteps. */
public enum BetaSchedule {
    /** beta_t evenly spaced from beta_start to beta_end (DDPM, Ho et al. 2020). */
    LINEAR,
    /** sqrt(beta_t) evenly spaced, squared: Stable Diffusion's schedule (0.00085 -> 0.012). */
    SCALED_LINEAR,
    /**
     * Cosine schedule of Improved DDPM (Nichol and Dhariwal 2021, eq. 17): alpha_bar(t) =
     * cos^2(((t/T) + 0.008) / 1.008 * pi/2), beta_t = 1 - alpha_bar(t+1)/alpha_bar(t), capped at 0.999.
     */
    SQUAREDCOS_CAP_V2;

    static final double COSINE_MAX_BETA = 0.999;

    /** The T betas; beta_start/beta_end are ignored by the cosine schedule. */
    public double[] betas(double betaStart, double betaEnd, int trainTimesteps) {
        if (trainTimesteps < 2) {
            throw new IllegalArgumentException("num_train_timesteps must be >= 2, got " + trainTimesteps);
        }
        double[] betas = new double[trainTimesteps];
        int last = trainTimesteps - 1;
        switch (this) {
            case LINEAR -> {
                for (int i = 0; i < trainTimesteps; i++) {
                    betas[i] = betaStart + (betaEnd - betaStart) * i / last;
                }
            }
            case SCALED_LINEAR -> {
                double a = Math.sqrt(betaStart);
                double b = Math.sqrt(betaEnd);
                for (int i = 0; i < trainTimesteps; i++) {
                    double s = a + (b - a) * i / last;
                    betas[i] = s * s;
                }
            }
            case SQUAREDCOS_CAP_V2 -> {
                for (int i = 0; i < trainTimesteps; i++) {
                    double t1 = (double) i / trainTimesteps;
                    double t2 = (double) (i + 1) / trainTimesteps;
                    betas[i] = Math.min(1 - cosineAlphaBar(t2) / cosineAlphaBar(t1), COSINE_MAX_BETA);
                }
            }
        }
        return betas;
    }

    private static double cosineAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** The diffusers name ("linear", "scaled_linear", "squaredcos_cap_v2"; "cosine" accepted). */
    public static BetaSchedule parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "linear" -> LINEAR;
            case "scaled_linear" -> SCALED_LINEAR;
            case "squaredcos_cap_v2", "cosine" -> SQUAREDCOS_CAP_V2;
            default -> throw new IllegalArgumentException(
                    "unknown beta_schedule '" + name + "'; accepted: linear, scaled_linear, squaredcos_cap_v2 (cosine)");
        };
    }

    /** The diffusers spelling. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
