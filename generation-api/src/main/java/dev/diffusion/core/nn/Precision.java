package dev.diffusion.core.nn;

import java.util.Locale;

/**
 * Numeric precision of the matrix products and convolutions of a network. Norms, softmax,
 * residual sums and everything elementwise stay float32 either way (as autocast does), so bf16
 * only changes where the FLOPs are.
 */
public enum Precision {
    FP32,
    BF16;

    public static Precision parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "fp32", "f32", "float32", "float" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("precision must be fp32 or bf16, got '" + name + "'");
        };
    }

    /** Bytes one weight takes at this precision. */
    public int bytesPerWeight() {
        return this == FP32 ? 4 : 2;
    }
}
