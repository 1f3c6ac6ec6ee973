package dev.diffusion.trainer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Names the background, shape colour, position and shape of a picture of the shapes world from its
 * pixels alone, deterministically, judging the shape by the geometry a person goes by:
 * <ul>
 *   <li>background: the median colour of the border ring, nearest of white / black / gray;</li>
 *   <li>shape pixels: those whose distance from that colour exceeds half the picture's largest
 *       distance (anti-aliased edges split at 50 % coverage); the largest 8-connected group is the
 *       shape;</li>
 *   <li>colour: the nearest palette colour to the mean of the shape's core pixels;</li>
 *   <li>position: the shape's centroid relative to the image centre (the nearer axis wins, a
 *       centroid within {@value #CENTER_RADIUS} of the side from the middle is "center");</li>
 *   <li>shape: none at all unless the picture holds <em>one clean shape</em>: a single blob (no
 *       second group of shape pixels), without holes, of one colour (its core pixels' nearest palette
 *       colour the same for {@value #ONE_COLOUR_SHARE} of them), and not star-like (its area at least
 *       {@value #MIN_SOLIDITY} of its convex hull's). On its sub-pixel outline (marching squares on the
 *       colour distance) a corner is where the outline turns more than {@value #CORNER_TURN_DEGREES}°
 *       within {@value #CORNER_WINDOW} of its length (a circle turns 36° in any such stretch; a rounded
 *       corner still counts). Then:
 *       <ul>
 *         <li>a <b>triangle</b> has 3 corners and straight sides: the middle 60 % of each lies within
 *             {@value #MAX_TRIANGLE_BULGE} of its length of a fitted line;</li>
 *         <li>a <b>square</b> has 4 corners of 90 ± {@value #SQUARE_ANGLE_DEGREES}° with sides of one
 *             length (± {@value #SQUARE_SIDE_SPREAD}) along the image axes (± {@value #SQUARE_TILT_DEGREES}°),
 *             straight within {@value #MAX_SQUARE_BULGE}, and no pinched sides: area at least
 *             {@value #MIN_SQUARE_SOLIDITY} of its hull's;</li>
 *         <li>a <b>circle</b> has at most {@value #MAX_CIRCLE_CORNERS} corners and is round: area against the
 *             circle of its perimeter (4πA/P²) at least {@value #MIN_CIRCLE_ISOPERIMETRIC}, against the
 *             circle enclosing it from its centroid at least {@value #MIN_CIRCLE_ENCLOSING}, its nearest
 *             outline point from the centroid at least {@value #MIN_CIRCLE_RADIUS_RATIO} of the farthest.</li>
 *       </ul>
 *       Anything else is no shape. The thresholds were set on drawn figures and a first round of 60
 *       generated images labelled by a person, and checked against blind labels of 60 others
 *       ({@code LabelledSampleTest}, docs/demo-model.md).</li>
 * </ul>
 */
public final class ShapeAnalyser {
    static final double CENTER_RADIUS = 0.12;
    static final double ONE_COLOUR_SHARE = 0.85;
    static final double MIN_SOLIDITY = 0.88;
    /** Squares must be fuller: sides pinched by a pixel already show at 0.95–0.97. */
    static final double MIN_SQUARE_SOLIDITY = 0.97;
    /** A corner: the outline turns by more than this within {@link #CORNER_WINDOW} of its length (a circle: 36°). */
    static final double CORNER_TURN_DEGREES = 60;
    static final double CORNER_WINDOW = 0.1;
    /** A side is straight when the middle 60 % of it lies within this share of its length of a fitted line. */
    static final double MAX_TRIANGLE_BULGE = 0.03;
    static final double MAX_SQUARE_BULGE = 0.05;
    static final double MIN_CIRCLE_ISOPERIMETRIC = 0.9;
    static final double MIN_CIRCLE_ENCLOSING = 0.8;
    /** A circle's nearest outline point from its centroid is at least this share of its farthest. */
    static final double MIN_CIRCLE_RADIUS_RATIO = 0.84;
    /** One or two bumps on a round outline may turn sharply enough to count as corners. */
    static final int MAX_CIRCLE_CORNERS = 2;
    /** A square's corners may be this far from 90°, its sides this far from their mean (relative), and this far from the axes. */
    static final double SQUARE_ANGLE_DEGREES = 16;
    static final double SQUARE_SIDE_SPREAD = 0.2;
    static final double SQUARE_TILT_DEGREES = 15;
    /** Hole pixels and stray blobs at most this large (pixels per 64² image) are ignored as noise. */
    static final int NOISE_PIXELS = 2;

    private ShapeAnalyser() {}

    /**
     * What the analyser saw. {@code shape} is null when the picture holds no clean shape; {@code flaw}
     * then names why ("2 blobs", "hole", "two colours", "not convex", "5 corners", ...), else it is empty.
     * The measurements behind it: {@code isoperimetric} 4πA/P² (circle 1, square π/4, our triangle 0.6),
     * {@code enclosing} A/πR² for R the farthest outline point from the centroid (circle 1, square 2/π,
     * triangle 0.36), {@code radiusRatio} the nearest outline point's distance from the centroid over the
     * farthest's (circle 1, square 1/√2), {@code sideBulge} the least straight side's residual (see
     * {@link Outline#sideBulge}), {@code concaveDegrees} how far the outline turns the concave way in all (0 for a
     * convex figure; shown, not judged), {@code solidity} A over its convex hull's area, {@code corners} of the
     * outline, {@code colourShare} of the core pixels nearest the majority colour.
     */
    public record Analysis(Scene.Shape shape, Scene.Colour colour, Scene.Position position, Scene.Background background,
                           String flaw, double isoperimetric, double enclosing, double radiusRatio, double solidity,
                           int corners, double sideBulge, double concaveDegrees,
                           double colourShare, int area, double centroidX, double centroidY) {
        public boolean matches(Scene.Shape s, Scene.Colour c, Scene.Position p, Scene.Background b) {
            return shape == s && colour == c && position == p && background == b;
        }

        /** One line: what was seen and the measurements. */
        public String describe() {
            return String.format("%s %s %s on %s%s (round %.2f/%.2f/%.2f, solid %.3f, corners %d, bulge %.3f, "
                    + "concave %.0f°, colour %.2f)", name(colour),
                    shape == null ? "no-shape" : Scene.word(shape), name(position), name(background),
                    flaw.isEmpty() ? "" : " [" + flaw + "]", isoperimetric, enclosing, radiusRatio, solidity, corners,
                    sideBulge, concaveDegrees, colourShare);
        }

        private static String name(Enum<?> e) {
            return e == null ? "?" : Scene.word(e);
        }
    }

    /** @param rgb 8-bit RGB, row-major HWC */
    public static Analysis analyse(byte[] rgb, int width, int height) {
        int n = width * height;
        if (rgb.length != n * 3) {
            throw new IllegalArgumentException("rgb has " + rgb.length + " bytes, expected " + n * 3);
        }
        double[] bg = borderMedian(rgb, width, height);
        Scene.Background background = Scene.Background.WHITE;
        double best = Double.MAX_VALUE;
        for (Scene.Background b : Scene.Background.values()) {
            double d = dist(bg[0], bg[1], bg[2], b.level, b.level, b.level);
            if (d < best) {
                best = d;
                background = b;
            }
        }
        double[] d = new double[n];
        double max = 0;
        for (int i = 0; i < n; i++) {
            d[i] = dist(rgb[i * 3] & 0xff, rgb[i * 3 + 1] & 0xff, rgb[i * 3 + 2] & 0xff, bg[0], bg[1], bg[2]);
            max = Math.max(max, d[i]);
        }
        double threshold = Math.max(0.5 * max, 20);
        boolean[] on = new boolean[n];
        for (int i = 0; i < n; i++) {
            on[i] = d[i] > threshold;
        }
        int[] label = new int[n];
        List<Integer> sizes = components(on, width, height, label);
        if (sizes.isEmpty()) {
            return new Analysis(null, null, null, background, "nothing drawn", 0, 0, 0, 0, 0, 0, 0, 0, 0, Double.NaN, Double.NaN);
        }
        int main = 0;
        for (int k = 1; k < sizes.size(); k++) {
            if (sizes.get(k) > sizes.get(main)) {
                main = k;
            }
        }
        int mainId = main + 1;
        double pixelScale = width * height / (64.0 * 64.0);
        int noise = (int) Math.ceil(NOISE_PIXELS * pixelScale);
        int blobs = 0;
        for (int size : sizes) {
            if (size > noise) {
                blobs++;
            }
        }

        // area, centroid, colour of the core
        int area = 0;
        double sx = 0;
        double sy = 0;
        double[] core = new double[3];
        int[] votes = new int[Scene.Colour.values().length];
        int coreCount = 0;
        for (int i = 0; i < n; i++) {
            if (label[i] != mainId) {
                continue;
            }
            area++;
            sx += i % width + 0.5;
            sy += i / width + 0.5;
            if (d[i] >= 0.75 * max) {
                coreCount += addToCore(rgb, i, core, votes);
            }
        }
        if (coreCount == 0) { // the strongest pixels are in another blob: the main blob's own strongest are its core
            double mainMax = 0;
            for (int i = 0; i < n; i++) {
                mainMax = label[i] == mainId ? Math.max(mainMax, d[i]) : mainMax;
            }
            for (int i = 0; i < n; i++) {
                if (label[i] == mainId && d[i] >= 0.75 * mainMax) {
                    coreCount += addToCore(rgb, i, core, votes);
                }
            }
        }
        Scene.Colour colour = nearestColour(core[0] / coreCount, core[1] / coreCount, core[2] / coreCount);
        double colourShare = votes[colour.ordinal()] / (double) coreCount;
        double cx = sx / area / width;
        double cy = sy / area / height;
        Scene.Position position = position(cx, cy);

        boolean[] solid = fillHoles(label, mainId, width, height);
        int holes = 0;
        for (int i = 0; i < n; i++) {
            holes += solid[i] && label[i] != mainId ? 1 : 0;
        }
        // the outline of the main blob alone (holes filled, other blobs outside), at the 50 % level
        double[] field = new double[n];
        for (int i = 0; i < n; i++) {
            double f = d[i] - threshold;
            field[i] = solid[i] ? Math.max(f, 1e-3) : Math.min(f, -1e-3);
        }
        List<double[]> outline = Outline.trace(field, width, height);
        double polygonArea = Math.abs(Outline.signedArea(outline));
        double perimeter = Outline.perimeter(outline);
        double[] centroid = Outline.centroid(outline);
        double farthest = 0;
        double nearest = Double.MAX_VALUE;
        for (double[] p : outline) {
            double r = Math.hypot(p[0] - centroid[0], p[1] - centroid[1]);
            farthest = Math.max(farthest, r);
            nearest = Math.min(nearest, r);
        }
        double radiusRatio = nearest / farthest;
        double isoperimetric = 4 * Math.PI * polygonArea / (perimeter * perimeter);
        double enclosing = polygonArea / (Math.PI * farthest * farthest);
        double solidity = polygonArea / Math.abs(Outline.signedArea(Outline.convexHull(outline)));
        double scale = Math.sqrt(pixelScale);
        List<double[]> ring = Outline.resample(outline, 0.5 * scale);
        List<Integer> cornerAt = Outline.corners(ring, CORNER_WINDOW, CORNER_TURN_DEGREES);
        List<double[]> corners = cornerAt.stream().map(ring::get).toList();
        double bulge = corners.size() >= 3 ? Outline.sideBulge(ring, cornerAt) : 0;
        double concave = Outline.concaveTurning(ring, 0.05);

        String flaw = "";
        Scene.Shape shape = null;
        if (blobs > 1) {
            flaw = blobs + " blobs";
        } else if (holes > noise) {
            flaw = "hole of " + holes + " px";
        } else if (colourShare < ONE_COLOUR_SHARE) {
            flaw = "two colours";
        } else if (solidity < MIN_SOLIDITY) {
            flaw = "not convex";
        } else if (corners.size() == 3) {
            if (bulge > MAX_TRIANGLE_BULGE) {
                flaw = String.format("3 corners, sides not straight (%.3f)", bulge);
            } else {
                shape = Scene.Shape.TRIANGLE;
            }
        } else if (corners.size() == 4) {
            if (bulge > MAX_SQUARE_BULGE) {
                flaw = String.format("4 corners, sides not straight (%.3f)", bulge);
            } else if (solidity < MIN_SQUARE_SOLIDITY) {
                flaw = "4 corners, sides pinched";
            } else if (!rightAnglesAndEqualSides(corners)) {
                flaw = "4 corners, not a square";
            } else if (!alongTheAxes(corners)) {
                flaw = "4 corners, turned (a diamond)";
            } else {
                shape = Scene.Shape.SQUARE;
            }
        } else if (corners.size() <= MAX_CIRCLE_CORNERS && isoperimetric >= MIN_CIRCLE_ISOPERIMETRIC
                && enclosing >= MIN_CIRCLE_ENCLOSING && radiusRatio >= MIN_CIRCLE_RADIUS_RATIO) {
            shape = Scene.Shape.CIRCLE;
        } else {
            flaw = corners.size() + " corners, not round";
        }
        return new Analysis(shape, colour, position, background, flaw, isoperimetric, enclosing, radiusRatio, solidity,
                corners.size(), bulge, concave, colourShare, area, cx, cy);
    }

    private static Scene.Position position(double cx, double cy) {
        double dx = cx - 0.5;
        double dy = cy - 0.5;
        if (Math.abs(dx) < CENTER_RADIUS && Math.abs(dy) < CENTER_RADIUS) {
            return Scene.Position.CENTER;
        } else if (Math.abs(dx) >= Math.abs(dy)) {
            return dx < 0 ? Scene.Position.LEFT : Scene.Position.RIGHT;
        }
        return dy < 0 ? Scene.Position.TOP : Scene.Position.BOTTOM;
    }

    /** Whether every side of a polygon runs within {@link #SQUARE_TILT_DEGREES} of the horizontal or the vertical. */
    static boolean alongTheAxes(List<double[]> polygon) {
        for (int k = 0; k < polygon.size(); k++) {
            double[] a = polygon.get(k);
            double[] b = polygon.get((k + 1) % polygon.size());
            double angle = Math.toDegrees(Math.atan2(Math.abs(b[1] - a[1]), Math.abs(b[0] - a[0])));
            if (Math.min(angle, 90 - angle) > SQUARE_TILT_DEGREES) {
                return false;
            }
        }
        return true;
    }

    /** Whether a quadrilateral's corners are all within {@link #SQUARE_ANGLE_DEGREES} of 90° and its sides alike. */
    static boolean rightAnglesAndEqualSides(List<double[]> q) {
        double[] sides = new double[4];
        double mean = 0;
        for (int k = 0; k < 4; k++) {
            double[] a = q.get(k);
            double[] b = q.get((k + 1) % 4);
            sides[k] = Math.hypot(b[0] - a[0], b[1] - a[1]);
            mean += sides[k] / 4;
        }
        for (int k = 0; k < 4; k++) {
            if (Math.abs(sides[k] - mean) > SQUARE_SIDE_SPREAD * mean) {
                return false;
            }
            double[] prev = q.get((k + 3) % 4);
            double[] at = q.get(k);
            double[] next = q.get((k + 1) % 4);
            double ux = prev[0] - at[0];
            double uy = prev[1] - at[1];
            double vx = next[0] - at[0];
            double vy = next[1] - at[1];
            double angle = Math.toDegrees(Math.acos((ux * vx + uy * vy) / (Math.hypot(ux, uy) * Math.hypot(vx, vy))));
            if (Math.abs(angle - 90) > SQUARE_ANGLE_DEGREES) {
                return false;
            }
        }
        return true;
    }

    private static double[] borderMedian(byte[] rgb, int width, int height) {
        int[][] hist = new int[3][256];
        int borderCount = 0;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                if (x < 2 || y < 2 || x >= width - 2 || y >= height - 2) {
                    for (int c = 0; c < 3; c++) {
                        hist[c][rgb[(y * width + x) * 3 + c] & 0xff]++;
                    }
                    borderCount++;
                }
            }
        }
        double[] bg = new double[3];
        for (int c = 0; c < 3; c++) {
            int seen = 0;
            for (int v = 0; v < 256; v++) {
                seen += hist[c][v];
                if (seen * 2 >= borderCount) {
                    bg[c] = v;
                    break;
                }
            }
        }
        return bg;
    }

    /** Pixel i into the core's colour sum and its nearest colour's vote; returns 1. */
    private static int addToCore(byte[] rgb, int i, double[] core, int[] votes) {
        int r = rgb[i * 3] & 0xff;
        int g = rgb[i * 3 + 1] & 0xff;
        int b = rgb[i * 3 + 2] & 0xff;
        core[0] += r;
        core[1] += g;
        core[2] += b;
        votes[nearestColour(r, g, b).ordinal()]++;
        return 1;
    }

    private static Scene.Colour nearestColour(double r, double g, double b) {
        Scene.Colour colour = null;
        double best = Double.MAX_VALUE;
        for (Scene.Colour c : Scene.Colour.values()) {
            double dc = dist(r, g, b, c.r, c.g, c.b);
            if (dc < best) {
                best = dc;
                colour = c;
            }
        }
        return colour;
    }

    /** Labels 8-connected groups of {@code on} pixels 1, 2, ... in {@code label}; returns their sizes in label order. */
    private static List<Integer> components(boolean[] on, int width, int height, int[] label) {
        List<Integer> sizes = new ArrayList<>();
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        for (int start = 0; start < on.length; start++) {
            if (!on[start] || label[start] != 0) {
                continue;
            }
            int id = sizes.size() + 1;
            int size = 0;
            label[start] = id;
            queue.add(start);
            while (!queue.isEmpty()) {
                int i = queue.poll();
                size++;
                int x = i % width;
                int y = i / width;
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = x + dx;
                        int ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= width || ny >= height) {
                            continue;
                        }
                        int j = ny * width + nx;
                        if (on[j] && label[j] == 0) {
                            label[j] = id;
                            queue.add(j);
                        }
                    }
                }
            }
            sizes.add(size);
        }
        return sizes;
    }

    /** The main blob with everything it encloses: pixels not reachable from the border (4-connected) outside it. */
    private static boolean[] fillHoles(int[] label, int mainId, int width, int height) {
        int n = width * height;
        boolean[] outside = new boolean[n];
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        for (int i = 0; i < n; i++) {
            int x = i % width;
            int y = i / width;
            if ((x == 0 || y == 0 || x == width - 1 || y == height - 1) && label[i] != mainId) {
                outside[i] = true;
                queue.add(i);
            }
        }
        while (!queue.isEmpty()) {
            int i = queue.poll();
            int x = i % width;
            int y = i / width;
            int[] next = {x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, y > 0 ? i - width : -1, y < height - 1 ? i + width : -1};
            for (int j : next) {
                if (j >= 0 && !outside[j] && label[j] != mainId) {
                    outside[j] = true;
                    queue.add(j);
                }
            }
        }
        boolean[] solid = new boolean[n];
        for (int i = 0; i < n; i++) {
            solid[i] = !outside[i];
        }
        return solid;
    }

    static double dist(double r1, double g1, double b1, double r2, double g2, double b2) {
        double dr = r1 - r2;
        double dg = g1 - g2;
        double db = b1 - b2;
        return Math.sqrt(dr * dr + dg * dg + db * db);
    }
}
