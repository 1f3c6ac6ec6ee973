package dev.diffusion.trainer;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * One picture of the shapes world: a single shape of one colour at one of five positions on a
 * plain background, with its exact geometry (centre and half-extent in pixels). The four
 * attributes are the vocabulary the demo model learns and the evaluator checks.
 */
public record Scene(Shape shape, Colour colour, Position position, Background background,
                    double centerX, double centerY, double halfExtent, int imageSize) {

    public enum Shape { CIRCLE, SQUARE, TRIANGLE }

    /** Shape colours, as sRGB 8-bit values; far from each other and from every background. */
    public enum Colour {
        RED(220, 30, 30), GREEN(30, 170, 50), BLUE(30, 60, 220), YELLOW(240, 215, 30), PURPLE(140, 40, 180),
        ORANGE(250, 140, 20);

        public final int r;
        public final int g;
        public final int b;

        Colour(int r, int g, int b) {
            this.r = r;
            this.g = g;
            this.b = b;
        }
    }

    /** Where the shape's centre sits, as fractions of the image side. */
    public enum Position {
        LEFT(0.27, 0.5), RIGHT(0.73, 0.5), TOP(0.5, 0.27), BOTTOM(0.5, 0.73), CENTER(0.5, 0.5);

        public final double x;
        public final double y;

        Position(double x, double y) {
            this.x = x;
            this.y = y;
        }
    }

    public enum Background {
        WHITE(255), BLACK(0), GRAY(128);

        public final int level;

        Background(int level) {
            this.level = level;
        }
    }

    /** Half-extents (pixels, for a 64-pixel image) of shapes called small / large in captions. */
    static final double SMALL_BELOW = 9.0;
    static final double LARGE_ABOVE = 12.0;
    static final double MIN_HALF = 7.5;
    static final double MAX_HALF = 13.0;
    /** Jitter of the centre around its position, as a fraction of the image side. */
    static final double POSITION_JITTER = 0.035;

    /** A random scene: every attribute uniform, size and centre jittered. */
    public static Scene random(SplittableRandom rng, int imageSize) {
        return of(pick(rng, Shape.values()), pick(rng, Colour.values()), pick(rng, Position.values()),
                pick(rng, Background.values()), rng, imageSize);
    }

    /** A scene with the given attributes and random size and jitter. */
    public static Scene of(Shape shape, Colour colour, Position position, Background background, SplittableRandom rng,
                           int imageSize) {
        double scale = imageSize / 64.0;
        double half = (MIN_HALF + rng.nextDouble() * (MAX_HALF - MIN_HALF)) * scale;
        double cx = (position.x + (rng.nextDouble() * 2 - 1) * POSITION_JITTER) * imageSize;
        double cy = (position.y + (rng.nextDouble() * 2 - 1) * POSITION_JITTER) * imageSize;
        return new Scene(shape, colour, position, background, cx, cy, half, imageSize);
    }

    static <T> T pick(SplittableRandom rng, T[] values) {
        return values[rng.nextInt(values.length)];
    }

    public boolean small() {
        return halfExtent * 64.0 / imageSize < SMALL_BELOW;
    }

    public boolean large() {
        return halfExtent * 64.0 / imageSize > LARGE_ABOVE;
    }

    /** Whether the point (x, y), in pixels, lies inside the shape. */
    boolean contains(double x, double y) {
        double dx = x - centerX;
        double dy = y - centerY;
        return switch (shape) {
            case CIRCLE -> dx * dx + dy * dy <= halfExtent * halfExtent;
            // a square of side 1.8·h has about the area of a circle of radius h
            case SQUARE -> Math.abs(dx) <= 0.9 * halfExtent && Math.abs(dy) <= 0.9 * halfExtent;
            // apex up, base 2h wide, height 2h: fills half of its bounding box
            case TRIANGLE -> dy <= halfExtent && dy >= -halfExtent && Math.abs(dx) <= (dy + halfExtent) / 2;
        };
    }

    /** The scene drawn as 8-bit RGB (row-major HWC), anti-aliased by 4×4 supersampling. */
    public byte[] render() {
        int n = imageSize;
        byte[] rgb = new byte[n * n * 3];
        int bg = background.level;
        int ss = 4;
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                int inside = 0;
                for (int sy = 0; sy < ss; sy++) {
                    for (int sx = 0; sx < ss; sx++) {
                        if (contains(x + (sx + 0.5) / ss, y + (sy + 0.5) / ss)) {
                            inside++;
                        }
                    }
                }
                double c = inside / (double) (ss * ss);
                int i = (y * n + x) * 3;
                rgb[i] = (byte) Math.round(bg + c * (colour.r - bg));
                rgb[i + 1] = (byte) Math.round(bg + c * (colour.g - bg));
                rgb[i + 2] = (byte) Math.round(bg + c * (colour.b - bg));
            }
        }
        return rgb;
    }

    /** Pixels as the VAE sees them: RGB8 → [-1, 1], HWC written at {@code offset} of {@code out}. */
    public static void toUnit(byte[] rgb, float[] out, int offset) {
        for (int i = 0; i < rgb.length; i++) {
            out[offset + i] = (rgb[i] & 0xff) / 127.5f - 1f;
        }
    }

    public static String word(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return word(colour) + " " + word(shape) + " " + word(position) + " on " + word(background);
    }
}
