package dev.diffusion.core.sampling;

/** The shape and memory layout of a batch of latents, so per-image noise lands where the pipeline expects it. */
public record LatentShape(int batch, int channels, int height, int width, Layout layout)
        implements java.io.Serializable {

    public enum Layout { NCHW, NHWC }

    public LatentShape {
        if (batch < 1 || channels < 1 || height < 1 || width < 1) {
            throw new IllegalArgumentException("bad latent shape " + batch + "x" + channels + "x" + height + "x" + width);
        }
    }

    /** NHWC latents, the pipeline's layout. */
    public static LatentShape nhwc(int batch, int channels, int height, int width) {
        return new LatentShape(batch, channels, height, width, Layout.NHWC);
    }

    public static LatentShape nchw(int batch, int channels, int height, int width) {
        return new LatentShape(batch, channels, height, width, Layout.NCHW);
    }

    public int imageSize() {
        return channels * height * width;
    }

    public int size() {
        return batch * imageSize();
    }
}
