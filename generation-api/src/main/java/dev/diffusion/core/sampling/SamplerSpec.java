package dev.diffusion.core.sampling;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A sampler as a user names it, resolved to one canonical kind plus whether Karras sigmas were asked
 * for. Accepts A1111 names ("Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "DDPM", "LMS", "Heun",
 * "DPM2", "DPM2 a", "DPM++ 2S a", "LCM"), diffusers scheduler class names (EulerDiscreteScheduler,
 * LMSDiscreteScheduler, ...) and ComfyUI names (euler, euler_ancestral, dpmpp_2m, ddim, ddpm, lms, heun, dpm_2,
 * dpm_2_ancestral, dpmpp_2s_ancestral, lcm, ipndm), case-insensitively; a trailing
 * " Karras" / "_karras" selects Karras sigmas.
 */
public record SamplerSpec(SamplerKind kind, boolean karras) {

    private static final Map<String, SamplerKind> NAMES = new LinkedHashMap<>();

    static {
        alias(SamplerKind.EULER, "euler", "eulerdiscretescheduler", "k_euler");
        alias(SamplerKind.EULER_ANCESTRAL, "euler_ancestral", "euler a", "eulerancestraldiscretescheduler",
                "k_euler_a", "euler_a");
        alias(SamplerKind.DPMPP_2M, "dpmpp_2m", "dpm++ 2m", "dpmsolvermultistepscheduler", "k_dpmpp_2m");
        alias(SamplerKind.DDIM, "ddim", "ddimscheduler");
        alias(SamplerKind.DDPM, "ddpm", "ddpmscheduler");
        alias(SamplerKind.LMS, "lms", "lmsdiscretescheduler", "k_lms");
        alias(SamplerKind.HEUN, "heun", "heundiscretescheduler", "k_heun");
        alias(SamplerKind.DPM2, "dpm_2", "dpm2", "kdpm2discretescheduler", "k_dpm_2");
        alias(SamplerKind.LCM, "lcm");
        alias(SamplerKind.IPNDM, "ipndm");
        alias(SamplerKind.DPM2_ANCESTRAL, "dpm_2_ancestral", "dpm2 a", "kdpm2ancestraldiscretescheduler", "k_dpm_2_a");
        alias(SamplerKind.DPMPP_2S_ANCESTRAL, "dpmpp_2s_ancestral", "dpm++ 2s a", "dpm++2s_a", "k_dpmpp_2s_a");
    }

    private static void alias(SamplerKind kind, String... names) {
        for (String n : names) {
            NAMES.put(n, kind);
        }
    }

    public static SamplerSpec of(SamplerKind kind) {
        return new SamplerSpec(kind, false);
    }

    public static SamplerSpec parse(String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("no sampler named; accepted: " + acceptedNames());
        }
        String key = name.trim().toLowerCase(Locale.ROOT).replaceAll("\\s+", " ");
        boolean karras = false;
        for (String suffix : new String[] {" karras", "_karras"}) {
            if (key.endsWith(suffix)) {
                karras = true;
                key = key.substring(0, key.length() - suffix.length()).trim();
                break;
            }
        }
        SamplerKind kind = NAMES.get(key);
        if (kind == null) {
            throw new IllegalArgumentException("unknown sampler '" + name + "'; accepted: " + acceptedNames()
                    + " (any of them + \" Karras\" for Karras sigmas)");
        }
        return new SamplerSpec(kind, karras);
    }

    /** Canonical name: "euler", "dpmpp_2m_karras", ... */
    public String canonicalName() {
        return kind.canonicalName() + (karras ? "_karras" : "");
    }

    /** The A1111 spelling, for the PNG {@code parameters} chunk. */
    public String a1111Name() {
        String base = switch (kind) {
            case EULER -> "Euler";
            case EULER_ANCESTRAL -> "Euler a";
            case DPMPP_2M -> "DPM++ 2M";
            case DDIM -> "DDIM";
            case DDPM -> "DDPM";
            case LMS -> "LMS";
            case HEUN -> "Heun";
            case DPM2 -> "DPM2";
            case LCM -> "LCM";
            case IPNDM -> "iPNDM";
            case DPM2_ANCESTRAL -> "DPM2 a";
            case DPMPP_2S_ANCESTRAL -> "DPM++ 2S a";
        };
        return karras ? base + " Karras" : base;
    }

    public static List<String> acceptedNames() {
        List<String> out = new ArrayList<>();
        out.add("Euler");
        out.add("Euler a");
        out.add("DPM++ 2M");
        out.add("DDIM");
        out.add("DDPM");
        out.add("LMS");
        out.add("Heun");
        out.add("DPM2");
        out.add("LCM");
        out.add("iPNDM");
        out.add("DPM2 a");
        out.add("DPM++ 2S a");
        out.add("EulerDiscreteScheduler");
        out.add("EulerAncestralDiscreteScheduler");
        out.add("DPMSolverMultistepScheduler");
        out.add("DDIMScheduler");
        out.add("DDPMScheduler");
        out.add("LMSDiscreteScheduler");
        out.add("HeunDiscreteScheduler");
        out.add("KDPM2DiscreteScheduler");
        out.add("KDPM2AncestralDiscreteScheduler");
        for (SamplerKind k : SamplerKind.values()) {
            out.add(k.canonicalName());
        }
        return out;
    }
}
