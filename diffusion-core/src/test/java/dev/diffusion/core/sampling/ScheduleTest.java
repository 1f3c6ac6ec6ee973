package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ScheduleTest {
    private final NoiseSchedule sd = NoiseSchedule.sd15();

    @Test
    void sdTableEndsAtTheKnownSigmas() {
        assertEquals(1000, sd.trainTimesteps());
        assertEquals(0.0291675, sd.sigmaMin(), 1e-6);
        // float32 accumulation (diffusers, sd.cpp) vs float64 (CompVis, A1111).
        assertEquals(14.6146555, sd.sigmaMax(), 1e-6);
        NoiseSchedule sd64 = NoiseSchedule.of(SchedulerConfig.sd15(), NoiseSchedule.Precision.FLOAT64);
        assertEquals(14.6146412, sd64.sigmaMax(), 1e-6);
        // alpha_bar_0 = 1 - beta_0 = 1 - 0.00085.
        assertEquals(0.99915, sd.alphaCumprod(0), 1e-7);
        assertEquals(0.99915, sd64.alphaCumprod(0), 1e-12);
        // sigma_t = sqrt((1 - alpha_bar)/alpha_bar) at every t.
        for (int t : new int[] {0, 1, 500, 999}) {
            double a = sd.alphaCumprod(t);
            assertEquals(Math.sqrt((1 - a) / a), sd.sigma(t), 1e-12);
        }
    }

    @Test
    void betaSchedulesFollowTheirFormulas() {
        double[] lin = BetaSchedule.LINEAR.betas(0.0001, 0.02, 1000);
        assertEquals(0.0001, lin[0], 1e-15);
        assertEquals(0.02, lin[999], 1e-15);
        assertEquals(0.0001 + 0.0199 * 500 / 999, lin[500], 1e-15);

        double[] scaled = BetaSchedule.SCALED_LINEAR.betas(0.00085, 0.012, 1000);
        assertEquals(0.00085, scaled[0], 1e-15);
        assertEquals(0.012, scaled[999], 1e-15);
        double mid = Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * 500 / 999;
        assertEquals(mid * mid, scaled[500], 1e-15);

        // Cosine: the product of (1 - beta) telescopes to alpha_bar(t) / alpha_bar(0) while uncapped.
        double[] cos = BetaSchedule.SQUAREDCOS_CAP_V2.betas(0, 0, 1000);
        double product = 1;
        for (int i = 0; i < 500; i++) {
            product *= 1 - cos[i];
        }
        double f0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
        double f500 = Math.pow(Math.cos((0.5 + 0.008) / 1.008 * Math.PI / 2), 2);
        assertEquals(f500 / f0, product, 1e-12);
        assertEquals(0.999, cos[999], 1e-15, "the last beta is capped");
        assertTrue(cos[0] < 1e-4);
    }

    @Test
    void discreteSchedulePicksEvenTimestepsLikeA1111() {
        SigmaSchedule s = SigmaSchedule.discrete(sd, 4);
        assertArrayEquals(new double[] {999, 666, 333, 0}, s.timesteps(), 1e-12);
        assertEquals(0, s.sigma(4));
        assertEquals(s.sigma(0), s.initNoiseSigma());
    }

    @Test
    void karrasScheduleForSdWithFourSteps() {
        // As stable-diffusion.cpp prints them (its pow is in float: 3e-7 relative).
        double[] expected = {14.61466, 3.16861, 0.44692, 0.02917, 0};
        double[] actual = SigmaSchedule.karras(sd, 4).sigmas();
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 5e-7 * expected[i] + 5e-6, "sigma " + i);
        }
    }

    @Test
    void everySigmaAndTimestepOfTheEulerFixture() {
        checkAgainstFixture(SigmaSchedule.discrete(sd, 4), Fixtures.steps(Fixtures.EULER));
    }

    @Test
    void everySigmaAndTimestepOfTheDpmppKarrasFixture() {
        checkAgainstFixture(SigmaSchedule.karras(sd, 6), Fixtures.steps(Fixtures.DPMPP));
    }

    private static void checkAgainstFixture(SigmaSchedule s, List<Fixtures.Step> steps) {
        assertEquals(steps.size(), s.steps());
        for (int i = 0; i < steps.size(); i++) {
            Fixtures.Step f = steps.get(i);
            String where = "step " + (i + 1);
            assertEquals(f.sigma(), s.sigma(i), 5e-7 * f.sigma() + 1e-6, where + " sigma");
            assertEquals(f.t(), s.timestep(i), 2e-4, where + " t");
            assertEquals(f.cIn(), PredictionType.cIn(s.sigma(i)), 1e-6, where + " c_in");
            assertEquals(f.cOut(), PredictionType.EPSILON.cOut(s.sigma(i)), 5e-7 * f.sigma() + 1e-6, where + " c_out");
            assertEquals(f.cSkip(), PredictionType.EPSILON.cSkip(s.sigma(i)), 1e-12, where + " c_skip");
        }
        assertEquals(0, s.sigma(s.steps()));
    }

    @Test
    void img2imgStartsPartWayThrough() {
        SigmaSchedule full = SigmaSchedule.karras(sd, 10);
        SigmaSchedule tail = full.fromStep(4);
        assertEquals(6, tail.steps());
        assertEquals(full.sigma(4), tail.sigma(0));
        assertEquals(full.sigma(4), tail.initNoiseSigma());
        assertEquals(full.timestep(9), tail.timestep(5));
        assertEquals(0, tail.sigma(6));
    }

    @Test
    void sigmaToTInvertsTToSigma() {
        for (double t : new double[] {0, 0.25, 1, 29.806187, 248.756683, 500.5, 837.12, 998.9, 999}) {
            assertEquals(t, sd.sigmaToT(sd.tToSigma(t)), 1e-6);
        }
        assertEquals(0, sd.sigmaToT(1e-4), "below sigma_min clamps to 0");
        assertEquals(999, sd.sigmaToT(100), "above sigma_max clamps to T-1");
    }

    @Test
    void diffusersSpacings() {
        assertArrayEquals(new int[] {751, 501, 251, 1}, TimestepSpacing.LEADING.timesteps(4, 1000, 1));
        assertArrayEquals(new int[] {999, 749, 499, 249}, TimestepSpacing.TRAILING.timesteps(4, 1000, 0));
        assertArrayEquals(new int[] {999, 666, 333, 0}, TimestepSpacing.LINSPACE.timesteps(4, 1000, 0));
        // 50 leading steps with offset 1 (SD's DDIM default): 981, 961, ..., 1.
        int[] fifty = TimestepSpacing.LEADING.timesteps(50, 1000, 1);
        assertEquals(981, fifty[0]);
        assertEquals(1, fifty[49]);
        assertEquals(20, fifty[0] - fifty[1]);
    }

    @Test
    void ddimScheduleEndsAtAlphaBarZeroUnlessSetAlphaToOne() {
        SchedulerConfig config = SchedulerConfig.sd15();
        SigmaSchedule ddim = SigmaSchedule.forSampler(SamplerSpec.parse("DDIM"), config, sd, 4);
        assertArrayEquals(new double[] {751, 501, 251, 1}, ddim.timesteps(), 0);
        assertEquals(sd.sigma(751), ddim.sigma(0));
        assertEquals(sd.sigma(0), ddim.sigma(4), "set_alpha_to_one = false");
        assertEquals(Math.sqrt(sd.sigma(751) * sd.sigma(751) + 1), ddim.initNoiseSigma(), 1e-12);
        SchedulerConfig one = new SchedulerConfig(0.00085, 0.012, BetaSchedule.SCALED_LINEAR, 1000,
                PredictionType.EPSILON, TimestepSpacing.LEADING, 1, true);
        assertEquals(0, SigmaSchedule.forSampler(SamplerSpec.parse("DDIM"), one, sd, 4).sigma(4));
        assertEquals(0, SigmaSchedule.forSampler(SamplerSpec.parse("DDPM"), config, sd, 4).sigma(4));
    }

    @Test
    void configFromDiffusersJson(@TempDir Path dir) throws Exception {
        String json = """
                {"_class_name": "DDIMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
                 "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
                 "num_train_timesteps": 1000, "set_alpha_to_one": false, "steps_offset": 1,
                 "trained_betas": null, "prediction_type": "v_prediction", "timestep_spacing": "trailing"}
                """;
        SchedulerConfig c = SchedulerConfig.fromJson(new ObjectMapper().readTree(json));
        assertEquals(PredictionType.V_PREDICTION, c.predictionType());
        assertEquals(TimestepSpacing.TRAILING, c.timestepSpacing());
        assertEquals(BetaSchedule.SCALED_LINEAR, c.betaSchedule());
        assertEquals(1, c.stepsOffset());
        assertEquals(0.012, c.betaEnd());

        SchedulerConfig partial = SchedulerConfig.fromJson(new ObjectMapper().readTree(
                "{\"beta_schedule\": \"linear\", \"beta_start\": 0.0001, \"beta_end\": 0.02}"));
        assertEquals(BetaSchedule.LINEAR, partial.betaSchedule());
        assertEquals(PredictionType.EPSILON, partial.predictionType());
        assertEquals(1000, partial.numTrainTimesteps());

        assertEquals(SchedulerConfig.sd15(), SchedulerConfig.forModelDirectory(dir), "no file: SD 1.x defaults");
        Files.createDirectories(dir.resolve("scheduler"));
        Files.writeString(dir.resolve("scheduler/scheduler_config.json"), json);
        assertEquals(c, SchedulerConfig.forModelDirectory(dir));

        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromJson(
                new ObjectMapper().readTree("{\"prediction_type\": \"sample\"}")));
    }
}
