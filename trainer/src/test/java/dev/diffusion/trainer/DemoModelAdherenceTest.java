package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

    /** Runs the whole path and checks every image holds one shape the analyser can measure. */
    @Test
    void committedDemoModelDrawsOneShapePerImage() {
        Path model = demoModel();
        assertTrue(Files.isRegularFile(model.resolve("model_index.json")), "the demo model is missing at " + model);
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(model.toString(), null, Precision.FP32)) {
            assertEquals(64, pipeline.nativeImageSize());
            for (Adherence.Prompt p : Adherence.heldOutPrompts(5, 7)) {
                var request = GenerationRequest.of(p.text()).withSize(64, 64).withSeed(p.seed());
                var image = pipeline.generate(request, dev.diffusion.core.pipeline.ProgressListener.NONE).get(0);
                ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(image.rgb(), 64, 64);
                assertTrue(a.area() > 20 && a.shape() != null && a.colour() != null, p.text() + " -> " + a);
            }
        }
    }

    private static Adherence.Report report;

    /** 20 held-out prompts through the committed model at ./sd generate's defaults (Euler, 20 steps, cfg 7), once. */
    static synchronized Adherence.Report heldOutReport() {
        if (report == null) {
            Path model = demoModel();
            assertTrue(Files.isRegularFile(model.resolve("model_index.json")), "the demo model is missing at " + model);
            try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(model.toString(), null, Precision.FP32)) {
                report = Adherence.evaluate(pipeline, Adherence.heldOutPrompts(20, 2024), GenerationRequest.of(""), null,
                        System.out);
                System.out.println("adherence: " + report.summary());
            }
        }
        return report;
    }

    /**
     * The goal (colour 90 %, position 90 %, background 95 %, shape 80 %) on these 20 prompts. Measured:
     * colour 100 %, position 100 %, background 100 %, shape 85 % (three squares drawn round enough to read as
     * circles); on 100 prompts 100 / 100 / 100 / 89 %. Far above chance (colour 1/6, position 1/5, shape and
     * background 1/3): a break anywhere on the text path (tokenizer, text encoder, cross-attention) or in the
     * sampler or VAE brings them down to chance.
     */
    @Test
    void committedDemoModelMeetsTheAdherenceGoal() {
        Adherence.Report r = heldOutReport();
        assertTrue(r.colourRate() >= 0.90, r.summary());
        assertTrue(r.positionRate() >= 0.90, r.summary());
        assertTrue(r.backgroundRate() >= 0.95, r.summary());
        assertTrue(r.shapeRate() >= 0.80, r.summary());
    }
}
