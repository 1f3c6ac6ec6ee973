package dev.diffusion.core.sampling;

/**
 * torch's CPU generator ({@code torch.manual_seed(seed); torch.randn(n)}, float32): an mt19937
 * engine seeded with the low 32 bits of the seed, and torch's CPU normal kernel on top of it.
 *
 * <p>For {@code n >= 16} (every latent), torch first fills the tensor with 24-bit uniforms
 * ({@code (r & 0xFFFFFF) / 2^24}, one engine output each), then turns each block of 16 into normals by
 * Box-Muller: for {@code j < 8}, {@code u1 = 1 - d[j]}, {@code u2 = d[j+8]},
 * {@code d[j] = r cos(2 pi u2)}, {@code d[j+8] = r sin(2 pi u2)} with {@code r = sqrt(-2 ln u1)}. When
 * {@code n} is not a multiple of 16, the last 16 elements are refilled with 16 new uniforms and
 * transformed again. For {@code n < 16}, torch draws scalar double normals (53-bit uniforms from two
 * engine outputs each, the sine branch cached for the next value, even across calls).
 */
public final class TorchCpuGenerator implements NoiseGenerator {
    private static final int N = 624;
    private static final int M = 397;

    private final long seed;
    private final int[] mt = new int[N];
    private int index;
    private long drawn;
    private boolean hasCachedNormal;
    private double cachedNormal;

    public TorchCpuGenerator(long seed) {
        this.seed = seed;
        mt[0] = (int) seed;
        for (int j = 1; j < N; j++) {
            mt[j] = 1812433253 * (mt[j - 1] ^ (mt[j - 1] >>> 30)) + j;
        }
        index = N;
    }

    /** A stream for {@code seed} after {@code position} engine outputs (see {@link #position()}). */
    static TorchCpuGenerator atPosition(long seed, long position) {
        TorchCpuGenerator g = new TorchCpuGenerator(seed);
        for (long i = 0; i < position; i++) {
            g.nextInt();
        }
        return g;
    }

    /** One 32-bit mt19937 output (Matsumoto and Nishimura 1998). */
    int nextInt() {
        if (index >= N) {
            for (int k = 0; k < N; k++) {
                int y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
                mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? 0x9908b0df : 0);
            }
            index = 0;
        }
        int y = mt[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        drawn++;
        return y;
    }

    private float uniformFloat() {
        return (nextInt() & 0xFFFFFF) * (1.0f / (1 << 24));
    }

    private double uniformDouble() {
        long hi = nextInt() & 0xFFFFFFFFL;
        long lo = nextInt() & 0xFFFFFFFFL;
        long r = (hi << 32) | lo;
        return (r & ((1L << 53) - 1)) * (1.0 / (1L << 53));
    }

    @Override
    public float[] randn(int n) {
        float[] d = new float[n];
        if (n >= 16) {
            for (int i = 0; i < n; i++) {
                d[i] = uniformFloat();
            }
            for (int i = 0; i + 16 <= n; i += 16) {
                boxMuller16(d, i);
            }
            if (n % 16 != 0) {
                int start = n - 16;
                for (int i = 0; i < 16; i++) {
                    d[start + i] = uniformFloat();
                }
                boxMuller16(d, start);
            }
        } else {
            for (int i = 0; i < n; i++) {
                d[i] = (float) scalarNormal();
            }
        }
        return d;
    }

    private static void boxMuller16(float[] d, int at) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1 - d[at + j];
            float u2 = d[at + j + 8];
            float radius = (float) Math.sqrt(-2 * (float) Math.log(u1));
            float theta = (float) (2.0 * Math.PI * u2);
            d[at + j] = radius * (float) Math.cos(theta);
            d[at + j + 8] = radius * (float) Math.sin(theta);
        }
    }

    private double scalarNormal() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = uniformDouble();
        double u2 = uniformDouble();
        double r = Math.sqrt(-2 * Math.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        hasCachedNormal = true;
        return r * Math.cos(theta);
    }

    @Override
    public RngKind kind() {
        return RngKind.CPU;
    }

    @Override
    public long seed() {
        return seed;
    }

    /**
     * Engine outputs consumed so far. A stream holding a cached scalar normal (after an odd number of
     * values from draws of fewer than 16) has state beyond this count and cannot be snapshotted.
     */
    @Override
    public long position() {
        if (hasCachedNormal) {
            throw new IllegalStateException("torch CPU stream holds a cached normal; position is not resumable");
        }
        return drawn;
    }
}
