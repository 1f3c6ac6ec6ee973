package dev.diffusion.core.sampling;

/**
 * A seeded stream of standard normal floats. Each call to {@link #randn(int)} is one "draw" of a
 * whole tensor, as {@code torch.randn(shape, generator=g)} is; its state is a small value that can
 * be saved with a job and restored on another machine ({@link #position()}).
 */
public interface NoiseGenerator {

    /** Next {@code n} standard normal values, in the order torch would fill a contiguous tensor. */
    float[] randn(int n);

    /** The generator kind (which stream the values come from). */
    RngKind kind();

    /** The seed this stream was started from. */
    long seed();

    /**
     * Where the stream stands, as one number: Philox's offset (one per draw); for the CPU stream the
     * number of values drawn so far. {@link #create(RngKind, long, long)} restores it.
     */
    long position();

    /** A fresh stream of {@code kind} for {@code seed}. */
    static NoiseGenerator create(RngKind kind, long seed) {
        return create(kind, seed, 0);
    }

    /** A stream of {@code kind} for {@code seed} positioned as {@link #position()} reported it. */
    static NoiseGenerator create(RngKind kind, long seed, long position) {
        return switch (kind) {
            case PHILOX -> new PhiloxGenerator(seed, position);
            case CPU -> TorchCpuGenerator.atPosition(seed, position);
        };
    }
}
