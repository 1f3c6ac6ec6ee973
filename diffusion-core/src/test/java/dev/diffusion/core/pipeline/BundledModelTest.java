package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The demo model travels in the jar: "demo" unpacks exactly the repository's models/demo and loads it. */
class BundledModelTest {
    static final Path REPO_DEMO = Path.of(System.getProperty("repo.root", "..")).resolve("models/demo");

    @Test
    void bundledFilesAreTheRepositoryDemoModelByteForByte() throws IOException {
        Path unpacked = ModelSource.demoFolder();
        assertEquals("demo", unpacked.getFileName().toString());
        List<String> inRepo;
        try (Stream<Path> files = Files.walk(REPO_DEMO)) {
            inRepo = files.filter(Files::isRegularFile).map(p -> REPO_DEMO.relativize(p).toString().replace('\\', '/'))
                    .sorted().toList();
        }
        assertEquals(inRepo, BundledModel.FILES.stream().sorted().toList(), "models/demo and the bundled file list differ");
        for (String file : BundledModel.FILES) {
            assertArrayEquals(Files.readAllBytes(REPO_DEMO.resolve(file)), Files.readAllBytes(unpacked.resolve(file)), file);
        }
    }

    @Test
    void demoNamesTheBundledModelForEveryLoader() {
        try (ModelSource demo = ModelSource.open("demo", null)) {
            assertEquals("demo", demo.name());
            assertEquals(64, demo.nativeImageSize());
            assertTrue(demo.weightBytes() > 0);
            demo.checkCompatible();
            // the learned BPE vocabulary (BOS and EOS are its last two ids), not the byte-level one of tiny-random
            assertEquals(demo.textEncoderConfig().vocabSize(), demo.tokenizer().vocabSize());
        }
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load("demo", null, Precision.FP32)) {
            assertEquals("demo", p.modelName());
            assertEquals(64, p.nativeImageSize());
        }
    }
}
