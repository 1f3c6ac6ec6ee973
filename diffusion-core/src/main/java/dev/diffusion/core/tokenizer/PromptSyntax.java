package dev.diffusion.core.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's prompt syntax (its {@code prompt_parser.parse_prompt_attention} and
 * {@code FrozenCLIPEmbedderWithCustomWords.tokenize_line}; stable-diffusion.cpp ports the same):
 * {@code (text)} × 1.1, {@code [text]} ÷ 1.1, {@code (text:1.3)} × 1.3, nesting multiplies ({@code ((x))} = 1.21),
 * {@code \(} {@code \)} {@code \[} {@code \]} {@code \\} are literal, an unclosed bracket applies to the rest of the
 * prompt, and {@code BREAK} ends the current 75-token chunk. A prompt longer than 75 tokens is split into chunks
 * of 75 (each encoded as its own 77-token window: BOS, 75 tokens, EOS, padding), whose hidden states are
 * concatenated — the U-Net then attends over 77 × chunks tokens.
 */
public final class PromptSyntax {
    /** Tokens of one chunk between its BOS and EOS. */
    public static final int CHUNK_TOKENS = 75;
    /** One chunk's window: BOS, 75 tokens, EOS (CLIP's 77 positions). */
    public static final int CHUNK_TOKENS_WITH_ENDS = CHUNK_TOKENS + 2;
    /** Most chunks one prompt may make (750 tokens): each adds 77 tokens to every U-Net cross-attention. */
    public static final int MAX_CHUNKS = 10;
    /** A1111's multipliers for one pair of round / square brackets. */
    /**
     * The largest weight a run of text may come to (A1111 has none): far beyond any useful one (0 to ~2), and small
     * enough that the weighted prompt embedding stays finite in float32 (a weight of 1e39 made it NaN: a black image).
     */
    public static final double MAX_WEIGHT = 1000;
    public static final double ROUND = 1.1;
    public static final double SQUARE = 1 / 1.1;

    /** A run of text with one weight; {@link #isBreak()} marks a {@code BREAK}. */
    public record Segment(String text, double weight) {
        public boolean isBreak() {
            return weight == -1 && text.equals("BREAK");
        }
    }

    /**
     * The chunks of a prompt: {@code ids[c]} is a 77-token window, {@code multipliers[c]} its per-token weights (1 for
     * BOS, EOS and padding).
     */
    public record Chunks(int[][] ids, float[][] multipliers, int tokenCount) {
        /** Whether any token has a weight other than 1 (else the hidden states are used as CLIP gives them). */
        public boolean weighted() {
            for (float[] m : multipliers) {
                for (float w : m) {
                    if (w != 1f) {
                        return true;
                    }
                }
            }
            return false;
        }

        public int count() {
            return ids.length;
        }
    }

    private static final Pattern ATTENTION = Pattern.compile(
            "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|:\\s*([+-]?[.\\d]+)\\s*\\)|\\)|]|[^\\\\()\\[\\]:]+|:");
    private static final Pattern BREAK = Pattern.compile("\\s*\\bBREAK\\b\\s*", Pattern.DOTALL);

    private PromptSyntax() {}

    /** A1111's {@code parse_prompt_attention}: the prompt as runs of (text, weight), equal neighbours merged. */
    public static List<Segment> parse(String text) {
        List<String> texts = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        List<Integer> round = new ArrayList<>();
        List<Integer> square = new ArrayList<>();
        Matcher m = ATTENTION.matcher(text);
        while (m.find()) {
            String t = m.group();
            String weight = m.group(1);
            if (t.startsWith("\\")) {
                texts.add(t.substring(1));
                weights.add(1.0);
            } else if (t.equals("(")) {
                round.add(texts.size());
            } else if (t.equals("[")) {
                square.add(texts.size());
            } else if (weight != null && !round.isEmpty()) {
                multiply(weights, round.remove(round.size() - 1), weight(weight, t));
            } else if (t.equals(")") && !round.isEmpty()) {
                multiply(weights, round.remove(round.size() - 1), ROUND);
            } else if (t.equals("]") && !square.isEmpty()) {
                multiply(weights, square.remove(square.size() - 1), SQUARE);
            } else {
                String[] parts = BREAK.split(t, -1);
                for (int i = 0; i < parts.length; i++) {
                    if (i > 0) {
                        texts.add("BREAK");
                        weights.add(-1.0);
                    }
                    texts.add(parts[i]);
                    weights.add(1.0);
                }
            }
        }
        for (int pos : round) {
            multiply(weights, pos, ROUND);
        }
        for (int pos : square) {
            multiply(weights, pos, SQUARE);
        }
        if (texts.isEmpty()) {
            texts.add("");
            weights.add(1.0);
        }
        for (int i = 0; i < texts.size(); i++) {
            double w = weights.get(i);
            if (!(Math.abs(w) <= MAX_WEIGHT)) { // NaN and infinities too: the context would not be finite
                throw new IllegalArgumentException("the weight of '" + texts.get(i).strip() + "' comes to " + w
                        + "; weights (nested brackets multiplied) must be between -" + (int) MAX_WEIGHT + " and " + (int) MAX_WEIGHT);
            }
        }
        List<Segment> out = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            if (!out.isEmpty() && out.get(out.size() - 1).weight() == weights.get(i)) {
                Segment last = out.remove(out.size() - 1);
                out.add(new Segment(last.text() + texts.get(i), last.weight()));
            } else {
                out.add(new Segment(texts.get(i), weights.get(i)));
            }
        }
        return out;
    }

    /**
     * A weight as A1111 reads it: Python's {@code float()} of the digits and dots the pattern took, which raises for
     * {@code 1.2.3} or {@code .} (A1111 then fails the generation); {@code (x:abc)} and {@code (x:)} never get here:
     * their {@code :} is text and the bracket is a plain × 1.1.
     */
    private static double weight(String digits, String matched) {
        try {
            return Double.parseDouble(digits);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("the weight in '" + matched.strip() + "' is not a number ('" + digits
                    + "'; write it as 1.2, .5 or 2)");
        }
    }

    private static void multiply(List<Double> weights, int from, double factor) {
        for (int i = from; i < weights.size(); i++) {
            weights.set(i, weights.get(i) * factor);
        }
    }

    /**
     * A1111's {@code tokenize_line}: each segment tokenized on its own, the tokens filled into chunks of 75, a new
     * chunk at {@code BREAK} and when one is full; each chunk padded with EOS to 75 and framed by BOS and EOS.
     *
     * @param commaBacktrack A1111's {@code comma_padding_backtrack} (its default 20; sd.cpp has none, so 0 here by
     *                       default): when a chunk fills up and its last comma is at most this many tokens back, the
     *                       tokens after that comma move to the next chunk. 0 turns it off.
     */
    public static Chunks chunk(ClipTokenizer tokenizer, String prompt, int commaBacktrack) {
        int comma = commaToken(tokenizer);
        List<int[]> ids = new ArrayList<>();
        List<float[]> mults = new ArrayList<>();
        int[] tokenCount = {0};
        IntList tokens = new IntList();
        FloatList weights = new FloatList();
        int lastComma = -1;
        for (Segment s : parse(prompt)) {
            if (s.isBreak()) {
                finish(tokenizer, tokens, weights, ids, mults);
                lastComma = -1;
                continue;
            }
            for (int token : tokenizer.tokenize(s.text())) {
                if (token == comma) {
                    lastComma = tokens.size;
                } else if (commaBacktrack > 0 && tokens.size == CHUNK_TOKENS && lastComma != -1
                        && tokens.size - lastComma <= commaBacktrack) {
                    int at = lastComma + 1;
                    int[] movedIds = Arrays.copyOfRange(tokens.values, at, tokens.size);
                    float[] movedWeights = Arrays.copyOfRange(weights.values, at, weights.size);
                    tokens.size = at;
                    weights.size = at;
                    finish(tokenizer, tokens, weights, ids, mults);
                    lastComma = -1;
                    for (int i = 0; i < movedIds.length; i++) {
                        tokens.add(movedIds[i]);
                        weights.add(movedWeights[i]);
                    }
                }
                if (tokens.size == CHUNK_TOKENS) {
                    finish(tokenizer, tokens, weights, ids, mults);
                    lastComma = -1;
                }
                tokens.add(token);
                weights.add((float) s.weight());
                tokenCount[0]++;
            }
        }
        if (tokens.size > 0 || ids.isEmpty()) {
            finish(tokenizer, tokens, weights, ids, mults);
        }
        if (ids.size() > MAX_CHUNKS) {
            throw new IllegalArgumentException("prompt is " + tokenCount[0] + " tokens in " + ids.size() + " chunks of "
                    + CHUNK_TOKENS + "; the limit is " + MAX_CHUNKS + " chunks (" + MAX_CHUNKS * CHUNK_TOKENS + " tokens)");
        }
        return new Chunks(ids.toArray(new int[0][]), mults.toArray(new float[0][]), tokenCount[0]);
    }

    private static void finish(ClipTokenizer tokenizer, IntList tokens, FloatList weights, List<int[]> ids,
                               List<float[]> mults) {
        int[] window = new int[CHUNK_TOKENS + 2];
        float[] m = new float[CHUNK_TOKENS + 2];
        Arrays.fill(window, tokenizer.eosId()); // A1111 pads SD 1.x chunks with EOS (id_end), as the tokenizer does
        Arrays.fill(m, 1f);
        window[0] = tokenizer.bosId();
        System.arraycopy(tokens.values, 0, window, 1, tokens.size);
        System.arraycopy(weights.values, 0, m, 1, weights.size);
        ids.add(window);
        mults.add(m);
        tokens.size = 0;
        weights.size = 0;
    }

    private static int commaToken(ClipTokenizer tokenizer) {
        int[] t = tokenizer.tokenize(",");
        return t.length == 1 ? t[0] : Integer.MIN_VALUE;
    }

    /**
     * A1111's emphasis ({@code EmphasisOriginal}) on the hidden states of one prompt, [chunks × 77, D], in place:
     * per chunk, every token's state times its weight, then the whole chunk rescaled so that its mean over all
     * tokens and channels is what it was before.
     */
    public static void applyWeights(float[] hidden, Chunks chunks, int hiddenSize) {
        int window = CHUNK_TOKENS_WITH_ENDS;
        for (int c = 0; c < chunks.count(); c++) {
            float[] w = chunks.multipliers()[c];
            boolean any = false;
            for (float x : w) {
                any |= x != 1f;
            }
            if (!any) {
                continue; // ×1 and a ratio of exactly 1: leave the chunk as CLIP gave it
            }
            int base = c * window * hiddenSize;
            int n = window * hiddenSize;
            double before = 0;
            for (int i = 0; i < n; i++) {
                before += hidden[base + i];
            }
            double after = 0;
            for (int t = 0; t < window; t++) {
                for (int d = 0; d < hiddenSize; d++) {
                    int i = base + t * hiddenSize + d;
                    hidden[i] *= w[t];
                    after += hidden[i];
                }
            }
            float ratio = (float) (before / after); // means over the same count: the sums' ratio
            for (int i = 0; i < n; i++) {
                hidden[base + i] *= ratio;
            }
        }
    }

    private static final class IntList {
        int[] values = new int[CHUNK_TOKENS + 1];
        int size;

        void add(int v) {
            values[size++] = v;
        }
    }

    private static final class FloatList {
        float[] values = new float[CHUNK_TOKENS + 1];
        int size;

        void add(float v) {
            values[size++] = v;
        }
    }
}
