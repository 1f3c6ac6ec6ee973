package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelNamesTest {
    @Test
    void theBuiltInNamesAndExistingPathsExist(@TempDir Path dir) throws Exception {
        assertTrue(ModelNames.exists(ModelNames.DEMO));
        assertTrue(ModelNames.exists(ModelNames.TINY_RANDOM));
        assertTrue(ModelNames.exists(dir.toString()));
        Path file = Files.createFile(dir.resolve("model.safetensors"));
        assertTrue(ModelNames.exists(file.toString()));
        assertFalse(ModelNames.exists(dir.resolve("missing.safetensors").toString()));
        assertFalse(ModelNames.exists("/nonexistent/model"));
    }
}
