package dev.diffusion.core.weights;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Writes float32 tensors to a {@code .safetensors} file, stored as F32, F16 or BF16, in the order
 * they were added, with an optional {@code __metadata__} map. Values are pulled from their source
 * only while writing, so a whole {@link Weights} can be copied without holding it all in memory.
 */
public final class SafeTensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int WRITE_CHUNK = 1 << 16;

    private record Pending(long[] shape, Supplier<float[]> values) {
    }

    private final TensorDtype dtype;
    private final Map<String, Pending> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter(TensorDtype dtype) {
        if (!dtype.isWritable()) {
            throw new IllegalArgumentException("can only write F32, F16 or BF16, not " + dtype);
        }
        this.dtype = dtype;
    }

    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public SafeTensorsWriter metadata(Map<String, String> entries) {
        metadata.putAll(entries);
        return this;
    }

    /** Adds one tensor; {@code values} are row-major for {@code shape}. */
    public SafeTensorsWriter add(String name, long[] shape, float[] values) {
        checkCount(name, shape, values.length);
        return add(name, shape, () -> values);
    }

    /** Adds one tensor whose values are read only when the file is written. */
    public SafeTensorsWriter add(String name, long[] shape, Supplier<float[]> values) {
        if (name.equals("__metadata__")) {
            throw new IllegalArgumentException("__metadata__ is reserved");
        }
        if (tensors.putIfAbsent(name, new Pending(shape.clone(), values)) != null) {
            throw new IllegalArgumentException("tensor " + name + " added twice");
        }
        return this;
    }

    /** Adds every tensor of {@code weights} under its own name (read lazily). */
    public SafeTensorsWriter addAll(Weights weights) {
        for (String key : weights.keys()) {
            add(key, weights.info(key).shape(), () -> weights.floats(key));
        }
        return this;
    }

    /** Writes the file (replacing it), creating parent folders. */
    public void write(Path file) {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, Pending> t : tensors.entrySet()) {
            long bytes = elementCount(t.getValue().shape()) * dtype.byteSize();
            ObjectNode entry = header.putObject(t.getKey());
            entry.put("dtype", dtype.name());
            ArrayNode shape = entry.putArray("shape");
            for (long d : t.getValue().shape()) {
                shape.add(d);
            }
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(header);
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot encode header: " + e.getMessage(), e);
        }
        // pad with spaces so the data starts 8-byte aligned, as the reference writer does
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        try {
            if (file.getParent() != null) {
                Files.createDirectories(file.getParent());
            }
            try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                writeFully(out, head);
                ByteBuffer chunk = ByteBuffer.allocate(WRITE_CHUNK * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
                for (Map.Entry<String, Pending> t : tensors.entrySet()) {
                    float[] values = t.getValue().values().get();
                    checkCount(t.getKey(), t.getValue().shape(), values.length);
                    writeValues(out, chunk, values);
                }
            }
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot write: " + e.getMessage(), e);
        }
    }

    private void writeValues(FileChannel out, ByteBuffer chunk, float[] values) throws IOException {
        for (int start = 0; start < values.length; start += WRITE_CHUNK) {
            int end = Math.min(values.length, start + WRITE_CHUNK);
            chunk.clear();
            switch (dtype) {
                case F32 -> {
                    for (int i = start; i < end; i++) {
                        chunk.putFloat(values[i]);
                    }
                }
                case F16 -> {
                    for (int i = start; i < end; i++) {
                        chunk.putShort(Float16.fromFloat(values[i]));
                    }
                }
                case BF16 -> {
                    for (int i = start; i < end; i++) {
                        chunk.putShort(Float16.bfloat16FromFloat(values[i]));
                    }
                }
                default -> throw new AssertionError(dtype);
            }
            chunk.flip();
            writeFully(out, chunk);
        }
    }

    private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
    }

    private static void checkCount(String name, long[] shape, int count) {
        if (elementCount(shape) != count) {
            throw new WeightsException("tensor " + name + ": shape holds " + elementCount(shape) + " values but "
                    + count + " were given");
        }
    }

    private static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Writes {@code weights} to {@code file} in one call. */
    public static void write(Path file, Weights weights, TensorDtype dtype, Map<String, String> metadata) {
        new SafeTensorsWriter(dtype).metadata(metadata).addAll(weights).write(file);
    }
}
