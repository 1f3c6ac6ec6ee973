package dev.diffusion.core.image;

/** Peak signal-to-noise ratio of two 8-bit images: 10 · log10(255² / mean squared error) over every byte. */
public final class Psnr {
    private Psnr() {}

    /** In dB; {@code +Infinity} for equal images. Both arrays hold the same layout (e.g. RGB8, row-major). */
    public static double of8Bit(byte[] a, byte[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("images differ in size (" + a.length + " vs " + b.length + " bytes)");
        }
        double mse = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (a[i] & 0xff) - (b[i] & 0xff);
            mse += d * d;
        }
        mse /= a.length;
        return mse == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(255.0 * 255.0 / mse);
    }
}
