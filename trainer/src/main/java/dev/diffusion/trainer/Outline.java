package dev.diffusion.trainer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A blob's outline as a closed polygon with sub-pixel corners, and the plane geometry {@link ShapeAnalyser}
 * judges it by. Points are {x, y} in pixels, the image's top-left corner at (0, 0), pixel centres at +0.5.
 */
final class Outline {
    private Outline() {}

    /**
     * The zero level of {@code field} (one value per pixel centre, positive inside; outside the image
     * counts as negative) by marching squares, each crossing placed by linear interpolation along its cell
     * edge; returns the longest closed loop (the outer outline when the blob has no holes).
     */
    static List<double[]> trace(double[] field, int width, int height) {
        // each crossing lives on a cell edge, keyed by that edge; a segment joins two crossings of one cell
        Map<Long, double[]> points = new HashMap<>();
        Map<Long, List<Long>> links = new HashMap<>();
        for (int cy = -1; cy < height; cy++) {
            for (int cx = -1; cx < width; cx++) {
                double v00 = at(field, width, height, cx, cy);
                double v10 = at(field, width, height, cx + 1, cy);
                double v11 = at(field, width, height, cx + 1, cy + 1);
                double v01 = at(field, width, height, cx, cy + 1);
                List<Long> crossings = new ArrayList<>(4);
                // edges in order around the cell: top, right, bottom, left
                crossing(points, crossings, v00, v10, cx, cy, cx + 1, cy);
                crossing(points, crossings, v10, v11, cx + 1, cy, cx + 1, cy + 1);
                crossing(points, crossings, v11, v01, cx + 1, cy + 1, cx, cy + 1);
                crossing(points, crossings, v01, v00, cx, cy + 1, cx, cy);
                if (crossings.size() == 2) {
                    link(links, crossings.get(0), crossings.get(1));
                } else if (crossings.size() == 4) {
                    // a saddle: the cell's mean decides whether the two inside corners connect through it
                    boolean centreInside = (v00 + v10 + v11 + v01) / 4 > 0;
                    boolean topLeftInside = v00 > 0;
                    if (centreInside == topLeftInside) { // top-left corner's region is cut off from the others'
                        link(links, crossings.get(0), crossings.get(1));
                        link(links, crossings.get(2), crossings.get(3));
                    } else {
                        link(links, crossings.get(3), crossings.get(0));
                        link(links, crossings.get(1), crossings.get(2));
                    }
                }
            }
        }
        List<double[]> best = List.of();
        double bestLength = -1;
        java.util.Set<Long> seen = new java.util.HashSet<>();
        for (Long start : links.keySet()) {
            if (seen.contains(start)) {
                continue;
            }
            List<double[]> loop = new ArrayList<>();
            Long prev = null;
            Long at = start;
            while (at != null && seen.add(at)) {
                loop.add(points.get(at));
                Long next = null;
                for (Long candidate : links.get(at)) {
                    if (!candidate.equals(prev) && !seen.contains(candidate)) {
                        next = candidate;
                        break;
                    }
                }
                prev = at;
                at = next;
            }
            double length = perimeter(loop);
            if (length > bestLength) {
                bestLength = length;
                best = loop;
            }
        }
        return best;
    }

    private static double at(double[] field, int width, int height, int x, int y) {
        return x < 0 || y < 0 || x >= width || y >= height ? -1 : field[y * width + x];
    }

    private static void crossing(Map<Long, double[]> points, List<Long> crossings, double a, double b, int ax, int ay,
                                 int bx, int by) {
        if ((a > 0) == (b > 0)) {
            return;
        }
        // key the edge by its lower-left-most end and direction, so both cells sharing it agree
        int x0 = Math.min(ax, bx);
        int y0 = Math.min(ay, by);
        boolean horizontal = ay == by;
        long key = ((long) (x0 + 2) << 32) | ((long) (y0 + 2) << 1) | (horizontal ? 1 : 0);
        double t = a / (a - b);
        points.computeIfAbsent(key, k -> new double[] {ax + t * (bx - ax) + 0.5, ay + t * (by - ay) + 0.5});
        crossings.add(key);
    }

    private static void link(Map<Long, List<Long>> links, long a, long b) {
        links.computeIfAbsent(a, k -> new ArrayList<>(2)).add(b);
        links.computeIfAbsent(b, k -> new ArrayList<>(2)).add(a);
    }

    /** Shoelace area, positive for one orientation, negative for the other. */
    static double signedArea(List<double[]> polygon) {
        double sum = 0;
        for (int i = 0; i < polygon.size(); i++) {
            double[] a = polygon.get(i);
            double[] b = polygon.get((i + 1) % polygon.size());
            sum += a[0] * b[1] - b[0] * a[1];
        }
        return sum / 2;
    }

    static double perimeter(List<double[]> polygon) {
        double sum = 0;
        for (int i = 0; i < polygon.size(); i++) {
            double[] a = polygon.get(i);
            double[] b = polygon.get((i + 1) % polygon.size());
            sum += Math.hypot(b[0] - a[0], b[1] - a[1]);
        }
        return sum;
    }

    /** The centroid of the region a simple polygon encloses. */
    static double[] centroid(List<double[]> polygon) {
        double area = signedArea(polygon);
        double cx = 0;
        double cy = 0;
        for (int i = 0; i < polygon.size(); i++) {
            double[] a = polygon.get(i);
            double[] b = polygon.get((i + 1) % polygon.size());
            double cross = a[0] * b[1] - b[0] * a[1];
            cx += (a[0] + b[0]) * cross;
            cy += (a[1] + b[1]) * cross;
        }
        return new double[] {cx / (6 * area), cy / (6 * area)};
    }

    /** The convex hull, by Andrew's monotone chain. */
    static List<double[]> convexHull(List<double[]> points) {
        double[][] p = points.toArray(new double[0][]);
        Arrays.sort(p, Comparator.<double[]>comparingDouble(q -> q[0]).thenComparingDouble(q -> q[1]));
        if (p.length < 3) {
            return List.of(p);
        }
        double[][] hull = new double[2 * p.length][];
        int k = 0;
        for (double[] q : p) {
            while (k >= 2 && cross(hull[k - 2], hull[k - 1], q) <= 0) {
                k--;
            }
            hull[k++] = q;
        }
        for (int i = p.length - 2, lower = k + 1; i >= 0; i--) {
            while (k >= lower && cross(hull[k - 2], hull[k - 1], p[i]) <= 0) {
                k--;
            }
            hull[k++] = p[i];
        }
        return List.of(Arrays.copyOf(hull, k - 1));
    }

    private static double cross(double[] o, double[] a, double[] b) {
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    }

    /** The closed outline resampled to points {@code spacing} apart along its length. */
    static List<double[]> resample(List<double[]> loop, double spacing) {
        double length = perimeter(loop);
        int count = Math.max(16, (int) Math.round(length / spacing));
        double step = length / count;
        List<double[]> out = new ArrayList<>(count);
        int seg = 0;
        double segStart = 0;
        for (int k = 0; k < count; k++) {
            double want = k * step;
            while (true) {
                double[] a = loop.get(seg % loop.size());
                double[] b = loop.get((seg + 1) % loop.size());
                double len = Math.hypot(b[0] - a[0], b[1] - a[1]);
                if (want <= segStart + len || seg >= loop.size() - 1) {
                    double t = len < 1e-12 ? 0 : Math.min(1, (want - segStart) / len);
                    out.add(new double[] {a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])});
                    break;
                }
                segStart += len;
                seg++;
            }
        }
        return out;
    }

    /**
     * Indices of the corners of an evenly resampled closed outline: places where the outline turns by more
     * than {@code minTurnDegrees} within a window of {@code windowShare} of its length (a circle turns
     * 360·windowShare degrees in every such window; a square 90 at each corner, however rounded, as long as
     * the rounding fits in the window). Each run of such places is one corner, at its sharpest point.
     */
    static List<Integer> corners(List<double[]> ring, double windowShare, double minTurnDegrees) {
        int n = ring.size();
        double[] heading = new double[n];
        for (int i = 0; i < n; i++) {
            double[] a = ring.get(i);
            double[] b = ring.get((i + 1) % n);
            heading[i] = Math.atan2(b[1] - a[1], b[0] - a[0]);
        }
        double[] turn = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            double d = heading[(i + 1) % n] - heading[i];
            d = Math.atan2(Math.sin(d), Math.cos(d));
            turn[i] = d;
            total += d;
        }
        double sign = Math.signum(total) == 0 ? 1 : Math.signum(total);
        int window = Math.max(2, (int) Math.round(windowShare * n));
        double[] turned = new double[n]; // turning in the window centred on i, convex turns positive
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int k = -window / 2; k < window - window / 2; k++) {
                sum += turn[Math.floorMod(i + k, n)];
            }
            turned[i] = Math.toDegrees(sign * sum);
        }
        double min = minTurnDegrees;
        int first = -1;
        for (int i = 0; i < n; i++) {
            if (turned[i] <= min) {
                first = i;
                break;
            }
        }
        List<Integer> corners = new ArrayList<>();
        if (first < 0) {
            return corners; // turning everywhere: no single corner stands out
        }
        int best = -1;
        for (int k = 1; k <= n; k++) {
            int i = (first + k) % n;
            if (turned[i] > min) {
                if (best < 0 || turned[i] > turned[best]) {
                    best = i;
                }
            } else if (best >= 0) {
                corners.add(best);
                best = -1;
            }
        }
        corners.sort(Integer::compare);
        // runs closer than a window apart are one corner whose turning dipped in the middle (a blunted tip)
        boolean merged = true;
        while (merged && corners.size() > 1) {
            merged = false;
            for (int c = 0; c < corners.size(); c++) {
                int a = corners.get(c);
                int b = corners.get((c + 1) % corners.size());
                if (Math.floorMod(b - a, n) < window) {
                    corners.remove(turned[a] >= turned[b] ? (c + 1) % corners.size() : c);
                    merged = true;
                    break;
                }
            }
        }
        return corners;
    }

    /**
     * Degrees the outline turns the concave way in all, measured on headings taken {@code spanShare} of the
     * length apart (so pixel steps cancel): 0 for a convex figure, tens of degrees for pinched sides.
     */
    static double concaveTurning(List<double[]> ring, double spanShare) {
        int n = ring.size();
        int span = Math.max(1, (int) Math.round(spanShare * n));
        double[] heading = new double[n];
        for (int i = 0; i < n; i++) {
            double[] a = ring.get(i);
            double[] b = ring.get((i + span) % n);
            heading[i] = Math.atan2(b[1] - a[1], b[0] - a[0]);
        }
        double total = 0;
        double[] turn = new double[n];
        for (int i = 0; i < n; i++) {
            double d = heading[(i + 1) % n] - heading[i];
            turn[i] = Math.atan2(Math.sin(d), Math.cos(d));
            total += turn[i];
        }
        double sign = total < 0 ? -1 : 1;
        double concave = 0;
        for (double t : turn) {
            concave += Math.max(0, -sign * t);
        }
        return Math.toDegrees(concave);
    }

    /**
     * How far each side between consecutive corners is from straight: a least-squares line through the middle
     * 60 % of the side's points (the ends belong to the corners, rounded or not), and its largest residual over
     * the side's length; the worst side's.
     */
    static double sideBulge(List<double[]> ring, List<Integer> corners) {
        int n = ring.size();
        double worst = 0;
        for (int c = 0; c < corners.size(); c++) {
            int from = corners.get(c);
            int span = Math.floorMod(corners.get((c + 1) % corners.size()) - from, n);
            double[] a = ring.get(from);
            double[] b = ring.get((from + span) % n);
            double length = Math.hypot(b[0] - a[0], b[1] - a[1]);
            int lo = (int) Math.ceil(0.2 * span);
            int hi = (int) Math.floor(0.8 * span);
            if (hi - lo < 2) {
                continue;
            }
            double mx = 0;
            double my = 0;
            for (int k = lo; k <= hi; k++) {
                double[] p = ring.get((from + k) % n);
                mx += p[0];
                my += p[1];
            }
            int m = hi - lo + 1;
            mx /= m;
            my /= m;
            double sxx = 0;
            double syy = 0;
            double sxy = 0;
            for (int k = lo; k <= hi; k++) {
                double[] p = ring.get((from + k) % n);
                sxx += (p[0] - mx) * (p[0] - mx);
                syy += (p[1] - my) * (p[1] - my);
                sxy += (p[0] - mx) * (p[1] - my);
            }
            double angle = 0.5 * Math.atan2(2 * sxy, sxx - syy); // the principal direction
            double nx = -Math.sin(angle);
            double ny = Math.cos(angle);
            for (int k = lo; k <= hi; k++) {
                double[] p = ring.get((from + k) % n);
                worst = Math.max(worst, Math.abs((p[0] - mx) * nx + (p[1] - my) * ny) / Math.max(length, 1e-9));
            }
        }
        return worst;
    }
}
