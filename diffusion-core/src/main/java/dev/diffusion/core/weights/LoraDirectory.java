package dev.diffusion.core.weights;

import dev.diffusion.core.pipeline.LoraRef;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The folder LoRAs are looked up in by name: {@code NAME} is {@code DIR/NAME.safetensors} (or {@code DIR/NAME} when
 * the name carries the extension), never a path from the job — {@link LoraRef} refuses separators and a leading dot,
 * and the resolved file must sit directly in this folder. A name that resolves only to a pickle file
 * ({@code .ckpt}, {@code .pt}, ...) is refused.
 */
public final class LoraDirectory {
    private final Path dir;

    public LoraDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new WeightsException("LoRA folder " + dir + " does not exist");
        }
        this.dir = dir.toAbsolutePath().normalize();
    }

    public Path dir() {
        return dir;
    }

    /** The file of a LoRA name; {@link WeightsException} naming the folder and what is there when none. */
    public Path resolve(String name) {
        new LoraRef(name, 1.0); // the name checks: no separators, no leading dot
        String file = name.toLowerCase(Locale.ROOT).endsWith(".safetensors") ? name : name + ".safetensors";
        Path p = dir.resolve(file).normalize();
        if (!dir.equals(p.getParent())) {
            throw new WeightsException("LoRA " + name + " is not a file name in " + dir);
        }
        if (Files.isRegularFile(p)) {
            return p;
        }
        for (String ext : List.of(".ckpt", ".pt", ".pth", ".bin")) {
            Path pickle = dir.resolve(name + ext).normalize();
            if (dir.equals(pickle.getParent()) && Files.isRegularFile(pickle)) {
                throw StableDiffusionModel.pickleRefused(pickle);
            }
        }
        throw new WeightsException("no LoRA named " + name + " in " + dir + " (have: " + String.join(", ", names()) + ")");
    }

    /** The LoRA names in the folder (its {@code .safetensors} files without the extension). */
    public List<String> names() {
        try (Stream<Path> files = Files.list(dir)) {
            List<String> out = new ArrayList<>();
            files.map(f -> f.getFileName().toString()).filter(n -> n.toLowerCase(Locale.ROOT).endsWith(".safetensors"))
                    .sorted().forEach(n -> out.add(n.substring(0, n.length() - ".safetensors".length())));
            return out;
        } catch (IOException e) {
            throw new WeightsException("cannot list LoRA folder " + dir + ": " + e.getMessage(), e);
        }
    }
}
