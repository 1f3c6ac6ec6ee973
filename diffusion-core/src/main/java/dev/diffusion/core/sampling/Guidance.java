package dev.diffusion.core.sampling;

/** Classifier-free guidance (Ho and Salimans 2022): out = out_u + scale * (out_c - out_u). */
public final class Guidance {
    private Guidance() {
    }

    /** The guided prediction, into a new array. Works for eps and v predictions alike (it is linear). */
    public static float[] combine(float[] uncond, float[] cond, double scale) {
        if (uncond.length != cond.length) {
            throw new IllegalArgumentException("uncond has " + uncond.length + " floats, cond " + cond.length);
        }
        float[] out = new float[cond.length];
        float s = (float) scale;
        for (int i = 0; i < out.length; i++) {
            out[i] = uncond[i] + s * (cond[i] - uncond[i]);
        }
        return out;
    }
}
