package dev.diffusion.core.sampling;

/**
 * A network run on the [uncond, cond] pair for the same latents (typically one U-Net call with a
 * doubled batch): returns both predictions.
 */
@FunctionalInterface
public interface PairNoisePredictor {

    Pair predict(float[] scaledLatents, double timestep);

    /** Unconditional (negative prompt) and conditional (prompt) predictions. */
    record Pair(float[] uncond, float[] cond) {
    }
}
