package dev.diffusion.trainer;

import java.util.ArrayDeque;

/**
 * Names the background, shape colour, position and shape of a picture of the shapes world from
 * its pixels alone, deterministically:
 * <ul>
 *   <li>background: the median colour of the border ring, nearest of white / black / gray;</li>
 *   <li>shape pixels: those whose distance from that colour exceeds half the picture's largest
 *       distance (so anti-aliased edges split at 50 % coverage); the largest 4-connected group of
 *       them is the shape;</li>
 *   <li>colour: the nearest palette colour to the mean of the shape's core pixels;</li>
 *   <li>position: the shape's centroid relative to the image centre (the nearer axis wins, a
 *       centroid within {@value #CENTER_RADIUS} of the side from the middle is "center");</li>
 *   <li>shape: how much of its bounding box the shape fills (square ≈ 1, circle ≈ π/4,
 *       triangle ≈ 1/2), with the triangle's top-to-bottom asymmetry breaking near ties.</li>
 * </ul>
 */
public final class ShapeAnalyser {
    static final double CENTER_RADIUS = 0.12;
    static final double SQUARE_ABOVE = 0.88;
    static final double TRIANGLE_BELOW = 0.64;

    private ShapeAnalyser() {}

    /** What the analyser saw; {@code fill} and {@code topShare} are the shape measurements behind {@code shape}. */
    public record Analysis(Scene.Shape shape, Scene.Colour colour, Scene.Position position, Scene.Background background,
                           double fill, double topShare, int area, double centroidX, double centroidY) {
        public boolean matches(Scene.Shape s, Scene.Colour c, Scene.Position p, Scene.Background b) {
            return shape == s && colour == c && position == p && background == b;
        }
    }

    /** @param rgb 8-bit RGB, row-major HWC */
    public static Analysis analyse(byte[] rgb, int width, int height) {
        int n = width * height;
        if (rgb.length != n * 3) {
            throw new IllegalArgumentException("rgb has " + rgb.length + " bytes, expected " + n * 3);
        }
        // background: per-channel median of the 2-pixel border ring
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
        int[] label = largestComponent(d, threshold, width, height);

        int area = 0;
        double sx = 0;
        double sy = 0;
        int minX = width;
        int maxX = -1;
        int minY = height;
        int maxY = -1;
        double[] core = new double[3];
        int coreCount = 0;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int i = y * width + x;
                if (label[i] != 1) {
                    continue;
                }
                area++;
                sx += x + 0.5;
                sy += y + 0.5;
                minX = Math.min(minX, x);
                maxX = Math.max(maxX, x);
                minY = Math.min(minY, y);
                maxY = Math.max(maxY, y);
                if (d[i] >= 0.75 * max) {
                    for (int c = 0; c < 3; c++) {
                        core[c] += rgb[i * 3 + c] & 0xff;
                    }
                    coreCount++;
                }
            }
        }
        if (area == 0) {
            return new Analysis(null, null, null, background, 0, 0, 0, Double.NaN, Double.NaN);
        }
        Scene.Colour colour = null;
        best = Double.MAX_VALUE;
        for (Scene.Colour c : Scene.Colour.values()) {
            double dc = dist(core[0] / coreCount, core[1] / coreCount, core[2] / coreCount, c.r, c.g, c.b);
            if (dc < best) {
                best = dc;
                colour = c;
            }
        }
        double cx = sx / area / width;
        double cy = sy / area / height;
        double dx = cx - 0.5;
        double dy = cy - 0.5;
        Scene.Position position;
        if (Math.abs(dx) < CENTER_RADIUS && Math.abs(dy) < CENTER_RADIUS) {
            position = Scene.Position.CENTER;
        } else if (Math.abs(dx) >= Math.abs(dy)) {
            position = dx < 0 ? Scene.Position.LEFT : Scene.Position.RIGHT;
        } else {
            position = dy < 0 ? Scene.Position.TOP : Scene.Position.BOTTOM;
        }

        double fill = area / (double) ((maxX - minX + 1) * (maxY - minY + 1));
        // share of the shape's pixels in the upper half of its bounding box: ≈ 1/4 for an apex-up triangle
        double midY = (minY + maxY + 1) / 2.0;
        int top = 0;
        for (int y = minY; y <= maxY; y++) {
            for (int x = minX; x <= maxX; x++) {
                if (label[y * width + x] == 1 && y + 0.5 < midY) {
                    top++;
                }
            }
        }
        double topShare = top / (double) area;
        Scene.Shape shape;
        if (fill >= SQUARE_ABOVE) {
            shape = Scene.Shape.SQUARE;
        } else if (fill < TRIANGLE_BELOW || (fill < 0.72 && topShare < 0.38)) {
            shape = Scene.Shape.TRIANGLE;
        } else {
            shape = Scene.Shape.CIRCLE;
        }
        return new Analysis(shape, colour, position, background, fill, topShare, area, cx, cy);
    }

    /** Labels the largest 4-connected group of pixels with {@code d > threshold} as 1, everything else 0. */
    private static int[] largestComponent(double[] d, double threshold, int width, int height) {
        int n = width * height;
        int[] label = new int[n];
        int next = 2;
        int bestLabel = -1;
        int bestSize = 0;
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        for (int start = 0; start < n; start++) {
            if (label[start] != 0 || d[start] <= threshold) {
                continue;
            }
            int id = next++;
            int size = 0;
            label[start] = id;
            queue.add(start);
            while (!queue.isEmpty()) {
                int i = queue.poll();
                size++;
                int x = i % width;
                int y = i / width;
                int[] neighbours = {x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, y > 0 ? i - width : -1,
                    y < height - 1 ? i + width : -1};
                for (int j : neighbours) {
                    if (j >= 0 && label[j] == 0 && d[j] > threshold) {
                        label[j] = id;
                        queue.add(j);
                    }
                }
            }
            if (size > bestSize) {
                bestSize = size;
                bestLabel = id;
            }
        }
        for (int i = 0; i < n; i++) {
            label[i] = label[i] == bestLabel ? 1 : 0;
        }
        return label;
    }

    private static double dist(double r1, double g1, double b1, double r2, double g2, double b2) {
        double dr = r1 - r2;
        double dg = g1 - g2;
        double db = b1 - b2;
        return Math.sqrt(dr * dr + dg * dg + db * db);
    }
}
