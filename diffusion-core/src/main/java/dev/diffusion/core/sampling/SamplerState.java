package dev.diffusion.core.sampling;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Objects;

/**
 * Everything one job carries between steps: the current latent (variance-exploding scale), the step
 * index, what multistep samplers remember (previous denoised and its sigma), and the job's own noise
 * streams, one per image of the batch (seed + i). Not thread-safe: one job, one state.
 * {@link #snapshot()} / {@link #restore} turn it into a plain value to store or move a job.
 */
public final class SamplerState {
    private final LatentShape shape;
    private final NoiseGenerator[] noise;
    private float[] x;
    private int stepIndex;
    private float[] previousDenoised;
    private double previousSigma = Double.NaN;
    /** Multistep samplers' earlier slopes (LMS, iPNDM), newest first, with their sigmas. */
    private final java.util.ArrayList<float[]> slopes = new java.util.ArrayList<>();
    private final java.util.ArrayList<Double> slopeSigmas = new java.util.ArrayList<>();
    /** A two-stage sampler's step between its evaluations: the second evaluation's sigma (NaN: none pending). */
    private double stageSigma = Double.NaN;
    private float[] keptLatent;
    private float[] repaint;
    private float[] stageStart;
    private float[] stageSlope;

    private SamplerState(LatentShape shape, NoiseGenerator[] noise) {
        this.shape = shape;
        this.noise = noise;
    }

    /** A state with fresh noise streams seeded seed, seed+1, ... per image; the latent not yet set. */
    public static SamplerState create(RngKind rng, long seed, LatentShape shape) {
        NoiseGenerator[] gens = new NoiseGenerator[shape.batch()];
        for (int b = 0; b < gens.length; b++) {
            gens[b] = NoiseGenerator.create(rng, seed + b);
        }
        return new SamplerState(shape, gens);
    }

    /**
     * Next draw of unit noise for the whole batch in the shape's layout: each image draws
     * channels*height*width values in NCHW order from its own stream.
     */
    public float[] nextNoise() {
        int per = shape.imageSize();
        float[] out = new float[shape.size()];
        for (int b = 0; b < noise.length; b++) {
            float[] one = noise[b].randn(per);
            if (shape.layout() == LatentShape.Layout.NHWC) {
                one = SeededNoise.nchwToNhwc(one, 1, shape.channels(), shape.height(), shape.width());
            }
            System.arraycopy(one, 0, out, b * per, per);
        }
        return out;
    }

    public LatentShape shape() {
        return shape;
    }

    /**
     * Inpainting (A1111's way for a model without inpainting channels): from now on every denoised estimate, and the
     * final latent, takes {@code initLatent} where {@code repaint} (one value per latent pixel, 0 or 1) is 0 (see
     * {@link SamplingLoop#advance}). A {@link #snapshot} does not carry it.
     */
    public void keepOutsideMask(float[] initLatent, float[] repaint) {
        if (shape.layout() != LatentShape.Layout.NHWC || initLatent.length != shape.size()
                || repaint.length * shape.channels() != shape.size()) {
            throw new IllegalArgumentException("inpainting: latent of " + initLatent.length + " and mask of " + repaint.length
                    + " values for shape " + shape);
        }
        this.keptLatent = initLatent;
        this.repaint = repaint;
    }

    /** In place: {@code latent}'s values where the mask keeps the init image's latent replaced by those. */
    void applyMask(float[] latent) {
        if (repaint == null) {
            return;
        }
        int c = shape.channels();
        for (int i = 0; i < latent.length; i++) {
            float m = repaint[i / c];
            latent[i] = keptLatent[i] * (1 - m) + latent[i] * m;
        }
    }

    /** The current latent (live array, updated in place by steps). */
    public float[] x() {
        return x;
    }

    public void setX(float[] latents) {
        if (latents.length != shape.size()) {
            throw new IllegalArgumentException("latents have " + latents.length + " floats, shape " + shape
                    + " needs " + shape.size());
        }
        this.x = latents;
    }

    public int stepIndex() {
        return stepIndex;
    }

    void advanceStep() {
        stepIndex++;
    }

    /** The denoised estimate of the previous step (multistep samplers), or null on the first step. */
    public float[] previousDenoised() {
        return previousDenoised;
    }

    public double previousSigma() {
        return previousSigma;
    }

    /** Kept by multistep samplers: a copy of this step's denoised estimate and its sigma. */
    public void rememberDenoised(float[] denoised, double sigma) {
        if (previousDenoised == null || previousDenoised.length != denoised.length) {
            previousDenoised = denoised.clone();
        } else {
            System.arraycopy(denoised, 0, previousDenoised, 0, denoised.length);
        }
        previousSigma = sigma;
    }

    /** How many earlier slopes are remembered. */
    public int slopeCount() {
        return slopes.size();
    }

    /** The {@code k}-th most recent earlier slope (0 = the previous step's). */
    public float[] slope(int k) {
        return slopes.get(k);
    }

    /** The sigma of {@link #slope(int)}. */
    public double slopeSigma(int k) {
        return slopeSigmas.get(k);
    }

    /** Kept by multistep samplers: this step's slope (not copied) and sigma, the newest of at most {@code keep}. */
    public void rememberSlope(float[] slope, double sigma, int keep) {
        slopes.add(0, slope);
        slopeSigmas.add(0, sigma);
        while (slopes.size() > keep) {
            slopes.remove(slopes.size() - 1);
            slopeSigmas.remove(slopeSigmas.size() - 1);
        }
    }

    /** Kept by a {@link TwoStageSampler} between its evaluations: the latent the step started from, a slope. */
    public void holdStage(float[] start, float[] slope) {
        stageStart = start;
        stageSlope = slope;
    }

    public float[] stageStart() {
        return stageStart;
    }

    public float[] stageSlope() {
        return stageSlope;
    }

    /** The sigma of the pending second evaluation of a two-stage step, or NaN when none is pending. */
    public double stageSigma() {
        return stageSigma;
    }

    void beginStage(double sigma) {
        stageSigma = sigma;
    }

    void endStage() {
        stageSigma = Double.NaN;
        stageStart = null;
        stageSlope = null;
    }

    /** A plain immutable copy: arrays copied, noise streams as (kind, seed, position) per image. */
    public Snapshot snapshot() {
        long[] seeds = new long[noise.length];
        long[] positions = new long[noise.length];
        for (int b = 0; b < noise.length; b++) {
            seeds[b] = noise[b].seed();
            positions[b] = noise[b].position();
        }
        return new Snapshot(shape, stepIndex, x == null ? null : x.clone(),
                previousDenoised == null ? null : previousDenoised.clone(), previousSigma, noise[0].kind(), seeds,
                positions);
    }

    public static SamplerState restore(Snapshot s) {
        NoiseGenerator[] gens = new NoiseGenerator[s.seeds().length];
        for (int b = 0; b < gens.length; b++) {
            gens[b] = NoiseGenerator.create(s.rng(), s.seeds()[b], s.rngPositions()[b]);
        }
        SamplerState state = new SamplerState(s.shape(), gens);
        state.stepIndex = s.stepIndex();
        state.x = s.x() == null ? null : s.x().clone();
        state.previousDenoised = s.previousDenoised() == null ? null : s.previousDenoised().clone();
        state.previousSigma = s.previousSigma();
        return state;
    }

    /**
     * A job's sampling state as a value: step index, latent, previous denoised (null before the second
     * step of a multistep sampler), the RNG kind, and per image its seed and stream position (Philox offset).
     */
    public record Snapshot(LatentShape shape, int stepIndex, float[] x, float[] previousDenoised,
            double previousSigma, RngKind rng, long[] seeds, long[] rngPositions) implements Serializable {

        public Snapshot {
            Objects.requireNonNull(shape);
            Objects.requireNonNull(rng);
            if (seeds.length != shape.batch() || rngPositions.length != seeds.length) {
                throw new IllegalArgumentException("need one seed and position per image");
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Snapshot s && shape.equals(s.shape) && stepIndex == s.stepIndex
                    && Arrays.equals(x, s.x) && Arrays.equals(previousDenoised, s.previousDenoised)
                    && Double.compare(previousSigma, s.previousSigma) == 0 && rng == s.rng
                    && Arrays.equals(seeds, s.seeds) && Arrays.equals(rngPositions, s.rngPositions);
        }

        @Override
        public int hashCode() {
            return Objects.hash(shape, stepIndex, Arrays.hashCode(x), rng, Arrays.hashCode(seeds),
                    Arrays.hashCode(rngPositions));
        }
    }
}
