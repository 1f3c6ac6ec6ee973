package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Relations between samplers that hold exactly, and hand-computed single steps. */
class SamplerRelationsTest {
    private static final LatentShape SHAPE = LatentShape.nchw(1, 1, 1, 64);

    private static float[] ramp(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (scale * Math.sin(1.7 * i + 0.3));
        }
        return x;
    }

    @Test
    void ddimWithEtaZeroIsAnEulerStep() {
        float[] x = ramp(64, 3);
        float[] denoised = ramp(64, 0.5);
        float[] euler = x.clone();
        float[] ddim = x.clone();
        SamplerState state = SamplerState.create(RngKind.PHILOX, 0, SHAPE);
        new EulerSampler().step(euler, denoised, 2.5, 1.1, state);
        new DdimSampler(0).step(ddim, denoised, 2.5, 1.1, state);
        assertArrayEquals(euler, ddim, 2e-6f);
        assertEquals(0, state.snapshot().rngPositions()[0], "no noise drawn");
    }

    @Test
    void ddpmIsDdimWithEtaOneStepByStep() {
        float[] x = ramp(64, 3);
        float[] denoised = ramp(64, 0.5);
        float[] ddpm = x.clone();
        float[] ddim = x.clone();
        new DdpmSampler().step(ddpm, denoised, 2.5, 1.1, SamplerState.create(RngKind.PHILOX, 9, SHAPE));
        new DdimSampler(1.0).step(ddim, denoised, 2.5, 1.1, SamplerState.create(RngKind.PHILOX, 9, SHAPE));
        assertArrayEquals(ddpm, ddim, 2e-5f);
    }

    @Test
    void eulerStepByHand() {
        float[] x = {2f, -1f};
        new EulerSampler().step(x, new float[] {0.5f, 0.5f}, 2.0, 1.0, null);
        // d = (x - D)/sigma = (0.75, -0.75); x + d (1 - 2)
        assertArrayEquals(new float[] {1.25f, -0.25f}, x, 1e-7f);
    }

    @Test
    void eulerAncestralSplitsTheVarianceByHand() {
        // sigma 2 -> 1: sigma_up = sqrt(1 * (4 - 1) / 4) = 0.8660, sigma_down = 0.5.
        float[] x = {2f};
        SamplerState state = SamplerState.create(RngKind.PHILOX, 3, LatentShape.nchw(1, 1, 1, 1));
        new EulerAncestralSampler().step(x, new float[] {0.5f}, 2.0, 1.0, state);
        float z = new PhiloxGenerator(3).randn(1)[0];
        assertEquals(2 + 0.75 * (0.5 - 2) + Math.sqrt(0.75) * z, x[0], 1e-6);
    }

    /** One step from sigma 2 to 1 of x = 1 with the ideal denoiser of unit-variance data, D(x, s) = x / (1 + s^2). */
    private static float[] secondOrderStep(Sampler sampler, List<Double> evaluatedSigmas, List<Double> timesteps) {
        SigmaSchedule schedule = new SigmaSchedule(new double[] {2, 1, 0}, new double[] {700, 500}, 2);
        SamplingLoop loop = new SamplingLoop(sampler, schedule, PredictionType.EPSILON, NoiseSchedule.sd15());
        SamplerState state = SamplerState.create(RngKind.PHILOX, 0, LatentShape.nchw(1, 1, 1, 1));
        state.setX(new float[] {1f});
        while (state.stepIndex() == 0) {
            double sigma = loop.sigma(state);
            evaluatedSigmas.add(sigma);
            timesteps.add(loop.timestep(state));
            double x = state.x()[0];
            double d = x / (1 + sigma * sigma);
            loop.advance(state, new float[] {(float) ((x - d) / sigma)}); // epsilon = (x - D) / sigma
        }
        return state.x();
    }

    @Test
    void heunStepByHand() {
        List<Double> sigmas = new ArrayList<>();
        List<Double> ts = new ArrayList<>();
        float[] x = secondOrderStep(new HeunSampler(), sigmas, ts);
        // d = (1 - 0.2)/2 = 0.4; x2 = 1 - 0.4 = 0.6 at sigma 1: D = 0.3, d2 = 0.3; x = 1 + (0.4 + 0.3)/2 (1 - 2)
        assertEquals(0.65, x[0], 1e-6);
        assertEquals(List.of(2.0, 1.0), sigmas);
        assertEquals(List.of(700.0, 500.0), ts, "the second evaluation is at the next step's timestep");
    }

    @Test
    void dpm2StepByHand() {
        List<Double> sigmas = new ArrayList<>();
        List<Double> ts = new ArrayList<>();
        float[] x = secondOrderStep(new Dpm2Sampler(), sigmas, ts);
        // sigma_mid = sqrt(2 * 1) = 1.41421; x2 = 1 + 0.4 (1.41421 - 2) = 0.765685; D(x2) = x2 / 3;
        // d2 = (x2 - x2/3) / 1.41421 = 0.360948; x = 1 + d2 (1 - 2) = 0.639052
        assertEquals(0.639052, x[0], 1e-6);
        assertEquals(2, sigmas.size());
        assertEquals(Math.sqrt(2), sigmas.get(1), 1e-12);
        assertEquals(NoiseSchedule.sd15().sigmaToT(Math.sqrt(2)), ts.get(1), 1e-9,
                "off the schedule: the training table's log-sigma interpolation");
    }

    @Test
    void ancestralSecondOrderStepsByHand() {
        // sigma 2 -> 1 splits into sigma_down 0.5 and sigma_up sqrt(0.75) (as Euler a); both evaluate at
        // sigma 1 = the log-midpoint of 2 and 0.5, from x2 = 0.6 where D = 0.3; then noise z * sigma_up
        double z = new PhiloxGenerator(0).randn(1)[0];
        List<Double> sigmas = new ArrayList<>();
        // DPM2 a: d = 0.4, x2 = 1 + 0.4 (1 - 2) = 0.6, d2 = 0.3, x = 1 + 0.3 (0.5 - 2) = 0.55
        float[] dpm2a = secondOrderStep(new Dpm2Sampler(true), sigmas, new ArrayList<>());
        assertEquals(0.55 + Math.sqrt(0.75) * z, dpm2a[0], 1e-6);
        assertEquals(List.of(2.0, 1.0), sigmas);
        // DPM++ 2S a: h = log 4, x2 = (1/2) 1 - expm1(-h/2) 0.2 = 0.6; x = (0.5/2) 1 - expm1(-h) 0.3 = 0.475
        sigmas.clear();
        float[] dpmpp2sa = secondOrderStep(new DpmPp2sAncestralSampler(), sigmas, new ArrayList<>());
        assertEquals(0.475 + Math.sqrt(0.75) * z, dpmpp2sa[0], 1e-6);
        assertEquals(2, sigmas.size());
        assertEquals(1.0, sigmas.get(1), 1e-12);
    }

    @Test
    void secondOrderStepsToSigmaZeroAreOneEulerStep() {
        for (Sampler sampler : new Sampler[] {new HeunSampler(), new Dpm2Sampler(), new Dpm2Sampler(true),
                new DpmPp2sAncestralSampler()}) {
            SigmaSchedule schedule = new SigmaSchedule(new double[] {2, 0}, new double[] {700}, 2);
            SamplingLoop loop = new SamplingLoop(sampler, schedule, PredictionType.EPSILON, NoiseSchedule.sd15());
            SamplerState state = SamplerState.create(RngKind.PHILOX, 0, LatentShape.nchw(1, 1, 1, 2));
            state.setX(new float[] {2f, -1f});
            loop.advance(state, new float[] {0.75f, -0.75f}); // D = x - 2 eps = (0.5, 0.5)
            assertEquals(1, state.stepIndex(), sampler.name());
            assertArrayEquals(new float[] {0.5f, 0.5f}, state.x(), 1e-6f, sampler.name() + ": Euler lands on D");
        }
    }

    @Test
    void lmsCoefficientsIntegrateTheLagrangeBasisByHand() {
        // history sigmas 2 (now) and 3 (before), step to 1: c0 = int_2^1 (t - 3)/(2 - 3) dt = -1.5,
        // c1 = int_2^1 (t - 2)/(3 - 2) dt = 0.5; they sum to the step, -1
        double[] nodes = {2, 3};
        assertEquals(-1.5, LmsSampler.coefficient(nodes, 0, 2, 1), 1e-12);
        assertEquals(0.5, LmsSampler.coefficient(nodes, 1, 2, 1), 1e-12);
        // order 1 is Euler's step; any order's coefficients sum to the step (a constant slope is exact)
        assertEquals(-1.0, LmsSampler.coefficient(new double[] {2}, 0, 2, 1), 1e-12);
        double[] four = {1.2, 2.5, 4.1, 7.3};
        double sum = 0;
        for (int j = 0; j < 4; j++) {
            sum += LmsSampler.coefficient(four, j, 1.2, 0.6);
        }
        assertEquals(0.6 - 1.2, sum, 1e-12);
        // a cubic through the nodes integrates exactly: f(t) = t^3 on [1.2, 0.6] is (0.6^4 - 1.2^4)/4
        double cubic = 0;
        for (int j = 0; j < 4; j++) {
            cubic += LmsSampler.coefficient(four, j, 1.2, 0.6) * Math.pow(four[j], 3);
        }
        assertEquals((Math.pow(0.6, 4) - Math.pow(1.2, 4)) / 4, cubic, 1e-12);
    }

    @Test
    void ipndmUsesAdamsBashforthOnTheSlopesByHand() {
        IpndmSampler sampler = new IpndmSampler();
        SamplerState state = SamplerState.create(RngKind.PHILOX, 0, LatentShape.nchw(1, 1, 1, 1));
        float[] x = {3f};
        sampler.step(x, new float[] {1f}, 4, 2, state); // d = 0.5, order 1: 3 + 0.5 (2 - 4) = 2
        assertEquals(2f, x[0], 1e-6f);
        sampler.step(x, new float[] {1.2f}, 2, 1, state); // d = 0.4, order 2: 2 + (3 * 0.4 - 0.5)/2 (1 - 2) = 1.65
        assertEquals(1.65f, x[0], 1e-6f);
    }

    @Test
    void twoStageStepsAreReportedOnceEachAfterTheirSecondEvaluation() {
        SamplingLoop loop = SamplingLoop.of(SamplerSpec.parse("Heun"), 5, SchedulerConfig.sd15());
        SamplerState state = loop.start(RngKind.PHILOX, 1, LatentShape.nchw(1, 4, 2, 2));
        List<Double> evaluated = new ArrayList<>();
        List<Integer> reported = new ArrayList<>();
        List<Double> reportedT = new ArrayList<>();
        Loops.run(loop, (in, t) -> {
            evaluated.add(t);
            return new float[in.length];
        }, state, new GuidedSampling.Observer() {
            @Override
            public void onStep(GuidedSampling.Step step) {
                reported.add(step.number());
                reportedT.add(step.timestep());
            }
        });
        double[] t = loop.schedule().timesteps();
        // 2 x 5 - 1 evaluations: each step at its own and the next timestep, the last (to sigma 0) once
        assertEquals(List.of(t[0], t[1], t[1], t[2], t[2], t[3], t[3], t[4], t[4]), evaluated);
        assertEquals(List.of(1, 2, 3, 4, 5), reported);
        assertEquals(List.of(t[0], t[1], t[2], t[3], t[4]), reportedT, "a step is reported with its first evaluation's timestep");
    }

    @Test
    void dpm2DropsTheNextToLastSigmaAsA1111AndComfyUi() {
        SchedulerConfig sd = SchedulerConfig.sd15();
        NoiseSchedule table = NoiseSchedule.of(sd);
        SigmaSchedule dpm2 = SigmaSchedule.forSampler(SamplerSpec.parse("DPM2"), sd, table, 4);
        assertEquals(dpm2, SigmaSchedule.forSampler(SamplerSpec.parse("DPM2 a"), sd, table, 4));
        double[] five = SigmaSchedule.discrete(table, 5).sigmas(); // t = 999, 749.25, 499.5, 249.75, 0, then sigma 0
        assertEquals(4, dpm2.steps());
        assertArrayEquals(new double[] {five[0], five[1], five[2], five[3], 0}, dpm2.sigmas(), 0);
        assertArrayEquals(java.util.Arrays.copyOf(SigmaSchedule.discrete(table, 5).timesteps(), 4), dpm2.timesteps(), 0);
        SigmaSchedule heun = SigmaSchedule.forSampler(SamplerSpec.parse("Heun"), sd, table, 4);
        assertArrayEquals(SigmaSchedule.discrete(table, 4).sigmas(), heun.sigmas(), 0);
    }

    @Test
    void dpmpp2mStepsByHand() {
        double s0 = 4;
        double s1 = 2;
        double s2 = 0.5;
        float[] x = {3f};
        SamplerState state = SamplerState.create(RngKind.PHILOX, 0, LatentShape.nchw(1, 1, 1, 1));
        DpmPp2mSampler sampler = new DpmPp2mSampler();
        sampler.step(x, new float[] {1f}, s0, s1, state);
        // first step: (s1/s0) x + (1 - s1/s0) D, since expm1(-h) = s1/s0 - 1.
        assertEquals(0.5 * 3 + 0.5 * 1, x[0], 1e-6);
        double x1 = x[0];
        sampler.step(x, new float[] {1.5f}, s1, s2, state);
        double h = Math.log(s1 / s2);
        double hLast = Math.log(s0 / s1);
        double r = hLast / h;
        double dd = (1 + 1 / (2 * r)) * 1.5 - 1 / (2 * r) * 1.0;
        assertEquals(s2 / s1 * x1 + (1 - s2 / s1) * dd, x[0], 1e-6);
        sampler.step(x, new float[] {1.25f}, s2, 0, state);
        assertEquals(1.25, x[0], 0, "the step to sigma 0 lands on the denoised estimate");
    }

    @Test
    void classifierFreeGuidance() {
        float[] u = {1f, -2f, 0f};
        float[] c = {2f, -2f, 1f};
        assertArrayEquals(new float[] {8f, -2f, 7f}, Guidance.combine(u, c, 7), 0);
        assertArrayEquals(c, Guidance.combine(u, c, 1), 0);
        // through the production loop's guided call: the pair's two outputs combined at scale 6
        SamplingLoop loop = Loops.of("Euler", 1, SchedulerConfig.sd15());
        float[] eps = new float[3];
        Loops.runGuided(loop, (x, t) -> new float[][] {u, c}, 6, loop.start(RngKind.PHILOX, 0, LatentShape.nchw(1, 1, 1, 3)),
                new GuidedSampling.Observer() {
                    @Override
                    public void onStep(GuidedSampling.Step s) {
                        assertArrayEquals(u, s.uncond(), 0);
                        assertArrayEquals(c, s.cond(), 0);
                        // epsilon prediction: denoised = x - sigma * eps, so the guided eps = (x - denoised) / sigma
                        for (int i = 0; i < 3; i++) {
                            eps[i] = (float) ((s.x()[i] - s.denoised()[i]) / s.sigma());
                        }
                    }
                });
        assertArrayEquals(new float[] {7f, -2f, 6f}, eps, 1e-3f);
    }

    @Test
    void predictionTypeScalings() {
        double sigma = 3;
        assertEquals(1 / Math.sqrt(10), PredictionType.cIn(sigma), 1e-15);
        assertEquals(-3, PredictionType.EPSILON.cOut(sigma), 0);
        assertEquals(1, PredictionType.EPSILON.cSkip(sigma), 0);
        assertEquals(0.1, PredictionType.V_PREDICTION.cSkip(sigma), 1e-15);
        assertEquals(-3 / Math.sqrt(10), PredictionType.V_PREDICTION.cOut(sigma), 1e-15);
        // x0 = 1, eps = 2 at sigma 3: x = 7; v = alpha eps - sigma_vp x0 with alpha = c_in, sigma_vp = 3 c_in.
        double cIn = PredictionType.cIn(sigma);
        float[] v = {(float) (cIn * 2 - 3 * cIn * 1)};
        assertEquals(1, PredictionType.V_PREDICTION.denoised(new float[] {7f}, v, sigma)[0], 1e-6);
        assertEquals(1, PredictionType.EPSILON.denoised(new float[] {7f}, new float[] {2f}, sigma)[0], 1e-6);
    }

    @Test
    void ddimEndingAtSigmaZeroOfTheTableReturnsTheDiffusersLatent() {
        // set_alpha_to_one = false: the last step ends at alpha_bar_0, and the output is that latent in
        // the model's scale: sqrt(a0) x0 + sqrt(1 - a0) eps.
        NoiseSchedule sd = NoiseSchedule.sd15();
        SamplingLoop loop = Loops.of("DDIM", 10, SchedulerConfig.sd15());
        assertEquals(sd.sigma(0), loop.schedule().sigma(10));
        SamplerState state = loop.start(RngKind.PHILOX, 0, SHAPE);
        float[] eps = ramp(64, 1);
        float[] out = Loops.run(loop, (x, t) -> eps, state);
        // With a constant eps prediction the last step's x0 = x - sigma eps; check the output's scale.
        double a0 = sd.alphaCumprod(0);
        float[] xVe = state.x();
        for (int i = 0; i < out.length; i++) {
            assertEquals(xVe[i] * Math.sqrt(a0), out[i], 1e-6);
        }
        assertTrue(loop.done(state));
    }
}
