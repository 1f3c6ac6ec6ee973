package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Made-up words in training captions: only inserted, never a real caption word, at the stated rate. */
class CaptionsTest {

    private static List<String> words(String caption) {
        List<String> out = new ArrayList<>();
        for (String w : caption.split("[ ,]+")) {
            if (!w.isEmpty()) {
                out.add(w);
            }
        }
        return out;
    }

    @Test
    void knownWordsCoverEveryTrainingCaption() {
        SplittableRandom rng = new SplittableRandom(1);
        for (int i = 0; i < 5000; i++) {
            for (String w : words(Captions.training(Scene.random(rng, 64), rng))) {
                assertTrue(Captions.KNOWN_WORDS.contains(w), "training word '" + w + "' missing from KNOWN_WORDS");
            }
        }
    }

    @Test
    void junkIsInsertedIntoAboutAThirdOfCaptionsAndRemovesToTheOriginal() {
        SplittableRandom rng = new SplittableRandom(2);
        int changed = 0;
        int n = 10_000;
        for (int i = 0; i < n; i++) {
            String clean = Captions.training(Scene.random(rng, 64), rng);
            String noisy = Captions.withJunk(clean, rng);
            List<String> kept = new ArrayList<>();
            int junk = 0;
            for (String w : noisy.split(" ")) {
                String bare = w.replace(",", "");
                if (Captions.KNOWN_WORDS.contains(bare) || !w.equals(bare)) {
                    kept.add(w);
                } else {
                    junk++;
                    assertTrue(bare.matches("[a-z]{2,9}"), "junk word '" + bare + "'");
                }
            }
            assertEquals(clean, String.join(" ", kept), "removing the junk words of '" + noisy + "'");
            assertTrue(junk <= 2, noisy);
            if (junk > 0) {
                changed++;
            }
        }
        // binomial(10000, 0.3): mean 3000, sd 46
        assertEquals(Captions.JUNK * n, changed, 200, "captions with junk");
        assertFalse(Captions.KNOWN_WORDS.isEmpty());
    }
}
