package dev.diffusion.core.sampling;

/** Called after each step with the new latent and the denoised estimate of that step (for previews). */
@FunctionalInterface
public interface StepCallback {
    /** {@code step} counts from 1 to {@code total}; the arrays belong to the loop and must not be kept. */
    void onStep(int step, int total, float[] x, float[] denoised);

    StepCallback NONE = (step, total, x, denoised) -> { };
}
