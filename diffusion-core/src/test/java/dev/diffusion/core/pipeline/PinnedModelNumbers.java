package dev.diffusion.core.pipeline;

import static dev.diffusion.core.testing.PinnedSlice.distinctValues;
import static dev.diffusion.core.testing.PinnedSlice.maxAbsDiff;
import static dev.diffusion.core.testing.PinnedSlice.meanAbs;
import static dev.diffusion.core.testing.PinnedSlice.wave;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.RngKind;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Numbers of a whole model that need nothing outside the repository (no {@code ../shared}): the inputs of the
 * pinned slices ({@link TinyRandomPinnedTest}, {@link DemoPinnedTest}) and the invariants any correct
 * implementation keeps whatever its weights, which the pinned numbers were checked against when they were taken.
 *
 * <p>Inputs: the prompt pair ("" , {@value #PROMPT}); one U-Net call on a batch of two 8×8 latents
 * {@code sin(0.37·i + 0.5)} (NHWC) at timesteps 999 and 250 with the context {@code 0.5·sin(0.11·i + 1)}
 * ([2, 77, D]); one VAE decode of the 8×8 latent {@code sin(0.23·i + 0.1)}; the 64×64 image of {@link #IMAGE}
 * (Euler, discrete sigmas, 4 steps, cfg 7, seed 42, Philox noise). None of these depends on the text encoder
 * except the image, so a change in one network moves only its own slice and the image.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class PinnedModelNumbers {
    static final String PROMPT = "a red circle on the left on a white background";
    static final String NEGATIVE = "";
    static final int LATENT_SIDE = 8;
    static final float[] TIMESTEPS = {999f, 250f};
    static final GenerationRequest IMAGE = new GenerationRequest(PROMPT, NEGATIVE, 64, 64, 4, "euler", "discrete", 7.0, 42,
            1, 1, RngKind.PHILOX);

    StableDiffusionPipeline pipeline;
    /** The text encoder's width D and window (77), as the model's configs say. */
    int hidden;
    int contextLength;
    int channels;

    abstract String model();

    @BeforeAll
    void load() {
        try (ModelSource source = ModelSource.open(model(), null)) {
            hidden = source.textEncoderConfig().hiddenSize();
            contextLength = source.contextLength();
        }
        pipeline = StableDiffusionPipeline.load(model(), null, Precision.FP32);
        channels = pipeline.latentChannels();
    }

    @AfterAll
    void close() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    /** [uncond, cond] context [2, 77, D] of the prompt pair. */
    float[] embeddings() {
        return pipeline.encodePrompts(NEGATIVE, PROMPT, 1, ProgressListener.NONE);
    }

    float[] unetLatents() {
        return wave(2 * LATENT_SIDE * LATENT_SIDE * channels, 0.37, 0.5, 1.0);
    }

    float[] unetContext() {
        return wave(2 * contextLength * hidden, 0.11, 1.0, 0.5);
    }

    /** ε for the batch of two: [2, 8, 8, C] NHWC. */
    float[] unetOutput() {
        return pipeline.predictNoise(unetLatents(), 2, LATENT_SIDE, LATENT_SIDE, TIMESTEPS, unetContext());
    }

    /** The decoder's output, NHWC in ≈[−1, 1], of the 8×8 wave latent. */
    float[] decoded() {
        return pipeline.decode(wave(LATENT_SIDE * LATENT_SIDE * channels, 0.23, 0.1, 1.0), 1, LATENT_SIDE, LATENT_SIDE);
    }

    float[] decodedZeroLatent() {
        return pipeline.decode(new float[LATENT_SIDE * LATENT_SIDE * channels], 1, LATENT_SIDE, LATENT_SIDE);
    }

    int decodedLength() {
        int side = LATENT_SIDE * pipeline.latentScale();
        return side * side * 3;
    }

    GeneratedImage image() {
        return pipeline.generate(IMAGE, ProgressListener.NONE).get(0);
    }

    // ------------------------------------------------------------------ invariants, whatever the weights

    /**
     * CLIP's causal mask lets BOS (position 0) see only itself, so its row is the same for both prompts; every later
     * position sees the prompt, so the two prompts' rows differ. Encoding is deterministic to the bit.
     */
    @Test
    void embeddingsKeepTheCausalMaskAndSeparateThePrompts() {
        float[] e = embeddings();
        int row = hidden;
        int window = contextLength * hidden;
        assertEquals(0.0, maxAbsDiff(e, 0, e, window, row), 1e-6, "BOS rows of uncond and cond");
        for (int position = 1; position < contextLength; position++) {
            assertTrue(maxAbsDiff(e, position * row, e, window + position * row, row) > 1e-2,
                    "position " + position + ": uncond and cond rows are the same");
        }
        assertArrayEquals(e, embeddings(), "encoding the same prompts again");
    }

    /** Each sample of a U-Net batch is computed on its own: its half of the batch equals a call with it alone. */
    @Test
    void unetBatchEqualsSeparateCalls() {
        float[] batch = unetOutput();
        float[] latents = unetLatents();
        float[] context = unetContext();
        int sample = latents.length / 2;
        int window = context.length / 2;
        double scale = meanAbs(batch);
        for (int b = 0; b < 2; b++) {
            float[] alone = pipeline.predictNoise(Arrays.copyOfRange(latents, b * sample, (b + 1) * sample), 1, LATENT_SIDE,
                    LATENT_SIDE, new float[] {TIMESTEPS[b]}, Arrays.copyOfRange(context, b * window, (b + 1) * window));
            assertEquals(0.0, maxAbsDiff(batch, b * sample, alone, 0, sample), 1e-5 * scale, "sample " + b);
        }
        assertTrue(maxAbsDiff(batch, 0, batch, sample, sample) > 0.1 * scale, "the two samples give the same ε");
    }

    /** The same request gives the same bytes (on one machine), and they are an image, not a constant. */
    @Test
    void imageIsDeterministicAndNotConstant() {
        GeneratedImage first = image();
        assertEquals(IMAGE.width() * IMAGE.height() * 3, first.rgb().length);
        assertArrayEquals(first.rgb(), image().rgb());
        assertTrue(distinctValues(first.rgb()) > 16, "only " + distinctValues(first.rgb()) + " distinct values");
    }
}
