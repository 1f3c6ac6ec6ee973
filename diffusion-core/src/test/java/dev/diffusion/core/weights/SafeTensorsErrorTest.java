package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every way a file can be broken gives an error naming the file and, where there is one, the tensor. */
class SafeTensorsErrorTest {
    private static Path dir;

    @BeforeAll
    static void scratch() throws Exception {
        dir = RawSafeTensors.scratch("errors");
    }

    private static void assertFails(Executable open, Path file, String... parts) {
        WeightsException e = assertThrows(WeightsException.class, open);
        assertTrue(e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "mentions '" + part + "': " + e.getMessage());
        }
    }

    @Test
    void headerLengthLargerThanTheFile() throws Exception {
        Path file = RawSafeTensors.write(dir.resolve("long-header.safetensors"), 1_000_000, "{}", new byte[0]);
        assertFails(() -> SafeTensorsFile.open(file), file, "header length 1000000", "larger than the file");
    }

    @Test
    void fileTooShortForAHeaderLength() throws Exception {
        Path file = dir.resolve("tiny.safetensors");
        java.nio.file.Files.write(file, new byte[] {1, 2, 3});
        assertFails(() -> SafeTensorsFile.open(file), file, "too short");
    }

    @Test
    void corruptHeaderJson() throws Exception {
        Path file = RawSafeTensors.write(dir.resolve("bad-json.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],", new byte[4]);
        assertFails(() -> SafeTensorsFile.open(file), file, "invalid JSON");
    }

    @Test
    void headerEntryWithoutOffsets() throws Exception {
        Path file = RawSafeTensors.write(dir.resolve("no-offsets.safetensors"),
                "{\"down.conv.weight\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]);
        assertFails(() -> SafeTensorsFile.open(file), file, "down.conv.weight", "data_offsets");
    }

    @Test
    void truncatedFile() throws Exception {
        Path file = dir.resolve("truncated.safetensors");
        new SafeTensorsWriter(TensorDtype.F16)
                .add("first.weight", new long[] {4}, new float[4])
                .add("last.weight", new long[] {8, 8}, new float[64])
                .write(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(raf.length() - 10);
        }
        assertFails(() -> SafeTensorsFile.open(file), file, "last.weight", "past the end", "truncated");
    }

    @Test
    void offsetsInconsistentWithShapeAndDtype() throws Exception {
        Path file = RawSafeTensors.write(dir.resolve("bad-extent.safetensors"),
                "{\"mid.attn.q.weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", new byte[24]);
        assertFails(() -> SafeTensorsFile.open(file), file, "mid.attn.q.weight", "span 24 bytes", "needs 12");
    }

    @Test
    void negativeOrReversedOffsets() throws Exception {
        Path file = RawSafeTensors.write(dir.resolve("reversed.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", new byte[8]);
        assertFails(() -> SafeTensorsFile.open(file), file, "tensor w", "data_offsets");
    }

    @Test
    void unknownDtype() throws Exception {
        Path file = RawSafeTensors.write(dir.resolve("unknown-dtype.safetensors"),
                "{\"w.q4\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", new byte[2]);
        assertFails(() -> SafeTensorsFile.open(file), file, "w.q4", "unknown dtype Q4_K");
    }

    @Test
    void integerAndDoubleTensorsCannotBeReadAsWeights() throws Exception {
        Path file = RawSafeTensors.write(dir.resolve("int-and-double.safetensors"),
                "{\"model.steps\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                        + "\"conv.weight\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[16,24]}}", new byte[24]);
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            assertFails(() -> f.floats("model.steps"), file, "model.steps", "unsupported dtype I64");
            assertFails(() -> f.floats("conv.weight"), file, "conv.weight", "unsupported dtype F64");
        }
    }

    @Test
    void missingFileAndMissingTensor() throws Exception {
        Path missing = dir.resolve("nowhere.safetensors");
        assertFails(() -> SafeTensorsFile.open(missing), missing, "no such file");
        Path file = dir.resolve("small.safetensors");
        new SafeTensorsWriter(TensorDtype.F32).add("a", new long[] {1}, new float[1]).write(file);
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            assertFails(() -> f.floats("b.weight"), file, "no tensor named b.weight");
        }
        SafeTensorsFile closed = SafeTensorsFile.open(file);
        closed.close();
        assertFails(() -> closed.floats("a"), file, "closed", "a");
    }
}
