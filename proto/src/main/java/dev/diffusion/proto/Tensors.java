package dev.diffusion.proto;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.diffusion.proto.v1.DType;
import dev.diffusion.proto.v1.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * {@link Tensor} to and from Java arrays: raw little-endian bytes, row-major, with an explicit shape. The readers
 * check what the wire can get wrong (dtype, rank, a dimension below 1, data length against the shape) and throw
 * {@link IllegalArgumentException} naming the field, which services turn into {@code INVALID_ARGUMENT}.
 */
public final class Tensors {
    private Tensors() {
    }

    /** floats as the List a repeated float field's addAll takes (timesteps, the VAE's latent RGB map). */
    public static java.util.List<Float> floatList(float[] values) {
        Float[] out = new Float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return java.util.List.of(out);
    }

    public static Tensor float32(float[] values, long... shape) {
        checkCount(values.length, shape);
        ByteBuffer buffer = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asFloatBuffer().put(values);
        return Tensor.newBuilder().setDtype(DType.FLOAT32).addAllShape(boxed(shape))
                .setData(UnsafeByteOperations.unsafeWrap(buffer.array())).build();
    }

    public static Tensor uint8(byte[] values, long... shape) {
        checkCount(values.length, shape);
        return Tensor.newBuilder().setDtype(DType.UINT8).addAllShape(boxed(shape)).setData(ByteString.copyFrom(values)).build();
    }

    /**
     * The shape of {@code tensor}, checked: {@code rank} dimensions, each at least 1, and (for a known dtype) data of
     * exactly product(shape) × element size bytes.
     */
    public static int[] shape(Tensor tensor, String field, int rank) {
        if (tensor.getShapeCount() != rank) {
            throw new IllegalArgumentException(field + ": rank must be " + rank + ", got shape " + tensor.getShapeList());
        }
        int[] shape = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++) {
            long d = tensor.getShape(i);
            if (d < 1 || d > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(field + ": every dimension must be >= 1, got shape " + tensor.getShapeList());
            }
            shape[i] = (int) d;
            count = Math.multiplyExact(count, d);
        }
        long bytes = switch (tensor.getDtype()) {
            case FLOAT32 -> count * Float.BYTES;
            case UINT8 -> count;
            default -> throw new IllegalArgumentException(field + ": dtype must be FLOAT32 or UINT8, got " + tensor.getDtype());
        };
        if (tensor.getData().size() != bytes) {
            throw new IllegalArgumentException(field + ": data is " + tensor.getData().size() + " bytes but shape "
                    + tensor.getShapeList() + " of " + tensor.getDtype() + " needs " + bytes);
        }
        return shape;
    }

    /** The values of a FLOAT32 tensor (call {@link #shape} first to check the shape). */
    public static float[] floats(Tensor tensor, String field) {
        if (tensor.getDtype() != DType.FLOAT32) {
            throw new IllegalArgumentException(field + ": dtype must be FLOAT32, got " + tensor.getDtype());
        }
        if (tensor.getData().size() % Float.BYTES != 0) {
            throw new IllegalArgumentException(field + ": data length " + tensor.getData().size() + " is not a multiple of 4");
        }
        float[] values = new float[tensor.getData().size() / Float.BYTES];
        tensor.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    /** The values of a UINT8 tensor. */
    public static byte[] bytes(Tensor tensor, String field) {
        if (tensor.getDtype() != DType.UINT8) {
            throw new IllegalArgumentException(field + ": dtype must be UINT8, got " + tensor.getDtype());
        }
        return tensor.getData().toByteArray();
    }

    /** Throws when a value is NaN or infinite, naming the field and the first bad index. */
    public static float[] requireFinite(float[] values, String field) {
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                throw new IllegalArgumentException(field + ": values must be finite, got " + values[i] + " at index " + i);
            }
        }
        return values;
    }

    private static void checkCount(int length, long[] shape) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        if (count != length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + count + " values, got " + length);
        }
    }

    private static Iterable<Long> boxed(long[] shape) {
        return Arrays.stream(shape).boxed().toList();
    }
}
