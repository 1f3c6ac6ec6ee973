package dev.diffusion.core.weights;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A memory-mapped {@code .safetensors} file: an 8-byte little-endian header length, a JSON header
 * ({@code name -> {dtype, shape, data_offsets}} plus an optional {@code __metadata__} map of
 * strings), then the tensor bytes. Each tensor is mapped on its own when read, so files larger
 * than 2 GB need no single huge buffer. The header is fully checked at open; F32, F16 and BF16
 * tensors read as float32.
 *
 * <p>Integer {@code position_ids} tensors (a buffer transformers saves with CLIP text models) are
 * left out of {@link #keys()}: they hold 0..76 and are not weights.
 */
public final class SafeTensorsFile implements Weights, AutoCloseable {
    /** The reference implementation refuses headers over 100 MB; so do we. */
    private static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    private static final int CONVERT_CHUNK = 1 << 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Entry(TensorInfo info, TensorDtype dtype, long begin, long end) {
    }

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final long dataLength;
    private final Map<String, Entry> entries;
    private final Set<String> ignoredKeys;
    private final Map<String, String> metadata;

    private SafeTensorsFile(Path path, FileChannel channel, long dataStart, long dataLength, Map<String, Entry> entries,
                            Set<String> ignoredKeys, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.dataLength = dataLength;
        this.entries = entries;
        this.ignoredKeys = ignoredKeys;
        this.metadata = metadata;
    }

    /** Opens and checks the file; throws {@link WeightsException} naming the file (and tensor) when it is unusable. */
    public static SafeTensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new WeightsException(path + ": no such file");
        } catch (IOException e) {
            throw new WeightsException(path + ": cannot open: " + e.getMessage(), e);
        }
        try {
            return readHeader(path, channel);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        } catch (IOException e) {
            closeQuietly(channel);
            throw new WeightsException(path + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static SafeTensorsFile readHeader(Path path, FileChannel channel) throws IOException {
        long fileSize = channel.size();
        if (fileSize < 8) {
            throw new WeightsException(path + ": " + fileSize + " bytes is too short for a safetensors file (no header length)");
        }
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, lengthBytes, 0);
        long headerLength = lengthBytes.getLong(0);
        if (headerLength < 0 || headerLength > fileSize - 8) {
            throw new WeightsException(path + ": header length " + Long.toUnsignedString(headerLength)
                    + " is larger than the file (" + fileSize + " bytes): not a safetensors file, or truncated");
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new WeightsException(path + ": header length " + headerLength + " exceeds " + MAX_HEADER_BYTES + " bytes");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
        readFully(channel, headerBytes, 8);
        JsonNode header;
        try {
            header = JSON.readTree(headerBytes.array());
        } catch (JsonProcessingException e) {
            throw new WeightsException(path + ": corrupt safetensors header (invalid JSON): " + e.getOriginalMessage(), e);
        }
        if (header == null || !header.isObject()) {
            throw new WeightsException(path + ": corrupt safetensors header: expected a JSON object");
        }
        long dataStart = 8 + headerLength;
        long dataLength = fileSize - dataStart;
        Map<String, Entry> entries = new LinkedHashMap<>();
        Set<String> ignored = new java.util.LinkedHashSet<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            JsonNode node = field.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) {
                    throw new WeightsException(path + ": corrupt safetensors header: __metadata__ is not an object");
                }
                node.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            Entry entry = parseEntry(path, name, node, dataLength);
            if (isIgnorable(name, entry.dtype())) {
                ignored.add(name);
            } else {
                entries.put(name, entry);
            }
        }
        return new SafeTensorsFile(path, channel, dataStart, dataLength, Collections.unmodifiableMap(entries),
                Collections.unmodifiableSet(ignored), Collections.unmodifiableMap(metadata));
    }

    private static boolean isIgnorable(String name, TensorDtype dtype) {
        return (name.equals("position_ids") || name.endsWith(".position_ids")) && !dtype.isReadableAsFloat();
    }

    private static Entry parseEntry(Path path, String name, JsonNode node, long dataLength) {
        String where = path + ": tensor " + name;
        if (!node.isObject()) {
            throw new WeightsException(where + ": corrupt header entry (not an object)");
        }
        JsonNode dtypeNode = node.get("dtype");
        JsonNode shapeNode = node.get("shape");
        JsonNode offsetsNode = node.get("data_offsets");
        if (dtypeNode == null || !dtypeNode.isTextual() || shapeNode == null || !shapeNode.isArray()
                || offsetsNode == null || !offsetsNode.isArray() || offsetsNode.size() != 2) {
            throw new WeightsException(where + ": corrupt header entry (needs dtype, shape, data_offsets[2]): " + node);
        }
        TensorDtype dtype = TensorDtype.parse(dtypeNode.asText());
        if (dtype == null) {
            throw new WeightsException(where + ": unknown dtype " + dtypeNode.asText());
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new WeightsException(where + ": corrupt shape " + shapeNode);
            }
            shape[i] = d.asLong();
            try {
                elements = Math.multiplyExact(elements, shape[i]);
            } catch (ArithmeticException overflow) {
                throw new WeightsException(where + ": shape " + shapeNode + " overflows");
            }
        }
        JsonNode b = offsetsNode.get(0);
        JsonNode e = offsetsNode.get(1);
        if (!b.isIntegralNumber() || !e.isIntegralNumber() || !b.canConvertToLong() || !e.canConvertToLong()) {
            throw new WeightsException(where + ": corrupt data_offsets " + offsetsNode);
        }
        long begin = b.asLong();
        long end = e.asLong();
        if (begin < 0 || end < begin) {
            throw new WeightsException(where + ": corrupt data_offsets " + offsetsNode);
        }
        if (end > dataLength) {
            throw new WeightsException(where + ": data_offsets " + offsetsNode + " run past the end of the data ("
                    + dataLength + " bytes): the file is truncated or corrupt");
        }
        long expected;
        try {
            expected = Math.multiplyExact(elements, dtype.byteSize());
        } catch (ArithmeticException overflow) {
            throw new WeightsException(where + ": shape " + shapeNode + " overflows");
        }
        if (end - begin != expected) {
            throw new WeightsException(where + ": data_offsets " + offsetsNode + " span " + (end - begin)
                    + " bytes but shape " + java.util.Arrays.toString(shape) + " of " + dtype + " needs " + expected);
        }
        return new Entry(new TensorInfo(name, dtype.name(), shape), dtype, begin, end);
    }

    public Path path() {
        return path;
    }

    /** The header's {@code __metadata__} strings (empty when there are none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensors present in the file but left out of {@link #keys()} (integer {@code position_ids}). */
    public Set<String> ignoredKeys() {
        return ignoredKeys;
    }

    @Override
    public Set<String> keys() {
        return entries.keySet();
    }

    @Override
    public boolean contains(String key) {
        return entries.containsKey(key);
    }

    @Override
    public TensorInfo info(String key) {
        Entry e = entry(key);
        return new TensorInfo(e.info().name(), e.info().dtype(), e.info().shape().clone());
    }

    /** The stored dtype of a tensor. */
    public TensorDtype dtype(String key) {
        return entry(key).dtype();
    }

    /**
     * The tensor's stored bytes: a read-only, little-endian view of the mapped file. It stays valid
     * after {@link #close()}.
     */
    public ByteBuffer rawBytes(String key) {
        Entry e = entry(key);
        if (!channel.isOpen()) {
            throw new WeightsException(path + ": closed (reading tensor " + key + ")");
        }
        long length = e.end() - e.begin();
        if (length > Integer.MAX_VALUE) {
            throw new WeightsException(path + ": tensor " + key + ": " + length + " bytes is too large to map as one buffer");
        }
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException | RuntimeException ex) {
            throw new WeightsException(path + ": tensor " + key + ": cannot map: " + ex, ex);
        }
    }

    @Override
    public float[] floats(String key) {
        Entry e = entry(key);
        long count = e.info().elementCount();
        if (count > Integer.MAX_VALUE - 8) {
            throw new WeightsException(path + ": tensor " + key + ": " + count + " elements do not fit a Java array");
        }
        float[] out = new float[(int) count];
        readFloats(key, FloatBuffer.wrap(out));
        return out;
    }

    /** Converts the tensor a chunk at a time straight from the mapped file (no whole-tensor array). */
    @Override
    public void readChunks(String key, ChunkSink sink) {
        Entry e = entry(key);
        long count = e.info().elementCount();
        float[] chunk = new float[(int) Math.min(CONVERT_CHUNK, Math.max(1, count))];
        FloatBuffer window = FloatBuffer.wrap(chunk);
        ByteBuffer bytes = rawBytes(key);
        try {
            if (!e.dtype().isReadableAsFloat()) {
                throw new WeightsException(path + ": tensor " + key + ": unsupported dtype " + e.dtype()
                        + " (only F32, F16 and BF16 tensors can be read as weights)");
            }
            int width = e.dtype() == TensorDtype.F32 ? 4 : 2;
            for (long done = 0; done < count; ) {
                int n = (int) Math.min(chunk.length, count - done);
                ByteBuffer part = bytes.slice((int) (done * width), n * width).order(ByteOrder.LITTLE_ENDIAN);
                window.clear();
                switch (e.dtype()) {
                    case F32 -> window.put(part.asFloatBuffer());
                    case F16 -> convert(part.asShortBuffer(), window, false);
                    case BF16 -> convert(part.asShortBuffer(), window, true);
                    default -> throw new AssertionError(e.dtype());
                }
                sink.accept(chunk, n);
                done += n;
            }
        } finally {
            unmap(bytes);
        }
    }

    /** Writes the tensor's values as float32 into {@code dst} at its position, advancing it. */
    public void readFloats(String key, FloatBuffer dst) {
        Entry e = entry(key);
        if (!e.dtype().isReadableAsFloat()) {
            throw new WeightsException(path + ": tensor " + key + ": unsupported dtype " + e.dtype()
                    + " (only F32, F16 and BF16 tensors can be read as weights)");
        }
        long count = e.info().elementCount();
        if (dst.remaining() < count) {
            throw new WeightsException(path + ": tensor " + key + ": " + count + " values do not fit the "
                    + dst.remaining() + " left in the destination");
        }
        ByteBuffer bytes = rawBytes(key);
        try {
            switch (e.dtype()) {
                case F32 -> dst.put(bytes.asFloatBuffer());
                case F16 -> convert(bytes.asShortBuffer(), dst, false);
                case BF16 -> convert(bytes.asShortBuffer(), dst, true);
                default -> throw new AssertionError(e.dtype());
            }
        } finally {
            unmap(bytes);
        }
    }

    /**
     * Releases a mapping now rather than at some later GC: mapped pages count in the process's
     * resident set while mapped, and loading maps every tensor once, so without this a 2 GB
     * checkpoint would sit in RSS beside the weights copied out of it.
     */
    private static void unmap(ByteBuffer mapped) {
        if (UNSAFE == null || !mapped.isDirect()) {
            return;
        }
        try {
            UNSAFE.invokeCleaner(mapped);
        } catch (RuntimeException e) {
            // a slice or duplicate cannot be cleaned: leave it to the GC
        }
    }

    private static final sun.misc.Unsafe UNSAFE = findUnsafe();

    private static sun.misc.Unsafe findUnsafe() {
        try {
            java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** Bulk-copies 16-bit values in chunks and widens them, straight into the destination's array when it has one. */
    private static void convert(ShortBuffer src, FloatBuffer dst, boolean bfloat16) {
        short[] halves = new short[Math.min(CONVERT_CHUNK, src.remaining())];
        float[] scratch = dst.hasArray() ? null : new float[halves.length];
        while (src.hasRemaining()) {
            int n = Math.min(halves.length, src.remaining());
            src.get(halves, 0, n);
            float[] out = scratch != null ? scratch : dst.array();
            int at = scratch != null ? 0 : dst.arrayOffset() + dst.position();
            if (bfloat16) {
                for (int i = 0; i < n; i++) {
                    out[at + i] = Float16.bfloat16ToFloat(halves[i]);
                }
            } else {
                Float16.toFloats(halves, 0, out, at, n);
            }
            if (scratch != null) {
                dst.put(scratch, 0, n);
            } else {
                dst.position(dst.position() + n);
            }
        }
    }

    private Entry entry(String key) {
        Entry e = entries.get(key);
        if (e == null) {
            throw new WeightsException(path + ": no tensor named " + key);
        }
        return e;
    }

    /** Bytes of the file on disk. */
    public long fileBytes() {
        return dataStart + dataLength;
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    @Override
    public String toString() {
        return "SafeTensorsFile[" + path + ", " + entries.size() + " tensors]";
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing useful to do: the file was only read
        }
    }
}
