package dev.diffusion.core.sampling;

/**
 * A sampler that evaluates the model twice per step (k-diffusion's second-order samplers: Heun, DPM2): the step's
 * first evaluation at {@code sigma} gives a first-order move to an intermediate point, the second evaluation there
 * corrects the step. {@link SamplingLoop} drives the two evaluations as it drives one-evaluation steps: between them
 * the state's latent is the intermediate point and {@link SamplingLoop#sigma} its sigma; a step's progress is reported
 * once, when its second evaluation is done.
 */
public interface TwoStageSampler extends Sampler {

    /**
     * After the step's first evaluation ({@code denoised} at {@code sigma}): either finishes the step, moving
     * {@code x} to {@code sigmaNext} in place and returning NaN (the step to sigma 0 is first order), or moves
     * {@code x} to the intermediate point, keeps what the second stage needs in the state
     * ({@link SamplerState#holdStage}) and returns the intermediate point's sigma.
     */
    double firstStage(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state);

    /** Finishes the step from the second evaluation ({@code denoised} at {@code stageSigma}), {@code x} in place. */
    void secondStage(float[] x, float[] denoised, double sigma, double stageSigma, double sigmaNext, SamplerState state);

    /** An Euler move in place with the slope at {@code sigma}: x += (x - denoised) / sigma * (to - sigma). */
    static void eulerMove(float[] x, float[] denoised, double sigma, double to) {
        double dt = to - sigma;
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (x[i] + (x[i] - denoised[i]) / sigma * dt);
        }
    }

    /** Not called: the loop calls the two stages. */
    @Override
    default void step(float[] x, float[] denoised, double sigma, double sigmaNext, SamplerState state) {
        throw new UnsupportedOperationException(name() + " evaluates the model twice per step: SamplingLoop drives it");
    }
}
