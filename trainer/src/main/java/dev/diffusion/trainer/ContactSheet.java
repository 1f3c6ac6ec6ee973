package dev.diffusion.trainer;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * One PNG of many generated images, each enlarged (nearest neighbour, so the pixels stay visible) above its
 * prompt and what the analyser saw in it: the picture a person looks at to judge a model.
 */
final class ContactSheet {
    private static final int SCALE = 3;
    private static final int CAPTION_LINES = 4;
    private static final int LINE = 12;

    private ContactSheet() {}

    /** One tile: an RGB8 image of {@code side}², its prompt, and a verdict line. */
    record Tile(byte[] rgb, int side, String prompt, String verdict, boolean ok) {}

    static void write(List<Tile> tiles, int columns, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int side = tiles.get(0).side() * SCALE;
        int cellW = side + 12;
        int cellH = side + 8 + CAPTION_LINES * LINE + 6;
        int rows = (tiles.size() + columns - 1) / columns;
        BufferedImage sheet = new BufferedImage(columns * cellW, rows * cellH, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = sheet.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, sheet.getWidth(), sheet.getHeight());
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 10);
        g.setFont(font);
        FontMetrics metrics = g.getFontMetrics();
        for (int k = 0; k < tiles.size(); k++) {
            Tile t = tiles.get(k);
            int x0 = (k % columns) * cellW + 6;
            int y0 = (k / columns) * cellH + 6;
            BufferedImage img = new BufferedImage(t.side(), t.side(), BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < t.side(); y++) {
                for (int x = 0; x < t.side(); x++) {
                    int i = (y * t.side() + x) * 3;
                    img.setRGB(x, y, (t.rgb()[i] & 0xff) << 16 | (t.rgb()[i + 1] & 0xff) << 8 | (t.rgb()[i + 2] & 0xff));
                }
            }
            g.drawImage(img, x0, y0, side, side, null);
            g.setColor(Color.LIGHT_GRAY);
            g.drawRect(x0 - 1, y0 - 1, side + 1, side + 1);
            List<String> lines = wrap((k + 1) + ". " + t.prompt(), metrics, side, CAPTION_LINES - 1);
            g.setColor(Color.BLACK);
            int y = y0 + side + LINE;
            for (String line : lines) {
                g.drawString(line, x0, y);
                y += LINE;
            }
            g.setColor(t.ok() ? new Color(0, 120, 0) : new Color(190, 0, 0));
            g.drawString(fit(t.verdict(), metrics, side), x0, y);
        }
        g.dispose();
        ImageIO.write(sheet, "png", file.toFile());
    }

    private static List<String> wrap(String text, FontMetrics m, int width, int maxLines) {
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (String word : text.split(" ")) {
            String candidate = line.isEmpty() ? word : line + " " + word;
            if (m.stringWidth(candidate) <= width || line.isEmpty()) {
                line.setLength(0);
                line.append(candidate);
            } else {
                lines.add(line.toString());
                line.setLength(0);
                line.append(word);
            }
        }
        lines.add(line.toString());
        if (lines.size() > maxLines) {
            List<String> cut = new ArrayList<>(lines.subList(0, maxLines));
            cut.set(maxLines - 1, fit(cut.get(maxLines - 1) + " …", m, width));
            return cut;
        }
        return lines;
    }

    private static String fit(String s, FontMetrics m, int width) {
        String out = s;
        while (m.stringWidth(out) > width && out.length() > 1) {
            out = out.substring(0, out.length() - 2) + "…";
        }
        return out;
    }
}
