package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion.core.tokenizer.ClipTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The learned vocabulary makes whole words of the caption words and survives a round trip through vocab.json + merges.txt. */
class BpeLearnerTest {

    @Test
    void captionWordsBecomeSingleTokensAndTheFolderReadsBack(@TempDir Path dir) throws Exception {
        ClipTokenizer t = BpeLearner.learn(List.of("a red circle on the left", "a red square", "red circle, top"), 100);
        assertEquals(1, t.tokenize("red").length);
        assertEquals(1, t.tokenize("circle").length);
        assertEquals(ClipTokenizer.START_OF_TEXT, t.token(t.bosId()));
        assertEquals(ClipTokenizer.END_OF_TEXT, t.token(t.eosId()));
        t.write(dir);
        ClipTokenizer back = ClipTokenizer.fromDiffusersFolder(dir);
        assertArrayEquals(t.encode("a red circle on the left").ids(), back.encode("a red circle on the left").ids());
        assertEquals(t.vocabSize(), back.vocabSize());
        assertEquals(true, Files.readString(dir.resolve("merges.txt")).startsWith("#version"));
    }
}
