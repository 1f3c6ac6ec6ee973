package dev.diffusion.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.tokenizer.PromptSyntax.Segment;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A1111's prompt syntax. The parse cases and their numbers are the ones A1111 documents in
 * {@code modules/prompt_parser.py} ({@code parse_prompt_attention}'s doctest), e.g. {@code (((house:1.3))} =
 * 1.3 × 1.1 × 1.1 = 1.573. Chunking is checked on the byte-level tokenizer, where "word" is 4 tokens.
 */
class PromptSyntaxTest {
    private static void parses(String prompt, Object... textWeight) {
        List<Segment> got = PromptSyntax.parse(prompt);
        assertEquals(textWeight.length / 2, got.size(), got.toString());
        for (int i = 0; i < got.size(); i++) {
            assertEquals(textWeight[2 * i], got.get(i).text(), got.toString());
            assertEquals((double) textWeight[2 * i + 1], got.get(i).weight(), 1e-12, got.toString());
        }
    }

    @Test
    void parsesAsA1111Documents() {
        parses("normal text", "normal text", 1.0);
        parses("an (important) word", "an ", 1.0, "important", 1.1, " word", 1.0);
        parses("(unbalanced", "unbalanced", 1.1);
        parses("\\(literal\\]", "(literal]", 1.0);
        parses("(unnecessary)(parens)", "unnecessaryparens", 1.1);
        parses("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                "a ", 1.0, "house", 1.5730000000000004, " ", 1.1, "on", 1.0, " a ", 1.1, "hill", 0.55, ", sun, ", 1.1,
                "sky", 1.4641000000000006, ".", 1.1);
        parses("((x))", "x", 1.2100000000000002);
        parses("[x]", "x", 1 / 1.1);
        parses("[[x]]", "x", 1 / 1.1 / 1.1);
        parses("a BREAK b", "a", 1.0, "BREAK", -1.0, "b", 1.0);
        parses("(a BREAK b:1.5)", "a", 1.5, "BREAK", -1.5, "b", 1.5); // A1111 weights the marker too; then it is text
        parses("", "", 1.0);
        parses("x:1.2)", "x:1.2)", 1.0); // a weight without an open bracket is text
        parses("\\\\ok", "\\ok", 1.0);
    }

    @Test
    void malformedWeightsFailAsInA1111OrAreTextWhereItsPatternDoesNotTakeThem() {
        // A1111's pattern takes ":1.2.3)" and "(:.)" as a weight and Python's float() raises: the prompt fails
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptSyntax.parse("a (x:1.2.3) b"));
        assertEquals("the weight in ':1.2.3)' is not a number ('1.2.3'; write it as 1.2, .5 or 2)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PromptSyntax.parse("(x:.)"));
        assertThrows(IllegalArgumentException.class, () -> PromptSyntax.parse("(x: 1..2 )"));
        // letters or nothing after the colon are not a weight: ":" is text and ")" closes a plain (x) = 1.1
        parses("(x:abc)", "x:abc", 1.1);
        parses("(x:)", "x:", 1.1);
        parses("a (x:+) b", "a ", 1.0, "x:+", 1.1, " b", 1.0);
        // what float() accepts, we do too
        parses("(x:1.)", "x", 1.0);
        parses("(x:.5)", "x", 0.5);
        parses("(x: -1 )", "x", -1.0);
        // an unopened weight stays text however malformed (A1111 never calls float() on it)
        parses("x:1.2.3)", "x:1.2.3)", 1.0);
        // weights beyond ±1000 (a float32 embedding times 1e39 is not finite: a black image) are refused, nesting
        // multiplied: 1.1^73 = 1,051 > 1000 > 1.1^72 = 955
        parses("(x:1000)", "x", 1000.0);
        e = assertThrows(IllegalArgumentException.class, () -> PromptSyntax.parse("a red (circle:99999999999999999999999999999999999999999)"));
        assertEquals("the weight of 'circle' comes to 1.0E41; weights (nested brackets multiplied) must be between -1000 and 1000",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PromptSyntax.parse("(x:-1001)"));
        assertThrows(IllegalArgumentException.class, () -> PromptSyntax.parse("(".repeat(73) + "x" + ")".repeat(73)));
        PromptSyntax.parse("(".repeat(72) + "x" + ")".repeat(72));
    }

    private static final ClipTokenizer BYTES = ClipTokenizer.byteLevel();

    @Test
    void longPromptsFillChunksOf75AndBreakStartsANewOne() {
        int bos = BYTES.bosId();
        int eos = BYTES.eosId();
        PromptSyntax.Chunks c = PromptSyntax.chunk(BYTES, "word ".repeat(100), 0); // 400 tokens
        assertEquals(6, c.count());
        assertEquals(400, c.tokenCount());
        int[] word = BYTES.tokenize("word");
        assertEquals(4, word.length);
        for (int k = 0; k < 6; k++) {
            int[] ids = c.ids()[k];
            assertEquals(77, ids.length);
            assertEquals(bos, ids[0]);
            assertEquals(eos, ids[76]);
            int tokens = k < 5 ? 75 : 25;
            for (int i = 0; i < tokens; i++) {
                int position = 75 * k + i; // position in the whole token stream
                assertEquals(word[position % 4], ids[1 + i], "chunk " + k + " token " + i);
            }
            for (int i = tokens + 1; i < 77; i++) {
                assertEquals(eos, ids[i], "padding of chunk " + k);
            }
        }
        assertFalse(c.weighted());
        // exactly 75 tokens stay one chunk; 76 make two
        assertEquals(1, PromptSyntax.chunk(BYTES, "abcde".repeat(15), 0).count());
        assertEquals(2, PromptSyntax.chunk(BYTES, "abcde".repeat(15) + " x", 0).count());
        // BREAK closes the chunk: "ab BREAK cd" is [BOS a b EOS ...], [BOS c d EOS ...]
        PromptSyntax.Chunks b = PromptSyntax.chunk(BYTES, "ab BREAK cd", 0);
        assertEquals(2, b.count());
        assertArrayEquals(Arrays.copyOfRange(window(BYTES.tokenize("ab")), 0, 77), b.ids()[0]);
        assertArrayEquals(window(BYTES.tokenize("cd")), b.ids()[1]);
        assertEquals(1, PromptSyntax.chunk(BYTES, "", 0).count());
        assertThrows(IllegalArgumentException.class, () -> PromptSyntax.chunk(BYTES, "x".repeat(751), 0));
    }

    /**
     * Where A1111 and stable-diffusion.cpp part ways on {@code BREAK}, we follow A1111 ({@code tokenize_line}: every
     * BREAK closes the current chunk, even an empty one). sd.cpp instead pads the token list with EOS up to the next
     * multiple of 75, which adds nothing when the list is already there: a leading BREAK or a second BREAK in a row
     * makes no empty chunk in sd.cpp (1 and 2 chunks below), and so a different image.
     */
    @Test
    void breakOnAnEmptyChunkMakesAnEmptyChunkAsA1111Does() {
        int bos = BYTES.bosId();
        int eos = BYTES.eosId();
        PromptSyntax.Chunks leading = PromptSyntax.chunk(BYTES, "BREAK ab", 0);
        assertEquals(2, leading.count());
        int[] empty = new int[77];
        Arrays.fill(empty, eos);
        empty[0] = bos;
        assertArrayEquals(empty, leading.ids()[0]);
        assertArrayEquals(window(BYTES.tokenize("ab")), leading.ids()[1]);
        PromptSyntax.Chunks twice = PromptSyntax.chunk(BYTES, "ab BREAK BREAK cd", 0);
        assertEquals(3, twice.count());
        assertArrayEquals(empty, twice.ids()[1]);
        // both agree on these: a trailing BREAK adds no chunk, and neither does a BREAK right after a full chunk
        assertEquals(1, PromptSyntax.chunk(BYTES, "ab BREAK", 0).count());
        assertEquals(2, PromptSyntax.chunk(BYTES, "abcde".repeat(15) + " BREAK x", 0).count());
    }

    /** BOS, tokens, EOS padding: what the plain tokenizer gives a short prompt. */
    private static int[] window(int[] tokens) {
        int[] w = new int[77];
        Arrays.fill(w, BYTES.eosId());
        w[0] = BYTES.bosId();
        System.arraycopy(tokens, 0, w, 1, tokens.length);
        return w;
    }

    @Test
    void shortPromptsGiveTheTokenizersOwnWindow() {
        for (String p : List.of("a photo of a cat", "", "x y z")) {
            PromptSyntax.Chunks c = PromptSyntax.chunk(BYTES, p, 0);
            assertEquals(1, c.count());
            assertArrayEquals(BYTES.encode(p).ids(), c.ids()[0], p);
        }
    }

    @Test
    void weightsGoToTheirTokens() {
        PromptSyntax.Chunks c = PromptSyntax.chunk(BYTES, "a (bc:1.5) [d]", 0);
        float[] m = c.multipliers()[0];
        // tokens: a</w> b c</w> d</w>
        assertEquals(1f, m[0]); // BOS
        assertEquals(1f, m[1]);
        assertEquals(1.5f, m[2]);
        assertEquals(1.5f, m[3]);
        assertEquals((float) (1 / 1.1), m[4]);
        assertEquals(1f, m[5]); // EOS
        assertTrue(c.weighted());
    }

    @Test
    void commaBacktrackMovesTheTailAfterTheLastCommaAsA1111Does() {
        // 70 tokens, a comma, then 10 tokens: the chunk fills at 75 with the comma 5 tokens back
        String prompt = "a".repeat(70) + "," + "b".repeat(10);
        PromptSyntax.Chunks off = PromptSyntax.chunk(BYTES, prompt, 0);
        PromptSyntax.Chunks on = PromptSyntax.chunk(BYTES, prompt, 20);
        assertEquals(2, off.count());
        assertEquals(2, on.count());
        int comma = BYTES.tokenize(",")[0];
        assertEquals(comma, on.ids()[0][71]);
        assertEquals(BYTES.eosId(), on.ids()[0][72]); // the 4 tokens after the comma moved on
        assertEquals(BYTES.tokenize("bb")[0], off.ids()[0][72]); // "b" inside a word (no end-of-word mark)
        assertEquals(10, countNonPad(on.ids()[1]));
        assertEquals(6, countNonPad(off.ids()[1]));
    }

    private static int countNonPad(int[] ids) {
        int n = 0;
        for (int i = 1; i < ids.length && ids[i] != BYTES.eosId(); i++) {
            n++;
        }
        return n;
    }

    @Test
    void emphasisScalesTokensThenRestoresTheChunkMean() {
        int d = 3;
        float[] hidden = new float[77 * d];
        for (int i = 0; i < hidden.length; i++) {
            hidden[i] = (float) Math.sin(i * 0.37) + 0.2f;
        }
        PromptSyntax.Chunks c = PromptSyntax.chunk(BYTES, "(a:2) b", 0);
        float[] expected = hidden.clone();
        double mean0 = 0;
        for (float v : expected) {
            mean0 += v / expected.length;
        }
        for (int dd = 0; dd < d; dd++) {
            expected[1 * d + dd] *= 2; // "a</w>" is token 1
        }
        double mean1 = 0;
        for (float v : expected) {
            mean1 += v / expected.length;
        }
        for (int i = 0; i < expected.length; i++) {
            expected[i] *= (float) (mean0 / mean1);
        }
        float[] got = hidden.clone();
        PromptSyntax.applyWeights(got, c, d);
        for (int i = 0; i < got.length; i++) {
            assertEquals(expected[i], got[i], 1e-6, "element " + i);
        }
        // all weights 1: untouched, bit for bit
        float[] same = hidden.clone();
        PromptSyntax.applyWeights(same, PromptSyntax.chunk(BYTES, "a b", 0), d);
        assertArrayEquals(hidden, same);
    }
}
