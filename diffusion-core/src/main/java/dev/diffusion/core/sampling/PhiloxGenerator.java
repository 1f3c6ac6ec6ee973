package dev.diffusion.core.sampling;

/**
 * Philox 4x32-10 normal floats as torch's CUDA {@code randn} produces them, following the
 * formulation of A1111's {@code rng_philox.py} (also used by stable-diffusion.cpp {@code --rng cuda}).
 *
 * <p>For a draw of {@code n} values, element {@code i} uses the counter {@code (offset, 0, i, 0)} and
 * the key {@code (seed low 32 bits, seed high 32 bits)}; after ten rounds, the first two output words
 * feed one Box-Muller transform whose sine branch is the value. Each draw then advances the offset by
 * one, whatever its size. Philox: Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC11).
 */
public final class PhiloxGenerator implements NoiseGenerator {
    private static final long M0 = 0xD2511F53L;
    private static final long M1 = 0xCD9E8D57L;
    private static final int W0 = 0x9E3779B9;
    private static final int W1 = 0xBB67AE85;
    private static final double TWO_POW32_INV = 1.0 / 4294967296.0;
    private static final double TWO_POW32_INV_2PI = 2.0 * Math.PI / 4294967296.0;
    // stable-diffusion.cpp's float constants: 2^-32 and 2^-32 * 2pi, each rounded to float.
    private static final float TWO_POW32_INV_F = 2.3283064e-10f;
    private static final float TWO_POW32_INV_2PI_F = 2.3283064e-10f * 6.2831855f;

    /**
     * The arithmetic of the Box-Muller step. The bits are the same either way; the two reference
     * implementations round differently, by up to about 1.5e-6 on a value.
     */
    public enum Precision {
        /** float arithmetic, as stable-diffusion.cpp {@code --rng cuda} (the fixtures) computes it. */
        FLOAT32,
        /** double arithmetic rounded once to float, as A1111's numpy rng_philox.py computes it. */
        FLOAT64
    }

    private final long seed;
    private final Precision precision;
    private long offset;

    public PhiloxGenerator(long seed) {
        this(seed, 0);
    }

    public PhiloxGenerator(long seed, long offset) {
        this(seed, offset, Precision.FLOAT32);
    }

    public PhiloxGenerator(long seed, long offset, Precision precision) {
        if (offset < 0 || offset > 0xFFFFFFFFL) {
            throw new IllegalArgumentException("Philox offset out of range: " + offset);
        }
        this.seed = seed;
        this.offset = offset;
        this.precision = precision;
    }

    @Override
    public float[] randn(int n) {
        float[] out = new float[n];
        int counter0 = (int) offset;
        int key0 = (int) seed;
        int key1 = (int) (seed >>> 32);
        for (int i = 0; i < n; i++) {
            out[i] = normal(counter0, i, key0, key1, precision);
        }
        offset = (offset + 1) & 0xFFFFFFFFL;
        return out;
    }

    /** One value: Philox of counter (c0, 0, c2, 0) with key (k0, k1), then Box-Muller's sine branch. */
    static float normal(int c0, int c2, int k0, int k1, Precision precision) {
        int x0 = c0;
        int x1 = 0;
        int x2 = c2;
        int x3 = 0;
        for (int round = 0; round < 10; round++) {
            long p0 = (x0 & 0xFFFFFFFFL) * M0;
            long p1 = (x2 & 0xFFFFFFFFL) * M1;
            int y0 = (int) (p1 >>> 32) ^ x1 ^ k0;
            int y2 = (int) (p0 >>> 32) ^ x3 ^ k1;
            x1 = (int) p1;
            x3 = (int) p0;
            x0 = y0;
            x2 = y2;
            k0 += W0;
            k1 += W1;
        }
        // Both uniforms are centred in their 2^-32 bins, so u is never 0.
        if (precision == Precision.FLOAT32) {
            float xf = (float) (x0 & 0xFFFFFFFFL);
            float yf = (float) (x1 & 0xFFFFFFFFL);
            float uf = xf * TWO_POW32_INV_F + TWO_POW32_INV_F / 2;
            float vf = yf * TWO_POW32_INV_2PI_F + TWO_POW32_INV_2PI_F / 2;
            float s = (float) Math.sqrt((float) (-2.0f * (float) Math.log(uf)));
            return s * (float) Math.sin(vf);
        }
        double u = (x0 & 0xFFFFFFFFL) * TWO_POW32_INV + TWO_POW32_INV / 2;
        double v = (x1 & 0xFFFFFFFFL) * TWO_POW32_INV_2PI + TWO_POW32_INV_2PI / 2;
        return (float) (Math.sqrt(-2.0 * Math.log(u)) * Math.sin(v));
    }

    public Precision precision() {
        return precision;
    }

    @Override
    public RngKind kind() {
        return RngKind.PHILOX;
    }

    @Override
    public long seed() {
        return seed;
    }

    @Override
    public long position() {
        return offset;
    }
}
