package dev.diffusion.core.sampling;

import java.util.Locale;

/**
 * What the network predicts, and so how {@code denoised = c_skip * x + c_out * output} is formed
 * (Karras et al. 2022, "Elucidating the design space...", table 1, with sigma_data = 1; x in the
 * variance-exploding scale, network input x * c_in with c_in = 1/sqrt(sigma^2 + 1)).
 */
public enum PredictionType {
    /** The added noise: c_skip = 1, c_out = -sigma. SD 1.x. */
    EPSILON,
    /** v = alpha * eps - sigma_vp * x0 (Salimans and Ho 2022): c_skip = 1/(sigma^2+1), c_out = -sigma/sqrt(sigma^2+1). */
    V_PREDICTION;

    public static double cIn(double sigma) {
        return 1.0 / Math.sqrt(sigma * sigma + 1);
    }

    public double cSkip(double sigma) {
        return this == EPSILON ? 1.0 : 1.0 / (sigma * sigma + 1);
    }

    public double cOut(double sigma) {
        return this == EPSILON ? -sigma : -sigma / Math.sqrt(sigma * sigma + 1);
    }

    /** denoised = c_skip * x + c_out * modelOutput, into a new array. */
    public float[] denoised(float[] x, float[] modelOutput, double sigma) {
        if (x.length != modelOutput.length) {
            throw new IllegalArgumentException("model output has " + modelOutput.length + " floats, latents "
                    + x.length);
        }
        double skip = cSkip(sigma);
        double out = cOut(sigma);
        float[] d = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = (float) (skip * x[i] + out * modelOutput[i]);
        }
        return d;
    }

    /** "epsilon" or "v_prediction" ("v" accepted). */
    public static PredictionType parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "epsilon", "eps" -> EPSILON;
            case "v_prediction", "v" -> V_PREDICTION;
            default -> throw new IllegalArgumentException(
                    "unsupported prediction_type '" + name + "'; accepted: epsilon, v_prediction");
        };
    }

    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
