package dev.diffusion.service;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.LoraVariants;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.weights.Lora;
import dev.diffusion.core.weights.LoraDirectory;
import dev.diffusion.core.weights.LoraSet;
import dev.diffusion.core.weights.WeightsException;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;

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

    /** The folder LoRAs are looked up in by name ({@code NAME.safetensors}); absent: jobs naming LoRAs are refused. */
    @ConfigProperty(name = "diffusion.lora.dir")
    Optional<String> loraDir;

    /** Most LoRA sets kept merged into a copy of the network, besides the base (each copy is the network's size). */
    @ConfigProperty(name = "diffusion.lora.max-variants", defaultValue = "2")
    int loraMaxVariants;

    private final Map<String, String> loraHashes = new ConcurrentHashMap<>();

    public String path() {
        return path;
    }

    public Path tokenizer() {
        return tokenizer.filter(s -> !s.isBlank()).map(Path::of).orElse(null);
    }

    public String precision() {
        return precision;
    }

    public Path loraDir() {
        return loraDir.filter(s -> !s.isBlank()).map(Path::of).orElse(null);
    }

    /**
     * The base network and its LoRA variants: a variant is built by re-opening the model and merging the set's
     * LoRAs from {@link #loraDir()} ({@code build} makes the service's network from the source and the set).
     */
    public <N extends AutoCloseable> LoraVariants<N> loraVariants(N base, BiFunction<ModelSource, LoraSet, N> build) {
        return new LoraVariants<>(base, loras -> {
            Path dir = loraDir();
            if (dir == null) {
                throw new IllegalArgumentException("loras: the job asks for LoRA " + loras.get(0).name()
                        + " but this service has no LoRA folder (diffusion.lora.dir)");
            }
            try (ModelSource source = ModelSource.open(path, tokenizer())) {
                return build.apply(source, source.loras(new LoraDirectory(dir), loras));
            } catch (WeightsException e) {
                throw new IllegalArgumentException("loras: " + e.getMessage(), e);
            }
        }, loraMaxVariants);
    }

    /** A1111's short hash of each LoRA (for the PNG's "Lora hashes"), cached per file name, size and time. */
    public Map<String, String> loraHashes(List<LoraRef> loras) {
        Map<String, String> out = new LinkedHashMap<>();
        if (loras.isEmpty()) {
            return out;
        }
        Path dir = loraDir();
        if (dir == null) {
            throw new IllegalArgumentException("loras: the job asks for LoRA " + loras.get(0).name()
                    + " but this service has no LoRA folder (diffusion.lora.dir)");
        }
        for (LoraRef l : loras) {
            try {
                Path file = new LoraDirectory(dir).resolve(l.name());
                String stamp = file + "|" + Files.size(file) + "|" + Files.getLastModifiedTime(file).toMillis();
                out.put(l.name(), loraHashes.computeIfAbsent(stamp, k -> Lora.shortHash(file)));
            } catch (WeightsException e) {
                throw new IllegalArgumentException("loras: " + e.getMessage(), e);
            } catch (IOException e) {
                throw new IllegalArgumentException("loras: cannot read LoRA " + l.name() + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** A request's {@code loras} field as LoRA references (checked: names, weights, count). */
    public static List<LoraRef> loraRefs(List<dev.diffusion.proto.v1.LoraWeight> loras) {
        List<LoraRef> out = new java.util.ArrayList<>();
        for (dev.diffusion.proto.v1.LoraWeight l : loras) {
            out.add(new LoraRef(l.getName(), l.getWeight()));
        }
        return LoraRef.merge(out);
    }

    public Precision parsedPrecision() {
        try {
            return Precision.parse(precision);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("diffusion." + e.getMessage(), e);
        }
    }
}
