package dev.diffusion.trainer;

import static dev.diffusion.trainer.Scene.word;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Captions of scenes. Training captions are put together from phrases in varied orders and
 * punctuation, sometimes leaving out the position or the background (the picture then has a random
 * one); {@link #heldOut} phrasings never occur in training, so the evaluator measures whether the
 * model follows the words rather than memorised sentences.
 */
public final class Captions {
    private Captions() {}

    /** How often a training caption leaves out the position, and the background. */
    static final double OMIT_POSITION = 0.15;
    static final double OMIT_BACKGROUND = 0.15;

    static String positionPhrase(Scene.Position p, SplittableRandom rng) {
        String[] options = switch (p) {
            case LEFT -> new String[] {"on the left", "at the left", "left", "on the left side"};
            case RIGHT -> new String[] {"on the right", "at the right", "right", "on the right side"};
            case TOP -> new String[] {"at the top", "on the top", "top", "near the top"};
            case BOTTOM -> new String[] {"at the bottom", "on the bottom", "bottom", "near the bottom"};
            case CENTER -> new String[] {"in the center", "in the middle", "center", "centered"};
        };
        return options[rng.nextInt(options.length)];
    }

    static String subject(Scene s, SplittableRandom rng) {
        String size = "";
        double u = rng.nextDouble();
        if (u < 0.5 && s.small()) {
            size = "small ";
        } else if (u < 0.5 && s.large()) {
            size = rng.nextBoolean() ? "large " : "big ";
        }
        String article = rng.nextDouble() < 0.7 ? "a " : "";
        return article + size + word(s.colour()) + " " + word(s.shape());
    }

    static String backgroundPhrase(Scene.Background b, SplittableRandom rng) {
        return switch (rng.nextInt(4)) {
            case 0 -> "on a " + word(b) + " background";
            case 1 -> word(b) + " background";
            case 2 -> "on " + word(b);
            default -> "with a " + word(b) + " background";
        };
    }

    /** A training caption of {@code s}: subject, then (maybe) position and background, in a random arrangement. */
    public static String training(Scene s, SplittableRandom rng) {
        String subject = subject(s, rng);
        String position = rng.nextDouble() < OMIT_POSITION ? null : positionPhrase(s.position(), rng);
        String background = rng.nextDouble() < OMIT_BACKGROUND ? null : backgroundPhrase(s.background(), rng);
        List<String> parts = new ArrayList<>();
        parts.add(subject);
        if (position != null) {
            parts.add(position);
        }
        if (background != null) {
            parts.add(background);
        }
        switch (rng.nextInt(4)) {
            case 0 -> { } // subject, position, background
            case 1 -> { // subject, background, position
                if (parts.size() == 3) {
                    parts.add(1, parts.remove(2));
                }
            }
            case 2 -> { // background first
                if (background != null) {
                    parts.remove(background);
                    parts.add(0, word(s.background()) + " background");
                }
            }
            default -> { // position first
                if (position != null) {
                    parts.remove(position);
                    parts.add(0, position);
                }
            }
        }
        String joiner = rng.nextBoolean() ? " " : ", ";
        String text = String.join(joiner, parts);
        if (rng.nextDouble() < 0.15) {
            text = "a picture of " + text;
        }
        return text;
    }

    /** How often a training caption gets words of no meaning inserted, see {@link #withJunk}. */
    static final double JUNK = 0.3;

    /**
     * {@code caption} with one or two made-up words (random letters) inserted at random places, with
     * probability {@link #JUNK}. Words never seen in training reach the text encoder as pieces whose
     * embeddings were never trained, and through its causal attention they disturbed the attribute
     * words after them ("an image showing a red circle" lost its colour); training on captions with
     * such noise teaches the encoder to pass over words it does not know.
     */
    static String withJunk(String caption, SplittableRandom rng) {
        if (rng.nextDouble() >= JUNK) {
            return caption;
        }
        List<String> words = new ArrayList<>(List.of(caption.split(" ")));
        int count = 1 + rng.nextInt(2);
        for (int k = 0; k < count; k++) {
            words.add(rng.nextInt(words.size() + 1), junkWord(rng));
        }
        return String.join(" ", words);
    }

    private static String junkWord(SplittableRandom rng) {
        while (true) {
            StringBuilder w = new StringBuilder();
            int length = 2 + rng.nextInt(8);
            for (int i = 0; i < length; i++) {
                w.append((char) ('a' + rng.nextInt(26)));
            }
            if (!KNOWN_WORDS.contains(w.toString())) {
                return w.toString();
            }
        }
    }

    /** Every word a training caption can contain (junk must not be one of them). */
    static final java.util.Set<String> KNOWN_WORDS = knownWords();

    private static java.util.Set<String> knownWords() {
        java.util.Set<String> words = new java.util.HashSet<>(List.of("a", "of", "picture", "small", "large", "big", "on",
                "the", "at", "in", "near", "side", "middle", "centered", "with", "background"));
        for (Enum<?>[] values : List.<Enum<?>[]>of(Scene.Shape.values(), Scene.Colour.values(), Scene.Position.values(),
                Scene.Background.values())) {
            for (Enum<?> e : values) {
                words.add(word(e));
            }
        }
        return java.util.Set.copyOf(words);
    }

    /**
     * Phrasings used only for evaluation: connectives and sentence shapes never seen in training, clauses in
     * other orders (position first, the background named first or last in a sentence of its own), and some
     * that leave out the position, the background or both. {@code %1$s} colour, {@code %2$s} shape,
     * {@code %3$s} where, {@code %4$s} background, {@code %5$s} a size word and a space, or nothing.
     */
    static final String[] HELD_OUT = {
        "an image showing a %5$s%1$s %2$s %3$s, the background is %4$s",
        "there is a %5$s%1$s %2$s %3$s against a %4$s backdrop",
        "%4$s backdrop with one %5$s%1$s %2$s placed %3$s",
        "draw a %5$s%1$s %2$s %3$s over a plain %4$s background",
        "one %5$s%1$s %2$s %3$s; %4$s background behind it",
        "%3$s, a %5$s%1$s %2$s, and the background is %4$s",
        "a %5$s%1$s %2$s sits %3$s and the whole background is %4$s",
        "the background is %4$s and there is a %5$s%1$s %2$s %3$s",
        "a %5$s%1$s %2$s against a %4$s backdrop",
        "%3$s there is a %5$s%1$s %2$s",
        "just a %5$s%1$s %2$s",
    };

    /** Whether held-out template {@code template} names the position, and the background. */
    static boolean heldOutNamesPosition(int template) {
        int t = Math.floorMod(template, HELD_OUT.length);
        return t != 8 && t != 10;
    }

    static boolean heldOutNamesBackground(int template) {
        int t = Math.floorMod(template, HELD_OUT.length);
        return t != 9 && t != 10;
    }

    /** Size words of held-out prompts: the trained ones and two the model never saw. */
    static final String[] SIZE_WORDS = {"small ", "large ", "big ", "tiny ", "huge "};

    /**
     * A held-out caption (template {@code template} of {@link #HELD_OUT}); {@code size} a size word and a space
     * from {@link #SIZE_WORDS}, or "" for none. Attributes the template leaves out are ignored.
     */
    public static String heldOut(Scene.Shape shape, Scene.Colour colour, Scene.Position position, Scene.Background bg,
                                 int template, String size) {
        String where = switch (position) {
            case LEFT -> "on the left";
            case RIGHT -> "on the right";
            case TOP -> "at the top";
            case BOTTOM -> "at the bottom";
            case CENTER -> "in the center";
        };
        return String.format(HELD_OUT[Math.floorMod(template, HELD_OUT.length)], word(colour), word(shape), where,
                word(bg), size);
    }
}
