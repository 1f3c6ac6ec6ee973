package dev.diffusion.core.sampling;

import java.util.Locale;

/** Which random stream seeded noise comes from (the streams: {@code NoiseGenerator.create} in diffusion-core). */
public enum RngKind {
    /**
     * Philox 4x32-10 with Box-Muller, as A1111's "NV" generator and stable-diffusion.cpp's
     * {@code --rng cuda}: the same numbers torch gives on a CUDA device for the same seed.
     */
    PHILOX,
    /** torch's CPU generator (mt19937), as ComfyUI and diffusers on CPU seed their noise. */
    CPU;

    /** "philox", "cuda", "nv", "gpu" -> PHILOX; "cpu", "torch", "mt19937" -> CPU (case-insensitive). */
    public static RngKind parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "philox", "cuda", "nv", "gpu" -> PHILOX;
            case "cpu", "torch", "mt19937" -> CPU;
            default -> throw new IllegalArgumentException(
                    "unknown RNG '" + name + "'; accepted: philox (cuda, nv, gpu), cpu (torch, mt19937)");
        };
    }
}
