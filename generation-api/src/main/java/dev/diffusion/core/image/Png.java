package dev.diffusion.core.image;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * Minimal PNG codec for 8-bit RGB images with text chunks (PNG spec, ISO/IEC 15948). Stable
 * Diffusion tools store the generation settings in a {@code tEXt} chunk keyed {@code parameters};
 * we write the same, so A1111's "PNG Info" and ComfyUI read our images' settings back.
 */
public final class Png {
    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private Png() {}

    /** An 8-bit RGB image, rows top to bottom, 3 bytes per pixel, plus its text chunks. */
    public record Image(int width, int height, byte[] rgb, Map<String, String> text) {}

    public static byte[] encodeRgb(int width, int height, byte[] rgb, Map<String, String> text) {
        if (rgb.length != width * height * 3) {
            throw new IllegalArgumentException("rgb has " + rgb.length + " bytes, expected " + (width * height * 3));
        }
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.write(SIGNATURE);
            ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
            DataOutputStream h = new DataOutputStream(ihdr);
            h.writeInt(width);
            h.writeInt(height);
            h.writeByte(8); // bit depth
            h.writeByte(2); // colour type: truecolour
            h.writeByte(0); // deflate
            h.writeByte(0); // adaptive filtering
            h.writeByte(0); // no interlace
            chunk(out, "IHDR", ihdr.toByteArray());
            for (Map.Entry<String, String> e : text.entrySet()) {
                // tEXt is Latin-1; prompts may hold any character, so use iTXt (UTF-8) when needed, as A1111 does
                String value = e.getValue();
                if (StandardCharsets.ISO_8859_1.newEncoder().canEncode(value)) {
                    chunk(out, "tEXt", concat(latin1(e.getKey()), new byte[] {0}, latin1(value)));
                } else {
                    chunk(out, "iTXt", concat(latin1(e.getKey()), new byte[] {0, 0, 0, 0, 0}, value.getBytes(StandardCharsets.UTF_8)));
                }
            }
            int stride = width * 3;
            byte[] raw = new byte[(stride + 1) * height];
            for (int y = 0; y < height; y++) {
                raw[y * (stride + 1)] = 0; // filter: none
                System.arraycopy(rgb, y * stride, raw, y * (stride + 1) + 1, stride);
            }
            Deflater deflater = new Deflater(6);
            deflater.setInput(raw);
            deflater.finish();
            ByteArrayOutputStream z = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            while (!deflater.finished()) {
                int n = deflater.deflate(buf);
                z.write(buf, 0, n);
            }
            deflater.end();
            chunk(out, "IDAT", z.toByteArray());
            chunk(out, "IEND", new byte[0]);
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The largest image {@link #decode} takes, 16,777,216 pixels (4096², or 8192 × 2048): 2048² is the largest a job
     * may ask for, and an init image is resized to the job. Its RGB is 48 MiB; the raw data is inflated a row at a
     * time, so a decode holds little more (a 512 MiB orchestrator decodes several at once).
     */
    public static final long MAX_DECODED_PIXELS = 1L << 24;

    /**
     * Reads a non-interlaced PNG of any colour type and bit depth the format allows (greyscale, RGB, palette, each
     * with or without alpha; 1 to 16 bits) into 8-bit RGB, with its text chunks. Alpha is dropped, as
     * stable-diffusion.cpp drops it; 16-bit samples keep their high byte; greyscale is spread to the three channels.
     */
    public static Image decode(byte[] png) {
        return decode(png, null);
    }

    /**
     * An 8-bit RGBA PNG (colour type 6, what Pillow opens as "RGBA") with some pixel not opaque, composited over the
     * opaque colour {@code background} (0xRRGGBB) as Pillow's {@code alpha_composite} does, pixel for pixel: what
     * A1111's img2img does to such an image ({@code images.flatten}, onto its {@code img2img_background_color},
     * white by default). Any other PNG: {@link #decode}, its alpha (if any) dropped.
     */
    public static Image decodeFlattened(byte[] png, int background) {
        byte[][] alpha = new byte[1][];
        Image image = decodeWithAlpha(png, alpha);
        if (alpha[0] == null || png[25] != 6) { // IHDR's colour type (decode checked it comes first): RGBA only
            return image;
        }
        byte[] a = alpha[0];
        byte[] rgb = image.rgb();
        int[] bg = {(background >> 16) & 0xff, (background >> 8) & 0xff, background & 0xff};
        for (int p = 0; p < a.length; p++) {
            int sa = a[p] & 0xff;
            if (sa == 0) {
                rgb[3 * p] = (byte) bg[0];
                rgb[3 * p + 1] = (byte) bg[1];
                rgb[3 * p + 2] = (byte) bg[2];
                continue;
            }
            for (int c = 0; c < 3; c++) {
                rgb[3 * p + c] = (byte) composite(rgb[3 * p + c] & 0xff, sa, bg[c]);
            }
        }
        return image;
    }

    /**
     * One channel of a pixel of alpha {@code alpha} over an opaque one, as Pillow's {@code alpha_composite}
     * (AlphaComposite.c: 7 fractional bits, its rounded division by 255).
     */
    public static int composite(int src, int alpha, int dst) {
        if (alpha == 0) {
            return dst;
        }
        long outA255 = alpha * 255L + 255L * (255 - alpha);
        long coef1 = alpha * 255L * 255L * 128 / outA255;
        long coef2 = 255L * 128 - coef1;
        long t = src * coef1 + dst * coef2 + (0x80L << 7);
        return (int) ((((t >> 8) + t) >> 8) >> 7);
    }

    /**
     * As {@link #decode}; a PNG with some pixel not opaque, by an 8-bit alpha channel (RGBA or grey + alpha) or by a
     * tRNS chunk (a palette's alphas, or the transparent colour of an 8-bit grey or RGB image), also leaves its
     * alpha, one byte per pixel, in {@code alphaOut[0]} (else null there; a JPEG has none).
     */
    public static Image decodeWithAlpha(byte[] png, byte[][] alphaOut) {
        return decode(png, alphaOut);
    }

    private static Image decode(byte[] png, byte[][] alphaOut) {
        if (isJpeg(png)) {
            if (alphaOut != null) {
                alphaOut[0] = null;
            }
            return decodeJpeg(png);
        }
        for (int i = 0; i < SIGNATURE.length; i++) {
            if (png.length < 8 || png[i] != SIGNATURE[i]) {
                throw new IllegalArgumentException("not a PNG file (bad signature)");
            }
        }
        int pos = 8;
        int width = 0;
        int height = 0;
        int depth = 0;
        int colourType = -1;
        byte[] palette = null;
        byte[] transparency = null; // tRNS: alpha per palette entry, or the one transparent grey or RGB colour
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        Map<String, String> text = new LinkedHashMap<>();
        while (pos + 8 <= png.length) {
            int len = readInt(png, pos);
            String type = new String(png, pos + 4, 4, StandardCharsets.ISO_8859_1);
            if (len < 0 || pos + 12 + len > png.length) {
                throw new IllegalArgumentException("PNG chunk " + type + " runs past the end of the file");
            }
            int data = pos + 8;
            switch (type) {
                case "IHDR" -> {
                    if (len < 13) {
                        throw new IllegalArgumentException("PNG IHDR chunk is " + len + " bytes, not 13");
                    }
                    width = readInt(png, data);
                    height = readInt(png, data + 4);
                    depth = png[data + 8];
                    colourType = png[data + 9];
                    int interlace = png[data + 12];
                    boolean valid = switch (colourType) {
                        case 0 -> depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
                        case 3 -> depth == 1 || depth == 2 || depth == 4 || depth == 8;
                        case 2, 4, 6 -> depth == 8 || depth == 16;
                        default -> false;
                    };
                    if (!valid) {
                        throw new IllegalArgumentException("not a valid PNG: bit depth " + depth + " with colour type " + colourType);
                    }
                    if (interlace != 0) {
                        throw new IllegalArgumentException("unsupported PNG: interlaced (Adam7); save it non-interlaced");
                    }
                    if (width < 1 || height < 1 || (long) width * height > MAX_DECODED_PIXELS) {
                        throw new IllegalArgumentException("PNG is " + Integer.toUnsignedString(width) + "x"
                                + Integer.toUnsignedString(height) + " pixels; at most " + MAX_DECODED_PIXELS + " pixels are read");
                    }
                }
                case "PLTE" -> palette = java.util.Arrays.copyOfRange(png, data, data + len);
                case "tRNS" -> transparency = java.util.Arrays.copyOfRange(png, data, data + len);
                case "IDAT" -> idat.write(png, data, len);
                case "tEXt" -> {
                    int zero = indexOf(png, data, data + len);
                    text.put(new String(png, data, zero - data, StandardCharsets.ISO_8859_1),
                            new String(png, zero + 1, data + len - zero - 1, StandardCharsets.ISO_8859_1));
                }
                case "iTXt" -> {
                    int zero = indexOf(png, data, data + len);
                    String key = new String(png, data, zero - data, StandardCharsets.ISO_8859_1);
                    boolean compressed = png[zero + 1] != 0;
                    int p = zero + 3;
                    p = indexOf(png, p, data + len) + 1; // language tag
                    p = indexOf(png, p, data + len) + 1; // translated keyword
                    if (!compressed) {
                        text.put(key, new String(png, p, data + len - p, StandardCharsets.UTF_8));
                    }
                }
                default -> { }
            }
            pos += 12 + len;
            if (type.equals("IEND")) {
                break;
            }
        }
        if (colourType < 0) {
            throw new IllegalArgumentException("PNG has no IHDR chunk");
        }
        if (colourType == 3 && (palette == null || palette.length % 3 != 0 || palette.length == 0)) {
            throw new IllegalArgumentException("PNG with a palette has no valid PLTE chunk");
        }
        int channels = switch (colourType) {
            case 0, 3 -> 1;
            case 4 -> 2;
            case 2 -> 3;
            default -> 4;
        };
        int bitsPerPixel = channels * depth;
        int stride = (int) (((long) width * bitsPerPixel + 7) / 8);
        RowSource raw = new RowSource(idat.toByteArray(), stride, height); // inflated a row at a time
        byte[] rgb = new byte[width * height * 3];
        int w = width;
        int type = colourType;
        int bits = depth;
        byte[] plte = palette;
        boolean alphaChannel = (colourType == 6 || colourType == 4) && depth == 8;
        byte[] trns = colourType == 3 || (transparency != null && depth == 8 && (colourType == 0 || colourType == 2))
                ? transparency : null;
        byte[] alpha = alphaOut != null && (alphaChannel || trns != null) ? new byte[width * height] : null;
        unfilter(raw, height, stride, Math.max(1, bitsPerPixel / 8), (row, y) -> {
            toRgb(row, y, w, type, bits, channels, plte, rgb);
            if (alpha != null) {
                for (int x = 0; x < w; x++) {
                    alpha[y * w + x] = alphaChannel ? row[channels * x + channels - 1] : transparent(row, x, type, bits, trns);
                }
            }
        });
        if (alphaOut != null) {
            alphaOut[0] = null;
        }
        if (alpha != null) {
            boolean opaque = true;
            for (byte v : alpha) {
                opaque &= v == (byte) 0xff;
            }
            alphaOut[0] = opaque ? null : alpha;
        }
        return new Image(width, height, rgb, text);
    }

    /**
     * Pixel x's alpha from a tRNS chunk: a palette entry's, or 0 for the one transparent colour of an 8-bit grey or
     * RGB image (its 16-bit samples' low bytes), else opaque.
     */
    private static byte transparent(byte[] row, int x, int colourType, int depth, byte[] trns) {
        if (colourType == 3) {
            int bit = x * depth;
            int index = ((row[bit >>> 3] & 0xff) >>> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
            return index < trns.length ? trns[index] : (byte) 0xff;
        }
        if (colourType == 0) {
            return trns.length >= 2 && row[x] == trns[1] ? 0 : (byte) 0xff;
        }
        return trns.length >= 6 && row[3 * x] == trns[1] && row[3 * x + 1] == trns[3] && row[3 * x + 2] == trns[5]
                ? 0 : (byte) 0xff;
    }

    /** One unfiltered row (its samples packed as the PNG has them) into 8-bit RGB at row {@code y}. */
    private static void toRgb(byte[] row, int y, int width, int colourType, int depth, int channels, byte[] palette, byte[] rgb) {
        int out = y * width * 3;
        if (depth >= 8) {
            int bytes = depth / 8; // a 16-bit sample keeps its high (first) byte
            for (int x = 0; x < width; x++, out += 3) {
                int at = x * channels * bytes;
                if (colourType == 2 || colourType == 6) {
                    rgb[out] = row[at];
                    rgb[out + 1] = row[at + bytes];
                    rgb[out + 2] = row[at + 2 * bytes];
                } else if (colourType == 3) {
                    paletteEntry(palette, row[at] & 0xff, rgb, out);
                } else { // greyscale, with or without alpha
                    rgb[out] = rgb[out + 1] = rgb[out + 2] = row[at];
                }
            }
            return;
        }
        int max = (1 << depth) - 1;
        for (int x = 0; x < width; x++, out += 3) {
            int bit = x * depth;
            int v = ((row[bit >>> 3] & 0xff) >>> (8 - depth - (bit & 7))) & max;
            if (colourType == 3) {
                paletteEntry(palette, v, rgb, out);
            } else {
                byte g = (byte) (v * 255 / max);
                rgb[out] = rgb[out + 1] = rgb[out + 2] = g;
            }
        }
    }

    private static void paletteEntry(byte[] palette, int index, byte[] rgb, int out) {
        if (3 * index + 2 >= palette.length) {
            throw new IllegalArgumentException("PNG pixel uses palette entry " + index + " of " + palette.length / 3);
        }
        System.arraycopy(palette, 3 * index, rgb, out, 3);
    }

    private interface RowSink {
        void row(byte[] row, int y);
    }

    /** Undoes the rows' filters ({@code bpp}: bytes per complete pixel, at least 1) and hands each row on. */
    private static void unfilter(RowSource raw, int height, int stride, int bpp, RowSink sink) {
        byte[] prev = new byte[stride];
        byte[] cur = new byte[stride];
        byte[] row = new byte[stride + 1];
        for (int y = 0; y < height; y++) {
            raw.next(row);
            int filter = row[0];
            for (int x = 0; x < stride; x++) {
                int a = x >= bpp ? cur[x - bpp] & 0xff : 0;
                int b = prev[x] & 0xff;
                int c = x >= bpp ? prev[x - bpp] & 0xff : 0;
                int v = row[1 + x] & 0xff;
                int pred = switch (filter) {
                    case 0 -> 0;
                    case 1 -> a;
                    case 2 -> b;
                    case 3 -> (a + b) >>> 1;
                    case 4 -> paeth(a, b, c);
                    default -> throw new IllegalArgumentException("bad PNG filter type " + filter + " in row " + y);
                };
                cur[x] = (byte) (v + pred);
            }
            sink.row(cur, y);
            byte[] t = prev;
            prev = cur;
            cur = t;
        }
    }

    private static int paeth(int a, int b, int c) {
        int p = a + b - c;
        int pa = Math.abs(p - a);
        int pb = Math.abs(p - b);
        int pc = Math.abs(p - c);
        if (pa <= pb && pa <= pc) {
            return a;
        }
        return pb <= pc ? b : c;
    }

    /** A JPEG file's start-of-image marker and the first marker after it. */
    static boolean isJpeg(byte[] b) {
        return b.length > 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF;
    }

    /**
     * A JPEG (as OpenAI's edits and A1111's img2img take photos) through the JDK's decoder, as 8-bit RGB; its size is
     * read first and held to {@link #MAX_DECODED_PIXELS}. The JDK's inverse DCT may round a level away from
     * libjpeg's (Pillow's), so a JPEG's pixels can differ from A1111's by that; PNGs are exact.
     */
    private static Image decodeJpeg(byte[] jpeg) {
        try (javax.imageio.stream.ImageInputStream in = javax.imageio.ImageIO.createImageInputStream(
                new java.io.ByteArrayInputStream(jpeg))) {
            java.util.Iterator<javax.imageio.ImageReader> readers = javax.imageio.ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IllegalArgumentException("not a PNG or JPEG file");
            }
            javax.imageio.ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                int w = reader.getWidth(0);
                int h = reader.getHeight(0);
                if ((long) w * h > MAX_DECODED_PIXELS) {
                    throw new IllegalArgumentException("JPEG is " + w + "x" + h + " pixels; at most " + MAX_DECODED_PIXELS
                            + " pixels are read");
                }
                java.awt.image.BufferedImage img = reader.read(0);
                byte[] rgb = new byte[w * h * 3];
                int[] row = new int[w];
                for (int y = 0; y < h; y++) {
                    img.getRGB(0, y, w, 1, row, 0, w);
                    for (int x = 0; x < w; x++) {
                        rgb[(y * w + x) * 3] = (byte) (row[x] >> 16);
                        rgb[(y * w + x) * 3 + 1] = (byte) (row[x] >> 8);
                        rgb[(y * w + x) * 3 + 2] = (byte) row[x];
                    }
                }
                return new Image(w, h, rgb, Map.of());
            } finally {
                reader.dispose();
            }
        } catch (java.io.IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae && iae.getMessage() != null && iae.getMessage().startsWith("JPEG is")) {
                throw iae;
            }
            throw new IllegalArgumentException("not a readable JPEG file: " + e.getMessage(), e);
        }
    }

    /** Width and height from a PNG's IHDR chunk or a JPEG's header, or null when the bytes are neither. */
    public static int[] size(byte[] image) {
        if (isJpeg(image)) {
            try (javax.imageio.stream.ImageInputStream in = javax.imageio.ImageIO.createImageInputStream(
                    new java.io.ByteArrayInputStream(image))) {
                java.util.Iterator<javax.imageio.ImageReader> readers = javax.imageio.ImageIO.getImageReaders(in);
                if (!readers.hasNext()) {
                    return null;
                }
                javax.imageio.ImageReader reader = readers.next();
                try {
                    reader.setInput(in, true, true);
                    return new int[] {reader.getWidth(0), reader.getHeight(0)};
                } finally {
                    reader.dispose();
                }
            } catch (java.io.IOException | RuntimeException e) {
                return null;
            }
        }
        if (image.length < 24 || !java.util.Arrays.equals(java.util.Arrays.copyOf(image, 8), SIGNATURE)) {
            return null;
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(image);
        return new int[] {b.getInt(16), b.getInt(20)};
    }

    /**
     * The image data inflated one filtered row (filter byte + stride) at a time: a large image never holds all its
     * raw bytes at once, only its RGB result.
     */
    private static final class RowSource {
        private final Inflater inflater = new Inflater();
        private final int height;
        private final long expected;
        private long read;

        RowSource(byte[] z, int stride, int height) {
            inflater.setInput(z);
            this.height = height;
            this.expected = (long) (stride + 1) * height;
        }

        void next(byte[] row) {
            try {
                int n = 0;
                while (n < row.length && !inflater.finished()) {
                    int k = inflater.inflate(row, n, row.length - n);
                    if (k == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                        break;
                    }
                    n += k;
                }
                read += n;
                if (n != row.length) {
                    inflater.end();
                    throw new IllegalArgumentException("PNG image data is truncated (" + read + " of " + expected + " bytes)");
                }
                if (read == expected) {
                    inflater.end();
                }
            } catch (DataFormatException e) {
                inflater.end();
                throw new IllegalArgumentException("PNG image data is corrupt: " + e.getMessage(), e);
            }
        }
    }

    private static int indexOf(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == 0) {
                return i;
            }
        }
        throw new IllegalArgumentException("PNG text chunk without a keyword terminator");
    }

    private static int readInt(byte[] b, int p) {
        return ((b[p] & 0xff) << 24) | ((b[p + 1] & 0xff) << 16) | ((b[p + 2] & 0xff) << 8) | (b[p + 3] & 0xff);
    }

    private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
        byte[] t = latin1(type);
        out.writeInt(data.length);
        out.write(t);
        out.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeInt((int) crc.getValue());
    }

    private static byte[] latin1(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int o = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
