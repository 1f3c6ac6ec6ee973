package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The analyser names every attribute of drawn (not generated) scenes, for every combination, at the size
 * extremes; its measurements are the published ones of each figure; and the flawed figures a person would
 * not call a circle, square or triangle (lumps, pinched sides, holes, two colours, two blobs) get no shape.
 */
class ShapeAnalyserTest {
    private static final int SIDE = 64;

    @Test
    void namesEveryAttributeOfEveryDrawnCombination() {
        SplittableRandom rng = new SplittableRandom(7);
        List<String> wrong = new ArrayList<>();
        int checked = 0;
        for (Scene.Shape shape : Scene.Shape.values()) {
            for (Scene.Colour colour : Scene.Colour.values()) {
                for (Scene.Position position : Scene.Position.values()) {
                    for (Scene.Background bg : Scene.Background.values()) {
                        for (int k = 0; k < 3; k++) {
                            Scene s = Scene.of(shape, colour, position, bg, rng, SIDE);
                            if (k < 2) { // the smallest and the largest size, with jitter
                                double half = k == 0 ? Scene.MIN_HALF : Scene.MAX_HALF;
                                s = new Scene(shape, colour, position, bg, s.centerX(), s.centerY(), half, SIDE);
                            }
                            ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(s.render(), SIDE, SIDE);
                            checked++;
                            if (!a.matches(shape, colour, position, bg)) {
                                wrong.add(s + " (half " + s.halfExtent() + ") seen as " + a.describe());
                            }
                        }
                    }
                }
            }
        }
        assertEquals(810, checked);
        assertTrue(wrong.isEmpty(), wrong.size() + " wrong:\n" + String.join("\n", wrong));
    }

    @Test
    void measurementsAreTheFiguresOwn() {
        // 4πA/P²: circle 1, square π/4; our triangle (base 2h, height 2h): A = 2h², P = 2h + 2·√5·h
        double triangleIso = 4 * Math.PI * 2 / Math.pow(2 + 2 * Math.sqrt(5), 2);
        // A/πR², R from the centroid: circle 1, square 2/π, triangle: R = 4h/3 (the apex) → 2/(π·16/9)
        double triangleEnclosing = 2 / (Math.PI * 16 / 9.0);
        ShapeAnalyser.Analysis circle = analyse(Scene.Shape.CIRCLE, 12);
        ShapeAnalyser.Analysis square = analyse(Scene.Shape.SQUARE, 12);
        ShapeAnalyser.Analysis triangle = analyse(Scene.Shape.TRIANGLE, 12);
        assertEquals(1.0, circle.isoperimetric(), 0.03);
        assertEquals(1.0, circle.enclosing(), 0.04);
        assertEquals(Math.PI / 4, square.isoperimetric(), 0.03);
        assertEquals(2 / Math.PI, square.enclosing(), 0.04);
        assertEquals(triangleIso, triangle.isoperimetric(), 0.045); // the sharp apex blunts at 50 % coverage
        assertEquals(triangleEnclosing, triangle.enclosing(), 0.04);
        assertEquals(4, square.corners());
        assertEquals(3, triangle.corners());
        assertEquals(0, circle.corners(), "a circle turns 36° in every tenth of its outline, under the 60° of a corner");
        for (ShapeAnalyser.Analysis a : List.of(circle, square, triangle)) {
            assertEquals(1.0, a.solidity(), 0.03, a.describe());
            assertEquals(1.0, a.colourShare(), 1e-9);
        }
    }

    @Test
    void theMainBlobsColourWhenTheStrongestPixelsAreInAnotherBlob() {
        // white ground, a large yellow disc (far from white only in blue) and a small black dot (far in all three):
        // the disc is the main blob, the dot holds the image's strongest pixels (this crashed ./sd evaluate)
        byte[] rgb = new byte[64 * 64 * 3];
        java.util.Arrays.fill(rgb, (byte) 255);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                int p = (y * 64 + x) * 3;
                if ((x - 24) * (x - 24) + (y - 32) * (y - 32) < 144) {
                    rgb[p + 2] = 0; // yellow (255, 255, 0): 255 from white, above the 0.5 · 441 threshold, below 0.75 · 441
                } else if (Math.abs(x - 56) <= 1 && Math.abs(y - 8) <= 1) {
                    rgb[p] = rgb[p + 1] = rgb[p + 2] = 0;
                }
            }
        }
        ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(rgb, 64, 64);
        assertEquals(Scene.Colour.YELLOW, a.colour(), a.describe());
    }

    @Test
    void aSquareWithSlightlyRoundedCornersIsStillASquare() {
        // corner radius 1.5 px on a 20 px square: a person still says square
        ShapeAnalyser.Analysis a = analyse(drawn((x, y) -> roundedSquare(x - 32, y - 32, 10, 1.5), Scene.Colour.BLUE,
                Scene.Colour.BLUE), Scene.Background.WHITE);
        assertEquals(Scene.Shape.SQUARE, a.shape(), a.describe());
    }

    @Test
    void flawedFiguresAreNoShape() {
        // a lumpy blob: radius 11 px ± 18 % three times round
        assertNoShape(drawn((x, y) -> {
            double r = Math.hypot(x - 32, y - 32);
            double theta = Math.atan2(y - 32, x - 32);
            return r <= 11 * (1 + 0.18 * Math.sin(3 * theta));
        }, Scene.Colour.RED, Scene.Colour.RED), "lumpy blob");
        // a square whose sides bow inwards by 2.5 px at their middles
        assertNoShape(drawn((x, y) -> {
            double dx = Math.abs(x - 32);
            double dy = Math.abs(y - 32);
            double h = 11;
            return dx <= h - 2.5 * Math.cos(Math.PI / 2 * Math.min(1, dy / h))
                    && dy <= h - 2.5 * Math.cos(Math.PI / 2 * Math.min(1, dx / h));
        }, Scene.Colour.ORANGE, Scene.Colour.ORANGE), "pinched square");
        // a ring: a circle of radius 12 with a hole of radius 4
        assertNoShape(drawn((x, y) -> {
            double r = Math.hypot(x - 32, y - 32);
            return r <= 12 && r > 4;
        }, Scene.Colour.PURPLE, Scene.Colour.PURPLE), "ring");
        // a circle half red, half green
        assertNoShape(drawn((x, y) -> Math.hypot(x - 32, y - 32) <= 11, Scene.Colour.RED, Scene.Colour.GREEN),
                "two-colour circle");
        // two circles
        assertNoShape(drawn((x, y) -> Math.hypot(x - 20, y - 32) <= 7 || Math.hypot(x - 44, y - 32) <= 7,
                Scene.Colour.BLUE, Scene.Colour.BLUE), "two circles");
        // a rounded diamond: a square turned 45° with corners rounded 4 px is neither a square nor round
        assertNoShape(drawn((x, y) -> {
            double u = (x - 32 + y - 32) / Math.sqrt(2);
            double v = (x - 32 - (y - 32)) / Math.sqrt(2);
            return roundedSquare(u, v, 10, 4);
        }, Scene.Colour.YELLOW, Scene.Colour.YELLOW), "rounded diamond");
        // a long rectangle has four right angles but is not a square
        assertNoShape(drawn((x, y) -> Math.abs(x - 32) <= 14 && Math.abs(y - 32) <= 7, Scene.Colour.GREEN,
                Scene.Colour.GREEN), "rectangle");
    }

    private static void assertNoShape(byte[] rgb, String what) {
        ShapeAnalyser.Analysis a = analyse(rgb, Scene.Background.WHITE);
        assertNull(a.shape(), what + " seen as " + a.describe());
        assertTrue(!a.flaw().isEmpty(), what + ": " + a.describe());
    }

    private static ShapeAnalyser.Analysis analyse(Scene.Shape shape, double half) {
        Scene s = new Scene(shape, Scene.Colour.RED, Scene.Position.CENTER, Scene.Background.WHITE, 32.3, 31.8, half, SIDE);
        ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(s.render(), SIDE, SIDE);
        assertEquals(shape, a.shape(), a.describe());
        return a;
    }

    private static ShapeAnalyser.Analysis analyse(byte[] rgb, Scene.Background bg) {
        ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(rgb, SIDE, SIDE);
        assertEquals(bg, a.background());
        return a;
    }

    private static boolean roundedSquare(double x, double y, double half, double radius) {
        double ax = Math.abs(x) - (half - radius);
        double ay = Math.abs(y) - (half - radius);
        if (ax <= 0 || ay <= 0) {
            return Math.abs(x) <= half && Math.abs(y) <= half;
        }
        return Math.hypot(ax, ay) <= radius;
    }

    interface Figure {
        boolean contains(double x, double y);
    }

    /** A figure on white, anti-aliased by 4×4 supersampling; pixels left of x = 32 in {@code left}, the rest in {@code right}. */
    static byte[] drawn(Figure f, Scene.Colour left, Scene.Colour right) {
        byte[] rgb = new byte[SIDE * SIDE * 3];
        for (int y = 0; y < SIDE; y++) {
            for (int x = 0; x < SIDE; x++) {
                int inside = 0;
                for (int sy = 0; sy < 4; sy++) {
                    for (int sx = 0; sx < 4; sx++) {
                        inside += f.contains(x + (sx + 0.5) / 4, y + (sy + 0.5) / 4) ? 1 : 0;
                    }
                }
                double c = inside / 16.0;
                Scene.Colour col = x < 32 ? left : right;
                int i = (y * SIDE + x) * 3;
                rgb[i] = (byte) Math.round(255 + c * (col.r - 255));
                rgb[i + 1] = (byte) Math.round(255 + c * (col.g - 255));
                rgb[i + 2] = (byte) Math.round(255 + c * (col.b - 255));
            }
        }
        return rgb;
    }
}
