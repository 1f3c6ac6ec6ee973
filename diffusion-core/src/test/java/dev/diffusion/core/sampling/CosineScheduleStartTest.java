package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Euler on a cosine schedule starts at the config's spacing (t = 951 for 20 leading steps), not at sigma ~ 2e4. */
class CosineScheduleStartTest {

    @Test
    void eulerOnCosineStartsAtTheConfiguredSpacing() {
        SchedulerConfig cosine = new SchedulerConfig(0.00085, 0.012, BetaSchedule.SQUAREDCOS_CAP_V2, 1000,
                PredictionType.EPSILON, TimestepSpacing.LEADING, 1, false);
        NoiseSchedule table = NoiseSchedule.of(cosine);
        assertTrue(table.sigmaMax() > 1e4, "sigma at t = 999: " + table.sigmaMax());
        SigmaSchedule s = SigmaSchedule.forSampler(SamplerSpec.parse("euler"), cosine, table, 20);
        assertEquals(951, s.timesteps()[0], 1e-9);
        assertEquals(1, s.timesteps()[19], 1e-9);
        assertEquals(0.0, s.sigmas()[20]);
        assertEquals(table.sigma(951), s.sigmas()[0], 1e-9);
    }

    @Test
    void eulerOnScaledLinearStaysDiscrete() {
        NoiseSchedule table = NoiseSchedule.of(SchedulerConfig.sd15());
        SigmaSchedule s = SigmaSchedule.forSampler(SamplerSpec.parse("euler"), SchedulerConfig.sd15(), table, 20);
        assertEquals(999, s.timesteps()[0], 1e-9);
        assertEquals(SigmaSchedule.discrete(table, 20), s);
    }
}
