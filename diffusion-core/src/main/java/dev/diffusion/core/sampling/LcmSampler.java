package dev.diffusion.core.sampling;

/**
 * The LCM sampler (Luo et al. 2023, "Latent Consistency Models"; k-diffusion-style sample_lcm as in A1111, ComfyUI
 * and stable-diffusion.cpp): each step jumps to the model's denoised estimate and, unless it is the last, adds fresh
 * noise of sigma_next from the job's noise stream. Meant for LCM-distilled weights (an LCM LoRA), few steps, low CFG.
 */
public final class LcmSampler implements Sampler {
    @Override
    public String name() {
        return "lcm";
    }

    @Override
    public void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        System.arraycopy(denoised, 0, x, 0, x.length);
        if (sigmaNext > 0) {
            float[] noise = state.nextNoise();
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (x[i] + noise[i] * sigmaNext);
            }
        }
    }
}
