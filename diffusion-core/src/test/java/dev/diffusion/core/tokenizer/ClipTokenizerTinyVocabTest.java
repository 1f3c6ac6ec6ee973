package dev.diffusion.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A hand-made vocabulary small enough to apply the merges by hand; needs no fixture. */
class ClipTokenizerTinyVocabTest {
    private static final Map<String, Integer> VOCAB = vocab(
            "a", "b", "c", "a</w>", "b</w>", "c</w>", // 0..5
            "ab", "abc</w>", "bc</w>", "aa",          // 6..9
            "<|startoftext|>", "<|endoftext|>", "<pad>"); // 10, 11, 12
    // rank 0 "a b", rank 1 "ab c</w>", rank 2 "b c</w>", rank 3 "a a"
    private static final List<String> MERGES = List.of("a b", "ab c</w>", "b c</w>", "a a");

    private static Map<String, Integer> vocab(String... tokens) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (String token : tokens) {
            vocab.put(token, vocab.size());
        }
        return vocab;
    }

    private static ClipTokenizer tiny(int contextLength) {
        return ClipTokenizer.fromVocabAndMerges(VOCAB, MERGES,
                new ClipTokenizer.SpecialTokens("<|startoftext|>", "<|endoftext|>", "<pad>", "<|endoftext|>"),
                contextLength);
    }

    @Test
    void mergesAppliedByRank() {
        ClipTokenizer t = tiny(77);
        // abc: [a b c</w>]: "a b"(0) beats "b c</w>"(2) -> [ab c</w>] -> "ab c</w>"(1) -> abc</w> = 7
        assertArrayEquals(new int[] {7}, t.tokenize("abc"));
        // bc: [b c</w>] -> bc</w> = 8
        assertArrayEquals(new int[] {8}, t.tokenize("bc"));
        // cab: [c a b</w>]: neither "c a" nor "a b</w>" is a merge -> 2, 0, 4
        assertArrayEquals(new int[] {2, 0, 4}, t.tokenize("cab"));
        // abab: "a b"(0) merges the first pair only, the second is "a b</w>" -> [ab a b</w>] = 6, 0, 4
        assertArrayEquals(new int[] {6, 0, 4}, t.tokenize("abab"));
        // aaa: "a a"(3) merges left to right without overlap: [aa a</w>] = 9, 3
        assertArrayEquals(new int[] {9, 3}, t.tokenize("aaa"));
        // aaaa: [a a a a</w>] -> [aa a a</w>]; "aa a" is no merge -> 9, 0, 3
        assertArrayEquals(new int[] {9, 0, 3}, t.tokenize("aaaa"));
    }

    @Test
    void windowWithBosEosFromTheVocabAndConfiguredPad() {
        ClipTokenizer.Encoding e = tiny(8).encode("ABC  bc");
        assertArrayEquals(new int[] {10, 7, 8, 11, 12, 12, 12, 12}, e.ids());
        assertEquals(2, e.tokenCount());
        assertEquals(4, e.length());
        assertArrayEquals(new int[] {1, 1, 1, 1, 0, 0, 0, 0}, e.attentionMask());
        assertEquals(11, tiny(8).withPadToken("<|endoftext|>").encode("abc").ids()[7]);
    }

    @Test
    void emptyPromptIsBosEosAndPadding() {
        ClipTokenizer.Encoding e = tiny(5).encode("  \n ");
        assertArrayEquals(new int[] {10, 11, 12, 12, 12}, e.ids());
        assertEquals(0, e.tokenCount());
        assertEquals(2, e.length());
        assertEquals("", tiny(5).decode(e.ids()));
    }

    @Test
    void truncationKeepsTheFirstTokensAndReportsTheRest() {
        // abc bc cab -> 7, 8, 2, 0, 4; a window of 6 has room for 4
        ClipTokenizer.Encoding e = tiny(6).encode("abc bc cab");
        assertArrayEquals(new int[] {10, 7, 8, 2, 0, 11}, e.ids());
        assertTrue(e.truncated());
        assertEquals(5, e.tokenCount());
        assertEquals("b", e.truncatedText());
        assertEquals("abc bc ca", tiny(6).decode(e.ids()));
    }

    @Test
    void unknownSymbolsBecomeUnkOrFail() {
        // 'd' is not in the vocabulary: unk (= <|endoftext|> here, as in Hugging Face's CLIPTokenizer)
        assertArrayEquals(new int[] {7, 11}, tiny(77).tokenize("abc d"));
        ClipTokenizer noUnk = ClipTokenizer.fromVocabAndMerges(VOCAB, MERGES,
                new ClipTokenizer.SpecialTokens("<|startoftext|>", "<|endoftext|>", "<pad>", null), 77);
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> noUnk.tokenize("d"));
        assertTrue(error.getMessage().contains("'d</w>'"), error.getMessage());
    }

    @Test
    void missingSpecialTokenIsAClearError() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> ClipTokenizer.fromVocabAndMerges(Map.of("a", 0, "a</w>", 1), List.of()));
        assertTrue(error.getMessage().contains("<|startoftext|>"), error.getMessage());
    }

    @Test
    void writeThenReadBack(@TempDir Path dir) throws IOException {
        ClipTokenizer t = tiny(8);
        t.write(dir);
        assertEquals("#version: 0.2\na b\nab c</w>\nb c</w>\na a\n", Files.readString(dir.resolve("merges.txt")));
        ClipTokenizer back = ClipTokenizer.fromDiffusersFolder(dir);
        assertEquals(t.specialTokens(), back.specialTokens());
        assertEquals(8, back.contextLength());
        assertEquals(12, back.padId());
        assertEquals(t.encode("abc bc cab aaaa"), back.encode("abc bc cab aaaa"));
        for (String file : List.of("vocab.json", "tokenizer_config.json", "special_tokens_map.json")) {
            assertTrue(Files.isRegularFile(dir.resolve(file)), file);
        }
    }
}
