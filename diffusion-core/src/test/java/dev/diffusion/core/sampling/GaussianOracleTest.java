package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Samplers on data distributed N(mu, s^2), where the ideal denoiser is known in closed form:
 * D(x, sigma) = (s^2 x + sigma^2 mu) / (s^2 + sigma^2) (the posterior mean of x0 given x = x0 + sigma eps).
 * Starting from the exact noisy marginal N(mu, s^2 + sigma_max^2), the probability-flow ODE maps
 * x to mu + (x - mu) s / sqrt(s^2 + sigma_max^2) exactly, which pins each deterministic sampler sample
 * by sample; stochastic samplers must give mean mu and variance s^2 over many samples.
 */
class GaussianOracleTest {
    private static final double MU = 0.8;
    private static final double S = 0.5;
    private static final int SAMPLES = 20_000;
    private static final NoiseSchedule SD = NoiseSchedule.sd15();

    /** The sampler's output and, per sample, where the exact ODE flow takes the same start. */
    record Result(float[] out, double[] exactFlow) {
        double maxFlowError() {
            double m = 0;
            for (int i = 0; i < out.length; i++) {
                m = Math.max(m, Math.abs(out[i] - exactFlow[i]));
            }
            return m;
        }

        double mean() {
            double sum = 0;
            for (float v : out) {
                sum += v;
            }
            return sum / out.length;
        }

        double variance() {
            double m = mean();
            double sum = 0;
            for (float v : out) {
                sum += (v - m) * (v - m);
            }
            return sum / (out.length - 1);
        }
    }

    static Result run(Sampler sampler, SigmaSchedule schedule, PredictionType type, long seed) {
        SamplingLoop loop = new SamplingLoop(sampler, schedule, type, SD);
        SamplerState state = SamplerState.create(RngKind.PHILOX, seed, LatentShape.nchw(1, 1, 1, SAMPLES));
        double sigmaMax = schedule.sigma(0);
        double startStd = Math.sqrt(S * S + sigmaMax * sigmaMax);
        float[] z = state.nextNoise();
        float[] x = new float[SAMPLES];
        double[] exact = new double[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            x[i] = (float) (MU + startStd * z[i]);
            exact[i] = MU + (x[i] - MU) * S / startStd;
        }
        state.setX(x);
        Loops.Eps oracle = (scaled, t) -> {
            double sigma = loop.sigma(state);
            double cIn = PredictionType.cIn(sigma);
            float[] out = new float[scaled.length];
            for (int i = 0; i < scaled.length; i++) {
                double xi = scaled[i] / cIn;
                double d = (S * S * xi + sigma * sigma * MU) / (S * S + sigma * sigma);
                double eps = (xi - d) / sigma;
                // v = alpha eps - sigma_vp x0 with alpha = c_in, sigma_vp = sigma c_in.
                out[i] = (float) (type == PredictionType.EPSILON ? eps : cIn * eps - sigma * cIn * d);
            }
            return out;
        };
        return new Result(Loops.run(loop, oracle, state), exact);
    }

    @Test
    void eulerFollowsTheExactFlowWithFirstOrderError() {
        double e25 = run(new EulerSampler(), SigmaSchedule.karras(SD, 25), PredictionType.EPSILON, 1).maxFlowError();
        double e100 = run(new EulerSampler(), SigmaSchedule.karras(SD, 100), PredictionType.EPSILON, 1).maxFlowError();
        // Measured: 0.138 and 0.037 (the largest of 20k samples spread over about +-2).
        assertTrue(e100 < 0.05, "euler 100 steps: " + e100);
        assertTrue(e100 < e25 / 3, "first order: " + e25 + " -> " + e100);
    }

    @Test
    void dpmpp2mFollowsTheExactFlowWithSecondOrderError() {
        double e10 = run(new DpmPp2mSampler(), SigmaSchedule.karras(SD, 10), PredictionType.EPSILON, 2).maxFlowError();
        double e40 = run(new DpmPp2mSampler(), SigmaSchedule.karras(SD, 40), PredictionType.EPSILON, 2).maxFlowError();
        double euler40 = run(new EulerSampler(), SigmaSchedule.karras(SD, 40), PredictionType.EPSILON, 2).maxFlowError();
        // Measured: 0.110, 0.0035; Euler 0.093.
        assertTrue(e40 < 5e-3, "dpmpp_2m 40 steps: " + e40);
        assertTrue(e40 < e10 / 8, "second order: " + e10 + " -> " + e40);
        assertTrue(e40 < euler40 / 5, "beats Euler: " + e40 + " vs " + euler40);
    }

    @Test
    void heunAndDpm2FollowTheExactFlowWithSecondOrderError() {
        // compared with Euler at as many model evaluations (2 x 40 - 1 ~ 80 steps)
        assertHigherOrder(new HeunSampler(), 80, 5);
        assertHigherOrder(new Dpm2Sampler(), 80, 5);
    }

    @Test
    void lmsAndIpndmFollowTheExactFlowWithHigherOrderError() {
        assertHigherOrder(new LmsSampler(), 40, 6);
        assertHigherOrder(new IpndmSampler(), 40, 6);
    }

    /** 40 steps land within 5e-3 of the flow, 8 x closer than 10 steps and 5 x closer than Euler with eulerSteps. */
    private static void assertHigherOrder(Sampler sampler, int eulerSteps, long seed) {
        double e10 = run(sampler, SigmaSchedule.karras(SD, 10), PredictionType.EPSILON, seed).maxFlowError();
        double e40 = run(sampler, SigmaSchedule.karras(SD, 40), PredictionType.EPSILON, seed).maxFlowError();
        double euler = run(new EulerSampler(), SigmaSchedule.karras(SD, eulerSteps), PredictionType.EPSILON, seed).maxFlowError();
        assertTrue(e40 < 5e-3, sampler.name() + " 40 steps: " + e40);
        assertTrue(e40 < e10 / 8, sampler.name() + " converges faster than first order: " + e10 + " -> " + e40);
        assertTrue(e40 < euler / 5, sampler.name() + " beats Euler: " + e40 + " vs " + euler);
    }

    @Test
    void ddimWithEtaZeroFollowsTheFlowOnItsOwnSchedule() {
        // DDPM-style spacing ending at sigma 0 (set_alpha_to_one), as diffusers runs DDIM.
        SigmaSchedule schedule = SigmaSchedule.spaced(SD, 100, TimestepSpacing.TRAILING, 0, 0.0);
        double e = run(new DdimSampler(0), schedule, PredictionType.EPSILON, 3).maxFlowError();
        // Measured 0.081: dominated by the last jump, sigma(t=9) -> 0, which lands on D exactly while the
        // flow would shrink x - mu by s/sqrt(s^2 + sigma^2) rather than s^2/(s^2 + sigma^2).
        assertTrue(e < 0.1, "ddim 100 steps: " + e);
        double e400 = run(new DdimSampler(0), SigmaSchedule.spaced(SD, 400, TimestepSpacing.TRAILING, 0, 0.0),
                PredictionType.EPSILON, 3).maxFlowError();
        assertTrue(e400 < e / 3, "converges: " + e + " -> " + e400);
    }

    @Test
    void vPredictionGivesTheSameSamplesAsEpsilon() {
        SigmaSchedule schedule = SigmaSchedule.karras(SD, 12);
        Result eps = run(new DpmPp2mSampler(), schedule, PredictionType.EPSILON, 4);
        Result v = run(new DpmPp2mSampler(), schedule, PredictionType.V_PREDICTION, 4);
        assertEquals(0, Fixtures.maxAbsDiff(eps.out(), v.out()), 2e-5);
    }

    @Test
    void everySamplerEndsWithTheDataMeanAndVariance() {
        for (SamplerKind kind : SamplerKind.values()) {
            Sampler sampler = kind == SamplerKind.DDIM ? new DdimSampler(1.0) : Sampler.create(kind);
            long seed = 10 + kind.ordinal();
            Result few = run(sampler, SigmaSchedule.karras(SD, 25), PredictionType.EPSILON, seed);
            Result many = run(sampler, SigmaSchedule.karras(SD, 400), PredictionType.EPSILON, seed);
            // Standard errors over 20k samples: mean s/141 = 0.0035, variance 1% of s^2. Measured
            // 400-step variance bias: at most 3% (Euler a), first-order samplers ~15-25% at 25 steps.
            assertEquals(MU, many.mean(), 0.012, kind + " mean");
            if (kind == SamplerKind.LCM) {
                // LCM ends on the denoised estimate itself: with the ideal denoiser of un-distilled data that is the
                // posterior mean at the last sigma, whose spread is s^2 / (s^2 + sigma_last^2) of the data's
                // (lcmEndsOnTheDenoisedEstimate): it is meant for consistency-distilled weights only
                assertTrue(many.variance() < 0.6 * S * S, kind + " variance " + many.variance());
                continue;
            }
            assertEquals(S * S, many.variance(), 0.05 * S * S, kind + " variance");
            if (kind.evaluationsPerStep() == 1 && !Set.of(SamplerKind.DPMPP_2M, SamplerKind.LMS, SamplerKind.IPNDM)
                    .contains(kind)) {
                // first order: a clear bias at 25 steps (the multistep and two-stage ones are within the noise there)
                assertTrue(Math.abs(many.variance() - S * S) < Math.abs(few.variance() - S * S) / 2,
                        kind + " converges: " + few.variance() + " -> " + many.variance());
            }
        }
    }

    /**
     * LCM: each step's latent is the denoised estimate plus sigma_next times the next draw of the job's noise stream
     * (the stream the initial noise came from, as Euler a continues it); the last step ends on the estimate itself.
     */
    @Test
    void lcmEndsOnTheDenoisedEstimateAndRenoisesFromTheJobsStream() {
        SigmaSchedule schedule = SigmaSchedule.discrete(SD, 4);
        SamplingLoop loop = new SamplingLoop(new LcmSampler(), schedule, PredictionType.EPSILON, SD);
        int n = 64;
        SamplerState state = loop.start(RngKind.PHILOX, 77, LatentShape.nchw(1, 1, 1, n));
        SamplerState stream = SamplerState.create(RngKind.PHILOX, 77, LatentShape.nchw(1, 1, 1, n));
        stream.nextNoise(); // the initial noise
        java.util.List<float[]> denoised = new java.util.ArrayList<>();
        java.util.List<float[]> entering = new java.util.ArrayList<>();
        Loops.Eps oracle = (scaled, t) -> {
            double sigma = loop.sigma(state);
            float[] out = new float[scaled.length];
            for (int i = 0; i < scaled.length; i++) {
                double xi = scaled[i] / PredictionType.cIn(sigma);
                double d = (S * S * xi + sigma * sigma * MU) / (S * S + sigma * sigma);
                out[i] = (float) ((xi - d) / sigma);
            }
            return out;
        };
        float[] out = Loops.run(loop, oracle, state, new GuidedSampling.Observer() {
            @Override
            public void onStep(GuidedSampling.Step step) {
                entering.add(step.x());
                denoised.add(step.denoised());
            }
        });
        assertEquals(4, denoised.size());
        for (int k = 1; k < 4; k++) {
            float[] noise = stream.nextNoise();
            for (int i = 0; i < n; i++) {
                assertEquals(denoised.get(k - 1)[i] + schedule.sigma(k) * noise[i], entering.get(k)[i], 1e-5,
                        "step " + (k + 1) + " starts at D + sigma_next * noise");
            }
        }
        assertEquals(0, Fixtures.maxAbsDiff(denoised.get(3), out), 0, "the last step ends on its estimate");
    }
}
