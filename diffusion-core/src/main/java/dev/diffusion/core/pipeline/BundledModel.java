package dev.diffusion.core.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The demo model ({@code models/demo} of the repository, trained by {@code ./sd train}), carried
 * inside this module's jar so that every process — {@code ./sd generate}, the three services, a
 * container image — has it without a download or a path. It is unpacked once per process into a
 * temporary diffusers folder named {@code demo}, and from there loads exactly as any diffusers
 * folder does.
 */
final class BundledModel {
    /** The name that selects it (as {@code --model} or {@code diffusion.model.path}). */
    static final String DEMO = ModelNames.DEMO;

    private static final String RESOURCE_ROOT = "/dev/diffusion/models/demo/";

    /** Every file of a diffusers folder of an SD 1.x-layout model, as the trainer writes it. */
    static final List<String> FILES = List.of("model_index.json", "scheduler/scheduler_config.json",
            "text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
            "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors");

    private static Path unpacked;

    private BundledModel() {}

    /** The folder the bundled demo model is unpacked to (unpacked on the first call; removed at exit). */
    static synchronized Path demo() {
        if (unpacked != null && Files.isDirectory(unpacked)) {
            return unpacked;
        }
        try {
            Path parent = Files.createTempDirectory("sd-bundled-");
            Path folder = parent.resolve(DEMO);
            for (String file : FILES) {
                try (InputStream in = BundledModel.class.getResourceAsStream(RESOURCE_ROOT + file)) {
                    if (in == null) {
                        deleteTree(parent);
                        throw new IllegalStateException("the bundled demo model is incomplete: " + file + " is missing "
                                + "from the diffusion-core jar (it is built from models/demo; run ./sd train to recreate it)");
                    }
                    Path target = folder.resolve(file);
                    Files.createDirectories(target.getParent());
                    Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(parent), "remove-bundled-model"));
            unpacked = folder;
            return folder;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot unpack the bundled demo model: " + e.getMessage(), e);
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException ignored) {
            // best effort: a temporary folder
        }
    }
}
