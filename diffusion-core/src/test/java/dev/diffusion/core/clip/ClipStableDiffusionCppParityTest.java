package dev.diffusion.core.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.testing.Fixtures;
import dev.diffusion.core.weights.CompVisKeys;
import dev.diffusion.core.weights.ModelComponent;
import dev.diffusion.core.weights.SafeTensorsFile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The full-size text encoder on the random SD 1.5 checkpoint against stable-diffusion.cpp's
 * outputs (fixtures/sd15-random/README.md): clip skip 1, [1, 77, 768].
 */
class ClipStableDiffusionCppParityTest {
    static final int BOS = 49406;
    static final int EOS = 49407;

    /** BOS, the words, EOS, padded with EOS to 77, as sd.cpp pads for SD 1.x. */
    static int[] padded(int... words) {
        int[] ids = new int[77];
        Arrays.fill(ids, EOS);
        ids[0] = BOS;
        System.arraycopy(words, 0, ids, 1, words.length);
        return ids;
    }

    @Test
    void catPromptAndEmptyPromptMatchStableDiffusionCpp() {
        Path checkpoint = Fixtures.sd15Checkpoint();
        Path dir = Fixtures.fixtureCase("euler-cat-s42-256");
        float[] condRef = Fixtures.readF32(dir.resolve("cond_crossattn.f32"));
        float[] uncondRef = Fixtures.readF32(dir.resolve("uncond_crossattn.f32"));
        assertEquals(77 * 768, condRef.length);
        assertEquals(77 * 768, uncondRef.length);

        // "a photo of a cat" in CLIP's BPE vocabulary
        int[] cat = padded(320, 1125, 539, 320, 2368);
        int[] empty = padded();
        try (SafeTensorsFile file = SafeTensorsFile.open(checkpoint);
             ClipTextModel clip = new ClipTextModel(CompVisKeys.sd1().diffusersView(file, ModelComponent.TEXT_ENCODER),
                     ClipTextConfig.sd15(), Precision.FP32)) {
            assertEquals(768, clip.hiddenSize());
            long start = System.nanoTime();
            float[] both = clip.encode(new int[][] {cat, empty}, 1);
            long millis = (System.nanoTime() - start) / 1_000_000;
            float[] cond = Arrays.copyOfRange(both, 0, 77 * 768);
            float[] uncond = Arrays.copyOfRange(both, 77 * 768, 2 * 77 * 768);
            report("cond", cond, condRef);
            report("uncond", uncond, uncondRef);
            System.out.printf(Locale.ROOT, "CLIP parity: load %d ms, encode B=2 %d ms (first run)%n", clip.loadMillis(), millis);
            start = System.nanoTime();
            clip.encode(new int[][] {cat, empty}, 1);
            System.out.printf(Locale.ROOT, "CLIP parity: encode B=2 %d ms (second run)%n", (System.nanoTime() - start) / 1_000_000);
            assertTrue(ClipTextModelTest.relErr(cond, condRef) <= 1e-3, "cond rel err " + ClipTextModelTest.relErr(cond, condRef));
            assertTrue(ClipTextModelTest.relErr(uncond, uncondRef) <= 1e-3,
                    "uncond rel err " + ClipTextModelTest.relErr(uncond, uncondRef));
        }
    }

    @Test
    void bf16StaysNearStableDiffusionCpp() {
        Path checkpoint = Fixtures.sd15Checkpoint();
        Path dir = Fixtures.fixtureCase("euler-cat-s42-256");
        float[] condRef = Fixtures.readF32(dir.resolve("cond_crossattn.f32"));
        try (SafeTensorsFile file = SafeTensorsFile.open(checkpoint);
             ClipTextModel clip = new ClipTextModel(CompVisKeys.sd1().diffusersView(file, ModelComponent.TEXT_ENCODER),
                     ClipTextConfig.sd15(), Precision.BF16)) {
            float[] cond = clip.encode(new int[][] {padded(320, 1125, 539, 320, 2368)}, 1);
            report("cond bf16", cond, condRef);
            // bf16 matmuls (8 significant bits) through 12 layers: a few 1e-3 relative, not 1e-3
            assertTrue(ClipTextModelTest.relErr(cond, condRef) <= 3e-2, "bf16 cond rel err " + ClipTextModelTest.relErr(cond, condRef));
        }
    }

    private static void report(String name, float[] ours, float[] ref) {
        System.out.printf(Locale.ROOT, "CLIP parity %s: rel err %.3e, max abs diff %.3e, ref rms %.3f, ref[0..3] %s ours %s%n",
                name, ClipTextModelTest.relErr(ours, ref), ClipTextModelTest.maxAbsDiff(ours, ref),
                Math.sqrt(dot(ref, ref) / ref.length), Arrays.toString(Arrays.copyOf(ref, 3)),
                Arrays.toString(Arrays.copyOf(ours, 3)));
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }
}
