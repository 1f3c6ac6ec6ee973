package dev.diffusion.core.vae;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.weights.Weights;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;

/**
 * Stable Diffusion's KL autoencoder (diffusers {@code AutoencoderKL}, CompVis
 * {@code first_stage_model}), with weights under diffusers names ({@code encoder.*},
 * {@code quant_conv.*}, {@code post_quant_conv.*}, {@code decoder.*}).
 *
 * <p>The decoder and the encoder are two separate graphs: {@link #decoderOnly} holds (and reads)
 * only {@code post_quant_conv} and {@code decoder}, {@link #encoderOnly} only {@code encoder} and
 * {@code quant_conv}, so a decode service never loads the encoder. Batch size and spatial size are
 * free per call. Thread-safe: TensorFlow sessions may be run concurrently.
 */
public final class AutoencoderKL implements AutoCloseable {
    private final VaeConfig config;
    private final VaeDecoder decoder;
    private final VaeEncoder encoder;

    private AutoencoderKL(VaeConfig config, VaeDecoder decoder, VaeEncoder encoder) {
        this.config = config;
        this.decoder = decoder;
        this.encoder = encoder;
    }

    /** Decoder and encoder. */
    public static AutoencoderKL load(VaeConfig config, Weights weights, Precision precision) {
        VaeDecoder d = new VaeDecoder(config, weights, precision);
        try {
            return new AutoencoderKL(config, d, new VaeEncoder(config, weights, precision));
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    /** Only {@code post_quant_conv} + {@code decoder}; {@link #encode} throws. */
    public static AutoencoderKL decoderOnly(VaeConfig config, Weights weights, Precision precision) {
        return new AutoencoderKL(config, new VaeDecoder(config, weights, precision), null);
    }

    /** Only {@code encoder} + {@code quant_conv}; {@link #decode} throws. */
    public static AutoencoderKL encoderOnly(VaeConfig config, Weights weights, Precision precision) {
        return new AutoencoderKL(config, null, new VaeEncoder(config, weights, precision));
    }

    /**
     * Builds the encoder half into a graph the caller owns (for training): images NHWC in [-1, 1] →
     * {@code encoder} → {@code quant_conv} → moments [B, h, w, 2·latent_channels], the mean channels
     * then the logvar channels, logvar not yet clamped. Same module tree and keys as {@link #encode}.
     */
    public static Operand<TFloat32> buildEncoder(Nn nn, VaeConfig config, Operand<TFloat32> images) {
        return VaeEncoder.buildMoments(nn, config, images);
    }

    /**
     * Builds the decoder half into a graph the caller owns (for training): U-Net latents NHWC →
     * ÷ {@code scaling_factor} → {@code post_quant_conv} → {@code decoder} → images NHWC. Same
     * module tree and keys as {@link #decode}.
     */
    public static Operand<TFloat32> buildDecoder(Nn nn, VaeConfig config, Operand<TFloat32> latents) {
        return VaeDecoder.build(nn, config, latents);
    }

    public VaeConfig config() {
        return config;
    }

    public boolean hasDecoder() {
        return decoder != null;
    }

    public boolean hasEncoder() {
        return encoder != null;
    }

    /** Parameters of the parts loaded. */
    public long parameterCount() {
        return (decoder == null ? 0 : decoder.parameterCount()) + (encoder == null ? 0 : encoder.parameterCount());
    }

    /**
     * U-Net latents → images. Divides by {@code scaling_factor} itself.
     *
     * @param latentsNhwc [batch, h, w, latent_channels] in the U-Net's latent space
     * @return NHWC [batch, 8h, 8w, out_channels] in the decoder's range (≈[-1, 1], not clamped)
     */
    public float[] decode(float[] latentsNhwc, int batch, int h, int w) {
        if (decoder == null) {
            throw new IllegalStateException("this AutoencoderKL was loaded without its decoder");
        }
        checkShape("latents", latentsNhwc, batch, h, w, config.latentChannels());
        return decoder.decode(latentsNhwc, batch, h, w);
    }

    /**
     * Images → the latent distribution (unscaled; use {@link #sample} or {@link Moments#mode} for U-Net latents).
     *
     * @param imagesNhwc [batch, height, width, in_channels] in [-1, 1]; height and width multiples of 8
     */
    public Moments encode(float[] imagesNhwc, int batch, int height, int width) {
        if (encoder == null) {
            throw new IllegalStateException("this AutoencoderKL was loaded without its encoder");
        }
        int f = config.downscale();
        if (height % f != 0 || width % f != 0) {
            throw new IllegalArgumentException("image size " + width + "x" + height + " is not a multiple of " + f);
        }
        checkShape("images", imagesNhwc, batch, height, width, config.inChannels());
        return encoder.encode(imagesNhwc, batch, height, width);
    }

    /** {@code scaling_factor·(mean + exp(logvar/2)·noise)}: U-Net latents drawn with the given standard normal noise. */
    public float[] sample(Moments moments, float[] noise) {
        return moments.sample(noise, config.scalingFactor(), config.shiftFactor());
    }

    /**
     * Decoded images → 8-bit RGB, {@code round(clamp((x+1)/2, 0, 1)·255)} (half up), NaN → 0; the layout
     * is kept (NHWC floats → HWC bytes per image). Rounding, as diffusers' {@code numpy_to_pil}
     * ({@code (x·255).round()}) and as the stable-diffusion.cpp fixture PNGs are written: they equal
     * round(float image·255) at every sample, truncation at only about half (the parity test checks
     * this). A1111 truncates ({@code astype(np.uint8)}), so its images are at most one level darker.
     * So −1 → 0, 0 → 128, 1 → 255.
     */
    public static byte[] toRgb8(float[] decoded) {
        byte[] out = new byte[decoded.length];
        for (int i = 0; i < decoded.length; i++) {
            float v = (decoded[i] + 1.0f) * 0.5f;
            v = v < 0f ? 0f : (v > 1f ? 1f : v);
            out[i] = Float.isNaN(v) ? 0 : (byte) Math.round(v * 255.0f);
        }
        return out;
    }

    /** RGB8 → the encoder's input range [-1, 1]: x / 127.5 − 1 (so 0 → −1, 255 → 1). */
    public static float[] fromRgb8(byte[] rgb) {
        float[] x = new float[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            x[i] = (rgb[i] & 0xFF) / 127.5f - 1.0f;
        }
        return x;
    }

    private static void checkShape(String what, float[] values, int batch, int h, int w, int c) {
        if (batch < 1 || h < 1 || w < 1) {
            throw new IllegalArgumentException(what + ": batch and sizes must be positive, got [" + batch + ", " + h + ", " + w + "]");
        }
        long n = (long) batch * h * w * c;
        if (values.length != n) {
            throw new IllegalArgumentException(what + " of shape [" + batch + ", " + h + ", " + w + ", " + c + "] need " + n
                    + " values, got " + values.length);
        }
    }

    @Override
    public void close() {
        if (decoder != null) {
            decoder.close();
        }
        if (encoder != null) {
            encoder.close();
        }
    }
}
