package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Replays stable-diffusion.cpp's recorded U-Net outputs as the "model": at step K the predictor
 * returns the recorded (uncond, cond) eps pair, guided with the fixture's cfg. Every intermediate
 * latent, every denoised estimate and the final latent must match what sd.cpp computed. The files are
 * NCHW; everything here is elementwise, so the layout is whatever the noise is generated in.
 */
class FixtureSamplingTest {
    // Measured: at most 5.2e-7 (float rounding; sd.cpp's float32 sigma table vs ours).
    private static final double TOLERANCE = 2e-6;

    @Test
    void eulerDiscreteCfg7ReproducesEveryStep() {
        replay(Fixtures.EULER, "Euler", 4, 7.0, 42);
    }

    @Test
    void dpmpp2mKarrasCfg6ReproducesEveryStep() {
        replay(Fixtures.DPMPP, "DPM++ 2M Karras", 6, 6.0, 1234);
    }

    @Test
    void theWrongSamplerIsCaught() {
        // Euler instead of DPM++ 2M on the Karras case: same model outputs, different update rule.
        SamplingLoop loop = new SamplingLoop(new EulerSampler(),
                SigmaSchedule.karras(NoiseSchedule.sd15(), 6), PredictionType.EPSILON);
        SamplerState state = loop.start(RngKind.PHILOX, 1234, LatentShape.nchw(1, 4, 32, 32));
        Loops.Pair recordedUnet = (scaled, t) -> {
            int k = state.stepIndex() + 1;
            return new float[][] {Fixtures.f32(Fixtures.DPMPP, "step" + k + "_eps_uncond"),
                    Fixtures.f32(Fixtures.DPMPP, "step" + k + "_eps_cond")};
        };
        float[] x0 = Loops.runGuided(loop, recordedUnet, 6.0, state, GuidedSampling.Observer.NONE);
        assertTrue(Fixtures.relDiff(x0, Fixtures.f32(Fixtures.DPMPP, "x0_b0")) > 1e-3);
    }

    private static void replay(String testCase, String samplerName, int steps, double cfg, long seed) {
        SamplingLoop loop = Loops.of(samplerName, steps, SchedulerConfig.sd15());
        SamplerState state = loop.start(RngKind.PHILOX, seed, LatentShape.nchw(1, 4, 32, 32));
        List<Fixtures.Step> recorded = Fixtures.steps(testCase);
        List<String> report = new ArrayList<>();

        Loops.Pair recordedUnet = (scaled, t) -> {
            int k = state.stepIndex() + 1;
            assertEquals(recorded.get(k - 1).t(), t, 2e-4, "timestep of step " + k);
            // The input the U-Net saw: the recorded x_K times c_in.
            float[] expectedIn = Fixtures.f32(testCase, "step" + k + "_x");
            double cIn = PredictionType.cIn(loop.schedule().sigma(k - 1));
            for (int i = 0; i < expectedIn.length; i++) {
                expectedIn[i] *= (float) cIn;
            }
            check(report, "step" + k + " U-Net input", scaled, expectedIn);
            return new float[][] {Fixtures.f32(testCase, "step" + k + "_eps_uncond"),
                    Fixtures.f32(testCase, "step" + k + "_eps_cond")};
        };
        GuidedSampling.Observer callback = new GuidedSampling.Observer() {
            @Override
            public void onStep(GuidedSampling.Step s) {
                int step = s.number();
                assertEquals(steps, s.total());
                check(report, "step" + step + "_denoised", s.denoised(), Fixtures.f32(testCase, "step" + step + "_denoised"));
                if (step < s.total()) {
                    // the latent after the step: the state's
                    check(report, "step" + (step + 1) + "_x", state.x(), Fixtures.f32(testCase, "step" + (step + 1) + "_x"));
                }
            }
        };

        check(report, "step1_x", state.x(), Fixtures.f32(testCase, "step1_x"));
        float[] x0 = Loops.runGuided(loop, recordedUnet, cfg, state, callback);
        check(report, "x0_b0", x0, Fixtures.f32(testCase, "x0_b0"));

        assertEquals(3 * steps + 1, report.size(), "every tensor was compared");
        List<String> bad = report.stream().filter(r -> r.startsWith("FAIL")).toList();
        assertTrue(bad.isEmpty(), String.join("\n", report));
    }

    private static void check(List<String> report, String name, float[] actual, float[] expected) {
        double rel = Fixtures.relDiff(actual, expected);
        report.add((rel <= TOLERANCE ? "ok   " : "FAIL ") + name + " max rel diff " + rel);
    }
}
