package dev.diffusion.core.image;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The settings of one image in the text form AUTOMATIC1111 writes into a PNG's
 * {@code parameters} chunk:
 * <pre>
 * a photo of a cat
 * Negative prompt: blurry
 * Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model: v1-5, Clip skip: 2, RNG: NV
 * </pre>
 * The prompt may span lines; the negative prompt line is left out when empty; values holding a
 * comma, colon or quote are written as a JSON string, as A1111 does.
 */
public record GenerationParameters(String prompt, String negativePrompt, Map<String, String> settings) {

    public GenerationParameters {
        settings = new LinkedHashMap<>(settings);
    }

    public String format() {
        StringBuilder sb = new StringBuilder(prompt);
        if (negativePrompt != null && !negativePrompt.isEmpty()) {
            sb.append("\nNegative prompt: ").append(negativePrompt);
        }
        sb.append('\n');
        boolean first = true;
        for (Map.Entry<String, String> e : settings.entrySet()) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            sb.append(e.getKey()).append(": ").append(quoteIfNeeded(e.getValue()));
        }
        return sb.toString();
    }

    public static GenerationParameters parse(String text) {
        int lastNl = text.lastIndexOf('\n');
        String settingsLine = lastNl < 0 ? text : text.substring(lastNl + 1);
        String head = lastNl < 0 ? "" : text.substring(0, lastNl);
        String prompt = head;
        String negative = "";
        int neg = head.indexOf("\nNegative prompt: ");
        if (neg >= 0) {
            prompt = head.substring(0, neg);
            negative = head.substring(neg + "\nNegative prompt: ".length());
        } else if (head.startsWith("Negative prompt: ")) {
            prompt = "";
            negative = head.substring("Negative prompt: ".length());
        }
        return new GenerationParameters(prompt, negative, parseSettings(settingsLine));
    }

    private static Map<String, String> parseSettings(String line) {
        Map<String, String> out = new LinkedHashMap<>();
        int i = 0;
        int n = line.length();
        while (i < n) {
            while (i < n && (line.charAt(i) == ' ' || line.charAt(i) == ',')) {
                i++;
            }
            int colon = line.indexOf(": ", i);
            if (colon < 0) {
                break;
            }
            String key = line.substring(i, colon);
            i = colon + 2;
            String value;
            if (i < n && line.charAt(i) == '"') {
                StringBuilder v = new StringBuilder();
                i++;
                while (i < n && line.charAt(i) != '"') {
                    char c = line.charAt(i);
                    if (c == '\\' && i + 1 < n) {
                        i++;
                        c = line.charAt(i);
                        c = c == 'n' ? '\n' : c;
                    }
                    v.append(c);
                    i++;
                }
                i++;
                value = v.toString();
            } else {
                int comma = line.indexOf(", ", i);
                int end = comma < 0 ? n : comma;
                value = line.substring(i, end);
                i = end;
            }
            out.put(key, value);
        }
        return out;
    }

    private static String quoteIfNeeded(String v) {
        if (v.indexOf(',') < 0 && v.indexOf(':') < 0 && v.indexOf('"') < 0 && v.indexOf('\n') < 0) {
            return v;
        }
        StringBuilder sb = new StringBuilder("\"");
        for (char c : v.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                default -> sb.append(c);
            }
        }
        return sb.append('"').toString();
    }
}
