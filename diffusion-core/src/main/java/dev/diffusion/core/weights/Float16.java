package dev.diffusion.core.weights;

/**
 * IEEE 754 binary16 and bfloat16 conversions. Reading uses a 65536-entry table, so converting a
 * 2 GB fp16 checkpoint is one array lookup per element.
 */
public final class Float16 {
    private static final float[] HALF_TO_FLOAT = new float[1 << 16];

    static {
        for (int h = 0; h < HALF_TO_FLOAT.length; h++) {
            HALF_TO_FLOAT[h] = computeHalfToFloat(h);
        }
    }

    private Float16() {
    }

    /** The float32 value of the binary16 bit pattern {@code bits} (low 16 bits used). */
    public static float toFloat(short bits) {
        return HALF_TO_FLOAT[bits & 0xffff];
    }

    /** The float32 value of the bfloat16 bit pattern: bfloat16 is the upper half of a float32. */
    public static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** Converts {@code count} binary16 values. */
    public static void toFloats(short[] src, int srcPos, float[] dst, int dstPos, int count) {
        float[] table = HALF_TO_FLOAT;
        for (int i = 0; i < count; i++) {
            dst[dstPos + i] = table[src[srcPos + i] & 0xffff];
        }
    }

    private static float computeHalfToFloat(int h) {
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0) {
            // zero and subnormals: mantissa * 2^-24, exact in float32
            float magnitude = mantissa * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        if (exponent == 0x1f) {
            // infinities, and NaNs with their payload kept
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        return Float.intBitsToFloat(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
    }

    /** The binary16 nearest to {@code value} (ties to even); overflow gives infinity. */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = (bits >>> 23) & 0xff;
        int mantissa = bits & 0x7fffff;
        if (exponent == 0xff) {
            return (short) (sign | 0x7c00 | (mantissa != 0 ? 0x200 | (mantissa >>> 13) : 0));
        }
        int halfExponent = exponent - 127 + 15;
        if (halfExponent >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (halfExponent <= 0) {
            if (halfExponent < -10) {
                return (short) sign; // below half the smallest subnormal: rounds to zero
            }
            // subnormal: value / 2^-24 = (1.mantissa * 2^23) >> (14 - halfExponent)
            int significand = mantissa | 0x800000;
            int shift = 14 - halfExponent;
            return (short) (sign | roundShift(significand, shift));
        }
        // normal: a carry out of the mantissa correctly bumps the exponent (up to infinity)
        return (short) (sign | roundShift((halfExponent << 23) | mantissa, 13));
    }

    /** The bfloat16 nearest to {@code value} (ties to even). */
    public static short bfloat16FromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7f800000) == 0x7f800000 && (bits & 0x7fffff) != 0) {
            return (short) ((bits >>> 16) | 0x40); // keep NaN a NaN
        }
        return (short) roundShift(bits, 16);
    }

    private static int roundShift(int value, int shift) {
        int kept = value >>> shift;
        int remainder = value & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (remainder > half || (remainder == half && (kept & 1) != 0)) {
            kept++;
        }
        return kept;
    }
}
