package dev.diffusion.core.pipeline;

/** What a generation reports while it runs. All methods are optional. */
public interface ProgressListener {
    ProgressListener NONE = new ProgressListener() {};

    /** Something the user should know but that does not stop the job (e.g. a truncated prompt). */
    default void onWarning(String message) {}

    /** A sampling step of image {@code image} finished. */
    default void onStep(int image, int step, int totalSteps, long stepMillis) {}

    /** A stage (encode, decode, ...) finished. */
    default void onStage(String stage, long millis) {}
}
