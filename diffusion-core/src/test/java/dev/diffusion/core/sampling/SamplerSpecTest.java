package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SamplerSpecTest {

    private static void expect(String name, SamplerKind kind, boolean karras) {
        SamplerSpec spec = SamplerSpec.parse(name);
        assertEquals(kind, spec.kind(), name);
        assertEquals(karras, spec.karras(), name);
    }

    @Test
    void a1111Names() {
        expect("Euler", SamplerKind.EULER, false);
        expect("Euler a", SamplerKind.EULER_ANCESTRAL, false);
        expect("DPM++ 2M", SamplerKind.DPMPP_2M, false);
        expect("DPM++ 2M Karras", SamplerKind.DPMPP_2M, true);
        expect("DDIM", SamplerKind.DDIM, false);
        expect("DDPM", SamplerKind.DDPM, false);
        expect("LMS", SamplerKind.LMS, false);
        expect("LMS Karras", SamplerKind.LMS, true);
        expect("Heun", SamplerKind.HEUN, false);
        expect("DPM2", SamplerKind.DPM2, false);
        expect("DPM2 Karras", SamplerKind.DPM2, true);
        expect("LCM", SamplerKind.LCM, false);
        expect("DPM2 a", SamplerKind.DPM2_ANCESTRAL, false);
        expect("DPM2 a Karras", SamplerKind.DPM2_ANCESTRAL, true);
        expect("DPM++ 2S a", SamplerKind.DPMPP_2S_ANCESTRAL, false);
        expect("DPM++ 2S a Karras", SamplerKind.DPMPP_2S_ANCESTRAL, true);
    }

    @Test
    void diffusersClassNames() {
        expect("EulerDiscreteScheduler", SamplerKind.EULER, false);
        expect("EulerAncestralDiscreteScheduler", SamplerKind.EULER_ANCESTRAL, false);
        expect("DPMSolverMultistepScheduler", SamplerKind.DPMPP_2M, false);
        expect("DDIMScheduler", SamplerKind.DDIM, false);
        expect("DDPMScheduler", SamplerKind.DDPM, false);
        expect("LMSDiscreteScheduler", SamplerKind.LMS, false);
        expect("HeunDiscreteScheduler", SamplerKind.HEUN, false);
        expect("KDPM2DiscreteScheduler", SamplerKind.DPM2, false);
    }

    @Test
    void comfyNamesAndCaseAndSpacing() {
        expect("euler", SamplerKind.EULER, false);
        expect("euler_ancestral", SamplerKind.EULER_ANCESTRAL, false);
        expect("dpmpp_2m", SamplerKind.DPMPP_2M, false);
        expect("dpmpp_2m_karras", SamplerKind.DPMPP_2M, true);
        expect("ddim", SamplerKind.DDIM, false);
        expect("ddpm", SamplerKind.DDPM, false);
        expect("lms", SamplerKind.LMS, false);
        expect("heun", SamplerKind.HEUN, false);
        expect("dpm_2", SamplerKind.DPM2, false);
        expect("dpm_2_karras", SamplerKind.DPM2, true);
        expect("lcm", SamplerKind.LCM, false);
        expect("ipndm", SamplerKind.IPNDM, false);
        expect("dpm_2_ancestral", SamplerKind.DPM2_ANCESTRAL, false);
        expect("dpmpp_2s_ancestral", SamplerKind.DPMPP_2S_ANCESTRAL, false);
        expect("dpm++2s_a", SamplerKind.DPMPP_2S_ANCESTRAL, false);
        expect("  dpm++   2m   KARRAS ", SamplerKind.DPMPP_2M, true);
        expect("EULER A", SamplerKind.EULER_ANCESTRAL, false);
        expect("Euler Karras", SamplerKind.EULER, true);
    }

    @Test
    void canonicalAndA1111SpellingsRoundTrip() {
        for (SamplerKind kind : SamplerKind.values()) {
            for (boolean karras : new boolean[] {false, true}) {
                SamplerSpec spec = new SamplerSpec(kind, karras);
                assertEquals(spec, SamplerSpec.parse(spec.canonicalName()));
                assertEquals(spec, SamplerSpec.parse(spec.a1111Name()));
                assertEquals(kind.canonicalName(), Sampler.create(kind).name());
            }
        }
        assertEquals("dpmpp_2m_karras", SamplerSpec.parse("DPM++ 2M Karras").canonicalName());
    }

    @Test
    void unknownNamesListTheAcceptedOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SamplerSpec.parse("UniPC"));
        assertTrue(e.getMessage().contains("'UniPC'"), e.getMessage());
        for (String accepted : new String[] {"Euler a", "DPM++ 2M", "DDIMScheduler", "dpmpp_2m", "Karras"}) {
            assertTrue(e.getMessage().contains(accepted), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> SamplerSpec.parse(" "));
        assertThrows(IllegalArgumentException.class, () -> SamplerSpec.parse("Karras"));
    }

    @Test
    void defaultSchedulesPerSampler() {
        SchedulerConfig sd = SchedulerConfig.sd15();
        assertEquals(999, Loops.of("Euler", 4, sd).schedule().timestep(0));
        assertEquals(666, Loops.of("Euler a", 4, sd).schedule().timestep(1));
        assertEquals(14.61466, Loops.of("DPM++ 2M Karras", 6, sd).schedule().sigma(0), 1e-5);
        assertEquals(3.16861, Loops.of("dpmpp_2m_karras", 4, sd).schedule().sigma(1), 1e-5);
        assertEquals(751, Loops.of("DDIMScheduler", 4, sd).schedule().timestep(0));
        assertEquals(1, Loops.of("DDPM", 4, sd).schedule().timestep(3));
    }
}
