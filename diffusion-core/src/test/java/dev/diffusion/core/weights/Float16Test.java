package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class Float16Test {

    @Test
    void decodesKnownHalfPatterns() {
        assertEquals(1.0f, Float16.toFloat((short) 0x3c00));
        assertEquals(-2.0f, Float16.toFloat((short) 0xc000));
        assertEquals(65504.0f, Float16.toFloat((short) 0x7bff));
        assertEquals(0x1p-24f, Float16.toFloat((short) 0x0001), "smallest subnormal");
        assertEquals(1023 * 0x1p-24f, Float16.toFloat((short) 0x03ff), "largest subnormal");
        assertEquals(0x1p-14f, Float16.toFloat((short) 0x0400), "smallest normal");
        assertEquals(0.333251953125f, Float16.toFloat((short) 0x3555));
        assertEquals(Float.POSITIVE_INFINITY, Float16.toFloat((short) 0x7c00));
        assertEquals(Float.NEGATIVE_INFINITY, Float16.toFloat((short) 0xfc00));
        assertTrue(Float.isNaN(Float16.toFloat((short) 0x7e00)));
        assertTrue(Float.isNaN(Float16.toFloat((short) 0xfc01)));
        assertEquals(Float.floatToIntBits(-0.0f), Float.floatToIntBits(Float16.toFloat((short) 0x8000)));
        assertEquals(-0x1p-24f * 3, Float16.toFloat((short) 0x8003));
    }

    @Test
    void everyHalfSurvivesTheRoundTrip() {
        for (int h = 0; h < 65536; h++) {
            float f = Float16.toFloat((short) h);
            short back = Float16.fromFloat(f);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(Float16.toFloat(back)));
            } else {
                assertEquals(h, back & 0xffff, "half 0x" + Integer.toHexString(h));
            }
        }
    }

    @Test
    void encodesWithRoundToNearestEven() {
        assertEquals(0x3c00, Float16.fromFloat(1 + 0x1p-11f) & 0xffff, "tie goes to even (down)");
        assertEquals(0x3c02, Float16.fromFloat(1 + 3 * 0x1p-11f) & 0xffff, "tie goes to even (up)");
        assertEquals(0x3c01, Float16.fromFloat(1 + 0x1p-11f + 0x1p-20f) & 0xffff, "above the tie rounds up");
        assertEquals(0x7bff, Float16.fromFloat(65519f) & 0xffff);
        assertEquals(0x7c00, Float16.fromFloat(65520f) & 0xffff, "rounds to infinity");
        assertEquals(0x7c00, Float16.fromFloat(1e9f) & 0xffff);
        assertEquals(0xfc00, Float16.fromFloat(-1e9f) & 0xffff);
        assertEquals(0x0000, Float16.fromFloat(0x1p-25f) & 0xffff, "half the smallest subnormal ties to zero");
        assertEquals(0x0001, Float16.fromFloat(1.5f * 0x1p-25f) & 0xffff);
        assertEquals(0x0002, Float16.fromFloat(3 * 0x1p-25f) & 0xffff, "subnormal tie goes to even");
        assertEquals(0x0400, Float16.fromFloat(0x1p-14f - 0x1p-26f) & 0xffff, "carry into the smallest normal");
        assertEquals(0x0000, Float16.fromFloat(1e-30f) & 0xffff);
        assertEquals(0x8000, Float16.fromFloat(-0.0f) & 0xffff);
        assertTrue(Float.isNaN(Float16.toFloat(Float16.fromFloat(Float.NaN))));
    }

    @Test
    void bfloat16IsTheUpperHalfOfFloat32() {
        assertEquals(1.0f, Float16.bfloat16ToFloat((short) 0x3f80));
        assertEquals(-3.140625f, Float16.bfloat16ToFloat((short) 0xc049));
        assertEquals(0x3f80, Float16.bfloat16FromFloat(1 + 0x1p-8f) & 0xffff, "tie to even");
        assertEquals(0x3f82, Float16.bfloat16FromFloat(1 + 3 * 0x1p-8f) & 0xffff, "tie to even");
        assertEquals(0x7f80, Float16.bfloat16FromFloat(Float.POSITIVE_INFINITY) & 0xffff);
        assertTrue(Float.isNaN(Float16.bfloat16ToFloat(Float16.bfloat16FromFloat(Float.NaN))));
    }
}
