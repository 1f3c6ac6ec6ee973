package dev.diffusion.core.weights;

import java.util.Locale;

/**
 * The element types a safetensors header may name. Only {@link #F32}, {@link #F16} and
 * {@link #BF16} can be read as floats; the others are known so that their byte extents can be
 * checked (and, for {@code position_ids}, ignored).
 */
public enum TensorDtype {
    F64(8), F32(4), F16(2), BF16(2),
    I64(8), I32(4), I16(2), I8(1),
    U64(8), U32(4), U16(2), U8(1),
    BOOL(1), F8_E4M3(1), F8_E5M2(1);

    private final int byteSize;

    TensorDtype(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    /** Whether {@link SafeTensorsFile#floats} can convert this type to float32. */
    public boolean isReadableAsFloat() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** Whether {@link SafeTensorsWriter} can store float32 values in this type. */
    public boolean isWritable() {
        return isReadableAsFloat();
    }

    /** The dtype for a header's string, or null when the string names no safetensors dtype. */
    static TensorDtype parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
