package dev.diffusion.proto;

import dev.diffusion.proto.v1.DType;
import dev.diffusion.proto.v1.Tensor;
import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TensorsTest {
    @Test
    void float32IsLittleEndianRowMajor() {
        Tensor t = Tensors.float32(new float[] {1.0f, -2.5f}, 1, 2);
        // 1.0f = 0x3F800000, -2.5f = 0xC0200000, least significant byte first
        assertArrayEquals(new byte[] {0, 0, (byte) 0x80, 0x3F, 0, 0, 0x20, (byte) 0xC0}, t.getData().toByteArray());
        assertArrayEquals(new int[] {1, 2}, Tensors.shape(t, "x", 2));
        assertArrayEquals(new float[] {1.0f, -2.5f}, Tensors.floats(t, "x"));
    }

    @Test
    void checksNameTheFieldAndTheLimit() {
        Tensor t = Tensors.float32(new float[6], 1, 2, 3);
        assertEquals("latents: rank must be 4, got shape [1, 2, 3]",
                assertThrows(IllegalArgumentException.class, () -> Tensors.shape(t, "latents", 4)).getMessage());
        Tensor shortData = t.toBuilder().setData(ByteString.copyFrom(new byte[20])).build();
        assertEquals("latents: data is 20 bytes but shape [1, 2, 3] of FLOAT32 needs 24",
                assertThrows(IllegalArgumentException.class, () -> Tensors.shape(shortData, "latents", 3)).getMessage());
        Tensor zero = t.toBuilder().setShape(0, 0).build();
        assertThrows(IllegalArgumentException.class, () -> Tensors.shape(zero, "latents", 3));
        Tensor noType = t.toBuilder().setDtype(DType.DTYPE_UNSPECIFIED).build();
        assertThrows(IllegalArgumentException.class, () -> Tensors.shape(noType, "latents", 3));
        assertEquals("latents: values must be finite, got NaN at index 1", assertThrows(IllegalArgumentException.class,
                () -> Tensors.requireFinite(new float[] {0, Float.NaN}, "latents")).getMessage());
    }
}
