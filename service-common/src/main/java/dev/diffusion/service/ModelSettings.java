package dev.diffusion.service;

import dev.diffusion.core.nn.Precision;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.file.Path;
import java.util.Optional;

/** Which model a service loads and how ({@code diffusion.model.path}, {@code diffusion.model.tokenizer}, {@code diffusion.precision}). */
@ApplicationScoped
public class ModelSettings {
    /** A diffusers folder, a single {@code .safetensors} file, {@code demo} (the bundled demo model, the default) or {@code tiny-random} (the built-in test model). */
    @ConfigProperty(name = "diffusion.model.path", defaultValue = "demo")
    String path;

    /** A diffusers {@code tokenizer/} folder or {@code bpe_simple_vocab_16e6.txt.gz}; default: the model's own. */
    @ConfigProperty(name = "diffusion.model.tokenizer")
    Optional<String> tokenizer;

    /** {@code fp32} or {@code bf16}: the precision the networks compute in. */
    @ConfigProperty(name = "diffusion.precision", defaultValue = "fp32")
    String precision;

    public String path() {
        return path;
    }

    public Path tokenizer() {
        return tokenizer.filter(s -> !s.isBlank()).map(Path::of).orElse(null);
    }

    public String precision() {
        return precision;
    }

    public Precision parsedPrecision() {
        try {
            return Precision.parse(precision);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("diffusion." + e.getMessage(), e);
        }
    }
}
