package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * End to end through the committed demo model, loaded as any diffusers folder is: 20 held-out
 * prompts (phrasings never seen in training) at ./sd generate's defaults, checked by the analyser.
 * Tests tokenizer → text encoder → cross-attention → sampler → VAE together.
 */
class DemoModelAdherenceTest {

    static Path demoModel() {
        String root = System.getProperty("repo.root");
        return (root == null ? Path.of("..") : Path.of(root)).resolve("models").resolve("demo");
    }

    @Test
    void committedDemoModelFollowsHeldOutPrompts() {
        Path model = demoModel();
        assertTrue(Files.isRegularFile(model.resolve("model_index.json")), "the demo model is missing at " + model);
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(model.toString(), null, Precision.FP32)) {
            Adherence.Report r = Adherence.evaluate(pipeline, Adherence.heldOutPrompts(20, 2024), GenerationRequest.of(""),
                    null, System.out);
            String summary = r.summary();
            System.out.println("adherence: " + summary);
            assertTrue(r.colourRate() >= 0.90, summary);
            assertTrue(r.positionRate() >= 0.90, summary);
            assertTrue(r.backgroundRate() >= 0.95, summary);
            assertTrue(r.shapeRate() >= 0.80, summary);
        }
    }
}
