package dev.diffusion.core.pipeline;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One LoRA a job asks for: a name, looked up in the LoRA folder the process was given (never a path), and a
 * multiplier. Prompts name them as AUTOMATIC1111 and stable-diffusion.cpp read them: {@code <lora:NAME:WEIGHT>}
 * ({@code <lora:NAME>} = weight 1); {@link #extract} removes the tags before the prompt is tokenized.
 */
public record LoraRef(String name, double weight) {
    /** Most LoRAs one job may apply. */
    public static final int MAX_LORAS = 8;
    /** Largest |weight|: A1111 takes any number; beyond ±10 an image is noise, so a larger value is a typo. */
    public static final double MAX_WEIGHT = 10;
    public static final int MAX_NAME_CHARS = 200;

    /** A1111's extra-network syntax restricted to lora: {@code <lora:name>} or {@code <lora:name:multiplier>}. */
    private static final Pattern TAG = Pattern.compile("<lora:([^:>]*)(?::([^:>]*))?(?::([^>]*))?>");

    public LoraRef {
        check(name, weight, "loras");
    }

    /** A prompt with its LoRA tags removed, and the LoRAs they named (same name twice: the weights add, as in sd.cpp). */
    public record Extracted(String prompt, List<LoraRef> loras) {}

    public static Extracted extract(String prompt) {
        if (prompt == null || prompt.indexOf("<lora:") < 0) {
            return new Extracted(prompt, List.of());
        }
        Matcher m = TAG.matcher(prompt);
        StringBuilder text = new StringBuilder();
        List<LoraRef> tags = new ArrayList<>();
        while (m.find()) {
            String name = m.group(1).trim();
            String w = m.group(2);
            double weight;
            try {
                weight = w == null ? 1.0 : dev.diffusion.core.cli.PlainNumbers.parseDouble(w.trim());
            } catch (NumberFormatException e) {
                throw new InvalidRequestException("prompt", "prompt: LoRA tag " + m.group() + " has weight '" + w
                        + "', not a number");
            }
            // A1111's third field is the U-Net's own multiplier (the second the text encoder's): one weight here
            String unet = m.group(3);
            if (unet != null) {
                double u;
                try {
                    u = dev.diffusion.core.cli.PlainNumbers.parseDouble(unet.trim());
                } catch (NumberFormatException e) {
                    throw new InvalidRequestException("prompt", "prompt: LoRA tag " + m.group() + " has '" + unet
                            + "' after its weight; only <lora:name> and <lora:name:weight> are read here");
                }
                if (u != weight) {
                    throw new InvalidRequestException("prompt", "prompt: LoRA tag " + m.group() + " gives the U-Net another"
                            + " weight than the text encoder; one weight for both is applied here: <lora:" + name + ":" + w.trim() + ">");
                }
            }
            check(name, weight, "prompt");
            tags.add(new LoraRef(name, weight));
            m.appendReplacement(text, "");
        }
        m.appendTail(text);
        return new Extracted(text.toString(), merge(tags));
    }

    /** The job's own list and the prompt's tags as one set: the same name twice adds its weights (sd.cpp does so). */
    public static List<LoraRef> merge(List<LoraRef> loras) {
        Map<String, Double> byName = new LinkedHashMap<>();
        for (LoraRef l : loras) {
            byName.merge(l.name(), l.weight(), Double::sum);
        }
        if (byName.size() > MAX_LORAS) {
            throw new InvalidRequestException("loras", "a job may apply at most " + MAX_LORAS + " LoRAs, got "
                    + byName.size() + " (" + String.join(", ", byName.keySet()) + ")");
        }
        List<LoraRef> out = new ArrayList<>();
        byName.forEach((n, w) -> out.add(new LoraRef(n, w)));
        return List.copyOf(out);
    }

    /** A name is a file stem in the LoRA folder: no separators, no leading dot, so it can never leave that folder. */
    private static void check(String name, double weight, String field) {
        if (name == null || name.isBlank()) {
            throw new InvalidRequestException(field, field + ": a LoRA needs a name");
        }
        if (name.length() > MAX_NAME_CHARS || name.startsWith(".") || name.chars().anyMatch(c -> c == '/' || c == '\\'
                || c == 0 || c == ':' || Character.isISOControl(c))) {
            throw new InvalidRequestException(field, field + ": LoRA name '" + name + "' is not a file name in the LoRA folder"
                    + " (no /, \\, :, control characters or leading dot; at most " + MAX_NAME_CHARS + " characters)");
        }
        if (!(Math.abs(weight) <= MAX_WEIGHT)) {
            throw new InvalidRequestException(field, field + ": LoRA " + name + " has weight " + weight
                    + "; it must be between -" + (int) MAX_WEIGHT + " and " + (int) MAX_WEIGHT);
        }
    }

    /** As A1111 writes the weight into a tag: {@code 0.8}, {@code 1}. */
    public String formattedWeight() {
        return weight == Math.rint(weight) ? Long.toString((long) weight) : String.format(Locale.ROOT, "%s", weight);
    }
}
