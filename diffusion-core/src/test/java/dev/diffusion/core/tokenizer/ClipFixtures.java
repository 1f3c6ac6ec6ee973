package dev.diffusion.core.tokenizer;

import dev.diffusion.core.testing.Fixtures;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * OpenAI's CLIP vocabulary from the shared test fixtures ({@link Fixtures#clipVocabulary()}: skipped, loudly,
 * where the fixtures are absent, as on a user's machine; a failure where they are present without it).
 */
final class ClipFixtures {
    private static ClipTokenizer reference;

    private ClipFixtures() {}

    static Path bpeGz() {
        return Fixtures.clipVocabulary();
    }

    /** The real CLIP tokenizer, loaded once per test JVM. */
    static synchronized ClipTokenizer reference() {
        if (reference == null) {
            try {
                reference = ClipTokenizer.fromBpeGz(bpeGz());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return reference;
    }
}
