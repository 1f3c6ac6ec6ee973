package dev.diffusion.core.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds OpenAI's CLIP vocabulary among the shared test fixtures: the {@code shared.dir} system
 * property first, then {@code ../shared} and {@code ../../shared} from the working directory.
 * The fixture is not shipped to users, so tests that need it are skipped, loudly, without it.
 */
final class ClipFixtures {
    private static final String RELATIVE = "fixtures/clip/bpe_simple_vocab_16e6.txt.gz";
    private static ClipTokenizer reference;

    private ClipFixtures() {}

    static Path bpeGz() {
        String property = System.getProperty("shared.dir");
        for (Path shared : new Path[] {
                property == null ? null : Path.of(property), Path.of("../shared"), Path.of("../../shared")}) {
            if (shared != null && Files.isRegularFile(shared.resolve(RELATIVE))) {
                return shared.resolve(RELATIVE);
            }
        }
        String message = "SKIPPED: CLIP vocabulary " + RELATIVE + " not found (shared.dir=" + property
                + ", cwd=" + Path.of("").toAbsolutePath() + "); the reference-vocabulary tokenizer tests did not run";
        System.err.println("!!!!! " + message);
        assumeTrue(false, message);
        throw new AssertionError("unreachable");
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
