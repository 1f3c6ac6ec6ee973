package dev.diffusion.core.sampling;

/**
 * The denoising loop, written once for the in-process pipeline and the orchestrator: per step, the U-Net on the
 * [uncond, cond] pair of the current latents (one batched call; two calls when the two contexts differ in length), classifier-free guidance, the sampler step, then
 * the observer (progress, previews, traces); before each step the observer may stop it (cancel). The U-Net is a
 * {@link BatchPredictor}: TensorFlow in this process, or the U-Net service over gRPC. The sampler state is the
 * caller's, one per job.
 */
public final class GuidedSampling {
    /**
     * The U-Net over a batch: latents in {@code shape} (the layout of the sampler state), one timestep per sample,
     * the context [batch, L, D] flattened; returns the model output (ε or v), same size as the latents.
     */
    @FunctionalInterface
    public interface BatchPredictor {
        float[] predict(float[] latents, LatentShape shape, float[] timesteps, float[] context);
    }

    /** Sees each step; may stop the loop before a step. */
    public interface Observer {
        Observer NONE = new Observer() {};

        /** Asked before each step: false stops sampling ({@link #run} returns null). */
        default boolean proceed(SamplerState state) {
            return true;
        }

        default void onStep(Step step) {}
    }

    /**
     * One finished step (the arrays belong to the observer).
     *
     * @param number   1 to total
     * @param x        the latent entering the step (unscaled)
     * @param uncond   the U-Net output for the negative prompt (null without guidance)
     * @param cond     the U-Net output for the prompt
     * @param denoised the denoised estimate after guidance
     */
    public record Step(int number, int total, double sigma, double timestep, float[] x, float[] uncond, float[] cond,
                       float[] denoised, long nanos) {}

    private final SamplingLoop loop;
    private final BatchPredictor unet;
    private final float[] uncondContext;
    private final float[] condContext;
    private final double cfgScale;

    /**
     * @param context  [2, L, D] flattened: the negative prompt's embedding, then the prompt's
     * @param cfgScale guidance scale; 1 runs the conditional prediction alone (half the U-Net work)
     */
    public GuidedSampling(SamplingLoop loop, BatchPredictor unet, float[] context, double cfgScale) {
        this(loop, unet, java.util.Arrays.copyOfRange(context, 0, half(context)),
                java.util.Arrays.copyOfRange(context, half(context), context.length), cfgScale);
    }

    /**
     * The negative prompt's and the prompt's embeddings, [L, D] each, possibly of different lengths (prompts longer
     * than 75 tokens are several 77-token chunks): of equal length they share one U-Net call of batch 2; of
     * different lengths each runs at its own length, as A1111 does by default and sd.cpp always does.
     */
    public GuidedSampling(SamplingLoop loop, BatchPredictor unet, float[] uncondContext, float[] condContext, double cfgScale) {
        this.loop = loop;
        this.unet = unet;
        this.uncondContext = uncondContext;
        this.condContext = condContext;
        this.cfgScale = cfgScale;
    }

    /**
     * A1111's {@code pad_cond_uncond} ({@code CFGDenoiser.pad_cond_uncond}): when the negative prompt's and the
     * prompt's hidden states differ in length, the shorter gets copies of {@code emptyChunk} (the hidden states of the
     * empty prompt, one 77-token chunk) appended until both are as long, so the pair shares one U-Net call. Equal
     * lengths are returned as they are.
     *
     * @return {uncond, cond}, of one length
     */
    public static float[][] padCondUncond(float[] uncond, float[] cond, float[] emptyChunk) {
        int diff = cond.length - uncond.length;
        if (diff % emptyChunk.length != 0) {
            throw new IllegalArgumentException("the contexts differ by " + diff + " floats, not a whole number of chunks of "
                    + emptyChunk.length);
        }
        return diff > 0 ? new float[][] {append(uncond, emptyChunk, diff / emptyChunk.length), cond}
                : new float[][] {uncond, append(cond, emptyChunk, -diff / emptyChunk.length)};
    }

    private static float[] append(float[] context, float[] chunk, int copies) {
        float[] out = java.util.Arrays.copyOf(context, context.length + copies * chunk.length);
        for (int i = 0; i < copies; i++) {
            System.arraycopy(chunk, 0, out, context.length + i * chunk.length, chunk.length);
        }
        return out;
    }

    private static int half(float[] context) {
        if (context.length % 2 != 0) {
            throw new IllegalArgumentException("context must hold the [uncond, cond] pair, got " + context.length + " floats");
        }
        return context.length / 2;
    }

    public SamplingLoop loop() {
        return loop;
    }

    /** Runs the state's remaining steps; the final latent ({@link SamplingLoop#output}), or null when stopped. */
    public float[] run(SamplerState state, Observer observer) {
        LatentShape shape = state.shape();
        int batch = shape.batch();
        int n = shape.size();
        boolean guided = cfgScale != 1.0;
        boolean paired = guided && uncondContext.length == condContext.length;
        // the batch's context: the negative prompt for each sample, then the prompt for each (or each alone)
        float[] batchContext = paired ? repeat(batch, uncondContext, condContext) : repeat(batch, condContext);
        float[] uncondBatchContext = guided && !paired ? repeat(batch, uncondContext) : null;
        LatentShape pairShape = new LatentShape(2 * batch, shape.channels(), shape.height(), shape.width(), shape.layout());
        int total = loop.schedule().steps();
        // a two-stage sampler's step is two evaluations: the step reported is its first one's, timed over both
        double stepSigma = 0;
        float stepT = 0;
        float[] stepX = null;
        long stepNanos = 0;
        while (!loop.done(state)) {
            if (!observer.proceed(state)) {
                return null;
            }
            long s0 = System.nanoTime();
            double sigma = loop.sigma(state);
            boolean firstOfStep = Double.isNaN(state.stageSigma());
            float[] xIn = firstOfStep ? state.x().clone() : null;
            float[] in = loop.modelInput(state);
            float t = (float) loop.timestep(state);
            float[] uncond = null;
            float[] cond;
            float[] out;
            if (guided && !paired) {
                uncond = unet.predict(in, shape, filled(batch, t), uncondBatchContext);
                cond = unet.predict(in, shape, filled(batch, t), batchContext);
                out = Guidance.combine(uncond, cond, cfgScale);
            } else if (guided) {
                float[] pair = new float[2 * n];
                System.arraycopy(in, 0, pair, 0, n);
                System.arraycopy(in, 0, pair, n, n);
                float[] both = unet.predict(pair, pairShape, filled(2 * batch, t), batchContext);
                uncond = java.util.Arrays.copyOfRange(both, 0, n);
                cond = java.util.Arrays.copyOfRange(both, n, 2 * n);
                out = Guidance.combine(uncond, cond, cfgScale);
            } else {
                cond = unet.predict(in, shape, filled(batch, t), batchContext);
                out = cond;
            }
            int before = state.stepIndex();
            float[] denoised = loop.advance(state, out);
            if (firstOfStep) {
                stepSigma = sigma;
                stepT = t;
                stepX = xIn;
                stepNanos = 0;
            }
            stepNanos += System.nanoTime() - s0;
            if (state.stepIndex() > before) {
                observer.onStep(new Step(state.stepIndex(), total, stepSigma, stepT, stepX, uncond, cond, denoised, stepNanos));
            }
        }
        if (!observer.proceed(state)) {
            return null;
        }
        return loop.output(state);
    }

    /** Each context repeated {@code batch} times, one after the other: [c0 × batch, c1 × batch, ...]. */
    private static float[] repeat(int batch, float[]... contexts) {
        int total = 0;
        for (float[] c : contexts) {
            total += c.length;
        }
        float[] out = new float[batch * total];
        int at = 0;
        for (float[] c : contexts) {
            for (int b = 0; b < batch; b++) {
                System.arraycopy(c, 0, out, at, c.length);
                at += c.length;
            }
        }
        return out;
    }

    private static float[] filled(int count, float t) {
        float[] ts = new float[count];
        java.util.Arrays.fill(ts, t);
        return ts;
    }
}
