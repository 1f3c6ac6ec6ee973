package dev.diffusion.core.vae;

/**
 * The encoder's diagonal Gaussian over latents, unscaled (the VAE's own latent space): mean and
 * logvar, each NHWC [batch, height, width, channels], logvar already clamped to [-30, 20].
 */
public record Moments(float[] mean, float[] logvar, int batch, int height, int width, int channels) {

    public Moments {
        int n = batch * height * width * channels;
        if (mean.length != n || logvar.length != n) {
            throw new IllegalArgumentException("moments of shape [" + batch + ", " + height + ", " + width + ", " + channels
                    + "] need " + n + " values each, got " + mean.length + " and " + logvar.length);
        }
    }

    /**
     * A draw in the U-Net's latent space: {@code scalingFactor·(mean + exp(logvar/2)·noise − shiftFactor)}
     * (diffusers' {@code DiagonalGaussianDistribution.sample}, then the pipelines' scaling).
     *
     * @param noise standard normal values, NHWC like {@link #mean}
     */
    public float[] sample(float[] noise, double scalingFactor, double shiftFactor) {
        if (noise.length != mean.length) {
            throw new IllegalArgumentException("noise has " + noise.length + " values, the latents " + mean.length);
        }
        float[] z = new float[mean.length];
        for (int i = 0; i < z.length; i++) {
            double std = Math.exp(0.5 * logvar[i]);
            z[i] = (float) (scalingFactor * (mean[i] + std * noise[i] - shiftFactor));
        }
        return z;
    }

    /** The distribution's mode (its mean) in the U-Net's latent space: {@code scalingFactor·(mean − shiftFactor)}. */
    public float[] mode(double scalingFactor, double shiftFactor) {
        float[] z = new float[mean.length];
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) (scalingFactor * (mean[i] - shiftFactor));
        }
        return z;
    }
}
