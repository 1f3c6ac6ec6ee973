package dev.diffusion.client;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.File;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The client library pulls in no TensorFlow: what it shares with ./sd generate comes from generation-api, not
 * diffusion-core (~160 MB of TensorFlow natives). This test's classpath is the client's runtime classpath plus
 * JUnit and the YAML reader, so anything that brings TensorFlow, JavaCPP or diffusion-core back fails here.
 */
class NoTensorFlowTest {

    @Test
    void tensorFlowJavaCppAndDiffusionCoreAreNotOnTheClasspath() {
        for (String name : List.of("org.tensorflow.Graph", "org.tensorflow.TensorFlow", "org.bytedeco.javacpp.Loader",
                "dev.diffusion.core.pipeline.StableDiffusionPipeline", "dev.diffusion.core.pipeline.ModelSource")) {
            assertThrows(ClassNotFoundException.class, () -> Class.forName(name, false, getClass().getClassLoader()), name);
        }
        // what the client does use of the shared options is here
        assertDoesNotThrow(() -> Class.forName("dev.diffusion.core.cli.GenerationOptions"));
        assertDoesNotThrow(() -> Class.forName("dev.diffusion.core.pipeline.GenerationRequest"));
    }

    @Test
    void noClasspathEntryIsTensorFlowOrJavaCpp() {
        // surefire runs the tests from a manifest-only jar; it publishes the real classpath in this property
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> offending = Arrays.stream(classpath.split(File.pathSeparator))
                .filter(entry -> {
                    Path path = Path.of(entry);
                    String file = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
                    return file.startsWith("tensorflow") || file.startsWith("javacpp") || file.startsWith("diffusion-core")
                            || path.endsWith(Path.of("diffusion-core", "target", "classes"));
                })
                .toList();
        assertEquals(List.of(), offending);
    }
}
