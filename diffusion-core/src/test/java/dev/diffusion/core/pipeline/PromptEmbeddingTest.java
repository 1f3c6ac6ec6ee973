package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Weighted and chunked prompts at the level of embeddings, on the demo model (its CLIP's final layer norm is trained,
 * so a chunk's mean is not zero and the mean restoration is a real rescale; on the random SD 1.5 checkpoint it
 * divides rounding noise by rounding noise). Expected values are A1111's formula applied here to our own unweighted
 * hidden states: z' = z · w (per token), then z' · mean(z) / mean(z · w) over the chunk.
 */
class PromptEmbeddingTest {
    private static StableDiffusionPipeline demo;
    private static int d;

    @BeforeAll
    static void load() {
        demo = StableDiffusionPipeline.load(ModelSource.demoFolder().toString(), null, Precision.FP32);
        d = demo.encodePair("", "x", 1, ProgressListener.NONE)[1].length / 77;
    }

    @AfterAll
    static void close() {
        demo.close();
    }

    private static float[] cond(String prompt) {
        return demo.encodePair("", prompt, 1, ProgressListener.NONE)[1];
    }

    /** A1111's emphasis on one 77-token chunk, in double precision, written out here. */
    private static float[] emphasis(float[] z, double[] tokenWeights) {
        double before = 0;
        double after = 0;
        double[] scaled = new double[z.length];
        for (int t = 0; t < 77; t++) {
            for (int k = 0; k < d; k++) {
                before += z[t * d + k];
                scaled[t * d + k] = z[t * d + k] * tokenWeights[t];
                after += scaled[t * d + k];
            }
        }
        float[] out = new float[z.length];
        for (int i = 0; i < z.length; i++) {
            out[i] = (float) (scaled[i] * before / after);
        }
        return out;
    }

    private static void assertClose(float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length);
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(want[i] - got[i]));
        }
        assertTrue(worst <= tol, "max abs diff " + worst);
    }

    @Test
    void weightsAreTheFormulaOnTheUnweightedStates() {
        ClipTokenizer tok = demo.tokenizer();
        assertEquals(3, tok.tokenize("a red circle").length);
        float[] plain = cond("a red circle");
        // the same tokens with weights: "red" is token 2 (after BOS and "a")
        double[] w = new double[77];
        Arrays.fill(w, 1);
        w[2] = 1.3;
        assertClose(emphasis(plain, w), cond("a (red:1.3) circle"), 1e-5);
        w[2] = 1.1 * 1.1;
        assertClose(emphasis(plain, w), cond("a ((red)) circle"), 1e-5);
        w[2] = 1 / 1.1;
        w[3] = 1 / 1.1;
        assertClose(emphasis(plain, w), cond("a [red circle]"), 1e-5);
        // the rescale is real on this model: the weighted chunk differs from plain × weight
        float[] weighted = cond("a (red:1.3) circle");
        assertTrue(Math.abs(weighted[2 * d] - 1.3f * plain[2 * d]) > 1e-4, "mean restoration did nothing");
        // escaped brackets are text at weight 1: the tokens of the bare text "a (red) circle"
        var escaped = dev.diffusion.core.tokenizer.PromptSyntax.chunk(tok, "a \\(red\\) circle", 0);
        assertArrayEquals(tok.encode("a (red) circle").ids(), escaped.ids()[0]);
        assertTrue(!escaped.weighted());
    }

    private static int[] concat(int[]... parts) {
        int[] out = new int[0];
        for (int[] p : parts) {
            int at = out.length;
            out = Arrays.copyOf(out, at + p.length);
            System.arraycopy(p, 0, out, at, p.length);
        }
        return out;
    }

    @Test
    void longPromptsAreChunksEncodedAloneAndConcatenated() {
        String word = "red";
        assertEquals(1, demo.tokenizer().tokenize(word).length);
        float[] long80 = cond((word + " ").repeat(80));
        assertEquals(2 * 77 * d, long80.length);
        float[] first = cond((word + " ").repeat(75));
        float[] second = cond((word + " ").repeat(5));
        assertClose(first, Arrays.copyOfRange(long80, 0, 77 * d), 1e-6);
        assertClose(second, Arrays.copyOfRange(long80, 77 * d, 2 * 77 * d), 1e-6);
        // BREAK: the same as two chunks
        float[] broken = cond("a red circle BREAK on the left");
        assertEquals(2 * 77 * d, broken.length);
        assertClose(cond("a red circle"), Arrays.copyOfRange(broken, 0, 77 * d), 1e-6);
        assertClose(cond("on the left"), Arrays.copyOfRange(broken, 77 * d, 2 * 77 * d), 1e-6);
        // weights in the second chunk touch only that chunk, with its own mean
        float[] weighted = cond("a red circle BREAK on the (left:1.4)");
        assertClose(cond("a red circle"), Arrays.copyOfRange(weighted, 0, 77 * d), 1e-6);
        double[] w = new double[77];
        Arrays.fill(w, 1);
        w[3] = 1.4;
        assertClose(emphasis(cond("on the left"), w), Arrays.copyOfRange(weighted, 77 * d, 2 * 77 * d), 1e-5);
    }

    @Test
    void anImageWithALongPromptAndAShortNegativeRuns() {
        GenerationRequest r = new GenerationRequest(("a red circle on the left, ").repeat(20), "blurry", 64, 64, 2, "euler",
                null, 7.0, 1, 1, 1, null);
        java.util.List<ProgressListener.StepTrace> traces = new java.util.ArrayList<>();
        GeneratedImage image = demo.generate(r, new ProgressListener() {
            @Override
            public void onStepTrace(StepTrace t) {
                traces.add(t);
            }
        }).get(0);
        assertEquals(2, traces.size());
        assertEquals(r.prompt(), image.parameters().prompt()); // the PNG keeps the prompt as typed
        for (float v : image.latent()) {
            assertTrue(Float.isFinite(v));
        }
    }
}
