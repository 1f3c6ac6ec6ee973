package dev.diffusion.core.pipeline;

/** What a generation reports while it runs. All methods are optional. */
public interface ProgressListener {
    ProgressListener NONE = new ProgressListener() {};

    /** Something the user should know but that does not stop the job (e.g. a truncated prompt). */
    default void onWarning(String message) {}

    /** A sampling step of image {@code image} finished. */
    default void onStep(int image, int step, int totalSteps, long stepMillis) {}

    /**
     * The tensors of one sampling step (NHWC), for previews and for comparing with other
     * implementations step by step. Costs nothing unless overridden.
     */
    default void onStepTrace(StepTrace trace) {}

    /**
     * @param x          the latent entering the step (unscaled)
     * @param epsUncond  the U-Net output for the negative prompt (null without guidance)
     * @param epsCond    the U-Net output for the prompt
     * @param denoised   x − σ·ε after guidance
     */
    record StepTrace(int image, int step, double sigma, double timestep, float[] x, float[] epsUncond, float[] epsCond,
                     float[] denoised) {}

    /** Image {@code image} is done (sampled, decoded, PNG-encoded), {@code millis} after its sampling began. */
    default void onImage(int image, long millis) {}

    /** A stage (encode, decode, ...) finished. */
    default void onStage(String stage, long millis) {}
}
