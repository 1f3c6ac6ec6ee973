package dev.diffusion.core.weights;

import java.util.Set;

/**
 * Named tensors of one network, under the diffusers key names of that network with its prefix
 * removed (for the U-Net: {@code down_blocks.0.resnets.0.conv1.weight}; for the text encoder:
 * {@code text_model.encoder.layers.0.self_attn.q_proj.weight}; for the VAE:
 * {@code decoder.up_blocks.0.resnets.0.conv1.weight}). Shapes are PyTorch's (OIHW for
 * convolutions, [out, in] for linear layers). Whatever the stored dtype, values are read as
 * float32.
 */
public interface Weights {

    /** Every key this source holds. */
    Set<String> keys();

    default boolean contains(String key) {
        return keys().contains(key);
    }

    /** Shape and stored dtype of a tensor; throws {@link WeightsException} naming the key when absent. */
    TensorInfo info(String key);

    /** The tensor's values as float32 in row-major (PyTorch) order. */
    float[] floats(String key);

    /**
     * A view of the tensors whose keys start with {@code prefix}, under their keys with the prefix
     * removed (e.g. {@code prefixed("unet.")}). Reads are delegated; nothing is copied.
     */
    default Weights prefixed(String prefix) {
        return new PrefixedWeights(this, prefix);
    }

    /** Receives a tensor's values in order, a chunk at a time; {@code chunk} is reused between calls. */
    @FunctionalInterface
    interface ChunkSink {
        void accept(float[] chunk, int length);
    }

    /**
     * Streams the tensor's values in row-major order. File-backed sources override this to convert
     * a chunk at a time, so loading a model never holds a whole tensor on the Java heap; the
     * default hands over {@link #floats} in one piece.
     */
    default void readChunks(String key, ChunkSink sink) {
        float[] v = floats(key);
        sink.accept(v, v.length);
    }
}
