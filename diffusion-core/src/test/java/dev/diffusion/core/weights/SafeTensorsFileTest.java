package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SafeTensorsFileTest {

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * 3;
        }
        return v;
    }

    @Test
    void roundTripsF32ExactlyWithMetadataAndOrder() throws Exception {
        Path file = RawSafeTensors.scratch("roundtrip-f32").resolve("w.safetensors");
        float[] a = random(2 * 3 * 3 * 3, 1);
        float[] b = {1.5f, -0.0f, Float.MIN_VALUE};
        new SafeTensorsWriter(TensorDtype.F32)
                .metadata("format", "pt")
                .add("z.conv.weight", new long[] {2, 3, 3, 3}, a)
                .add("a.bias", new long[] {3}, b)
                .add("scalar", new long[] {}, new float[] {7f})
                .add("empty", new long[] {0, 4}, new float[0])
                .write(file);
        assertEquals(0, (Files.size(file) - 8 - ByteBuffer.wrap(Files.readAllBytes(file), 0, 8)
                .order(ByteOrder.LITTLE_ENDIAN).getLong()) % 4, "data length");
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            assertEquals(List.of("z.conv.weight", "a.bias", "scalar", "empty"), List.copyOf(f.keys()));
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertEquals("F32", f.info("z.conv.weight").dtype());
            assertArrayEquals(new long[] {2, 3, 3, 3}, f.info("z.conv.weight").shape());
            assertArrayEquals(a, f.floats("z.conv.weight"));
            assertArrayEquals(b, f.floats("a.bias"));
            assertArrayEquals(new float[] {7f}, f.floats("scalar"));
            assertEquals(0, f.floats("empty").length);
            assertEquals(Files.size(file), f.fileBytes());
            ByteBuffer raw = f.rawBytes("a.bias");
            assertEquals(12, raw.remaining());
            assertEquals(1.5f, raw.getFloat(0));
        }
    }

    @Test
    void storesF16AndBF16AsTheNearestValue() throws Exception {
        Path dir = RawSafeTensors.scratch("roundtrip-half");
        float[] v = random(100_003, 2); // more than one conversion chunk
        v[0] = 1e-6f; // an fp16 subnormal
        v[1] = 70000f; // fp16 overflow
        for (TensorDtype dtype : new TensorDtype[] {TensorDtype.F16, TensorDtype.BF16}) {
            Path file = dir.resolve(dtype + ".safetensors");
            new SafeTensorsWriter(dtype).add("t", new long[] {v.length}, v).write(file);
            try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
                assertEquals(dtype, f.dtype("t"));
                float[] back = f.floats("t");
                float[] expected = new float[v.length];
                for (int i = 0; i < v.length; i++) {
                    expected[i] = dtype == TensorDtype.F16 ? Float16.toFloat(Float16.fromFloat(v[i]))
                            : Float16.bfloat16ToFloat(Float16.bfloat16FromFloat(v[i]));
                }
                assertArrayEquals(expected, back);
                if (dtype == TensorDtype.F16) {
                    assertEquals(17 * 0x1p-24f, back[0], "subnormal kept: 1e-6 = 16.78 * 2^-24");
                    assertEquals(Float.POSITIVE_INFINITY, back[1]);
                }
                FloatBuffer into = FloatBuffer.allocate(v.length + 2);
                into.put(42f);
                f.readFloats("t", into);
                assertEquals(v.length + 1, into.position());
                assertEquals(back[v.length - 1], into.get(v.length));
            }
        }
    }

    @Test
    void leavesIntegerPositionIdsOut() throws Exception {
        byte[] data = new byte[8 * 3 + 4];
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putLong(0).putLong(1).putLong(2).putFloat(2.5f);
        Path file = RawSafeTensors.write(RawSafeTensors.scratch("position-ids").resolve("te.safetensors"),
                "{\"text_model.embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[0,24]},"
                        + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]}}", data);
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            assertEquals(List.of("w"), List.copyOf(f.keys()));
            assertEquals(List.of("text_model.embeddings.position_ids"), List.copyOf(f.ignoredKeys()));
            assertFalse(f.contains("text_model.embeddings.position_ids"));
            assertArrayEquals(new float[] {2.5f}, f.floats("w"));
        }
    }

    @Test
    void prefixedViewStripsThePrefix() {
        MapWeights w = new MapWeights()
                .put("unet.conv_in.bias", new long[] {2}, new float[] {1, 2})
                .put("vae.conv_in.bias", new long[] {1}, new float[] {3});
        Weights unet = w.prefixed("unet.");
        assertEquals(List.of("conv_in.bias"), List.copyOf(unet.keys()));
        assertArrayEquals(new float[] {1, 2}, unet.floats("conv_in.bias"));
        assertEquals("conv_in.bias", unet.info("conv_in.bias").name());
    }
}
