package dev.diffusion.core.cli;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.ModelNames;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.LoraVariants;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.core.tokenizer.PromptSyntax;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** {@code ./sd generate}: text to image in this JVM. Every value is checked before any work. */
public final class GenerateCommand {
    static final String HELP = """
            usage: ./sd generate --prompt TEXT [options]
              --model PATH            diffusers folder or single .safetensors file; demo (the default) names the bundled
                                      demo model (models/demo), tiny-random the tiny built-in random model
              --tokenizer PATH        diffusers tokenizer/ folder or bpe_simple_vocab_16e6.txt.gz (single files need one)
              --prompt TEXT           what to draw, in A1111's syntax: (word:1.2), (word), [word], BREAK, any length
                                      (chunks of 75 tokens, at most 10); <lora:NAME:WEIGHT> applies the LoRA
                                      NAME.safetensors of --lora-dir
              --lora-dir DIR          the folder LoRAs are looked up in by name (kohya or diffusers/PEFT .safetensors)
              --negative-prompt TEXT  what to steer away from (default "")
              --width N, --height N   64..2048, multiples of 8 (default: the init image's size, else the model's
                                      native size: 512 for SD 1.x, 64 for the demo model)
              --steps N               1..150 (default 20)
              --sampler NAME          euler, euler_ancestral ("Euler a"), dpmpp_2m ("DPM++ 2M"), ddim, ddpm, lms,
                                      heun, dpm_2 ("DPM2"), dpm_2_ancestral ("DPM2 a"), dpmpp_2s_ancestral
                                      ("DPM++ 2S a"), lcm, ipndm (heun and the dpm_2/2s ones run the U-Net twice
                                      per step); A1111/diffusers/ComfyUI names; "... Karras" picks Karras sigmas
              --scheduler NAME        discrete | karras (default: what the sampler name says, else discrete)
              --cfg-scale X           0..30 (default 7)
              --seed N                image i uses seed+i; -1 picks a random seed (default 42)
              --rng NAME              philox (A1111 NV, sd.cpp cuda; default) | cpu (torch CPU generator)
              --batch-count N         1..64 images, files <stem>-<i>.png when N > 1 (default 1)
              --clip-skip N           1 = last CLIP layer, 2 = penultimate (default 1)
              --comma-padding-backtrack N  A1111's: when a 75-token chunk fills, words after a comma at most N
                                      tokens back start the next chunk; 0..74 (default 0 = off, as sd.cpp; A1111 20)
              --pad-cond-uncond       A1111's: pad the prompt or negative prompt with empty chunks to the other's
                                      chunk count, so both run in one U-Net call (default: each at its own length)
              --precision NAME        fp32 | bf16 (default fp32)
              --threads N             TensorFlow intra-op threads (default: all cores)
              --unet-replicas N       1..64 copies of the U-Net, each with threads/N threads; a batch (the CFG
                                      pair) is split over them. For small models on few cores (the demo model: ~1.6x
                                      per step with 2 on 2 cores); N x the U-Net's weight memory (default 1)
              --attention-slice-mb N  sliced attention: at most N MiB of attention scores at a time (0 = in one
                                      piece; default 512 above 512x512 pixels, where whole attention needs GBs)
              --init-image FILE       img2img: start from this image (a non-interlaced PNG, or a JPEG; sets the default size)
              --strength X            img2img: share of the schedule to run, (0, 1] (default 0.75)
              --mask FILE.png         inpainting: white = repaint, black = keep (A1111's convention; an RGBA mask
                                      with transparent pixels by its alpha); the kept part stays the init image's
              --mask-blur N           inpainting: the mask's blur in pixels, 0 to 64 (default 4, A1111's)
              --mask-invert           inpainting: repaint the black part instead
              --out FILE.png          output file (default output.png)
              --quiet                 no per-step progress
            """;

    /** The request's flags ({@link GenerationOptions#FLAGS}) and those of this JVM. */
    private static final Set<String> VALUE_FLAGS = Stream.concat(GenerationOptions.FLAGS.stream(),
            Stream.of("--model", "--tokenizer", "--precision", "--threads", "--lora-dir", "--attention-slice-mb",
                    "--unet-replicas")).collect(Collectors.toUnmodifiableSet());
    private static final Set<String> SWITCHES = Stream.concat(GenerationOptions.SWITCHES.stream(), Stream.of("--quiet"))
            .collect(Collectors.toUnmodifiableSet());

    private final PrintStream out;
    private final PrintStream err;

    GenerateCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    /** Parsed and checked options. */
    /** @param model a diffusers folder or .safetensors file, {@code demo} or {@code tiny-random} (resolved when loading) */
    public record Options(String model, Path tokenizer, GenerationRequest request, Precision precision, int threads, Path out,
                   boolean quiet, boolean widthGiven, boolean heightGiven, Path loraDir, int attentionSliceMb,
                   int unetReplicas) {}

    /** Above this many pixels (SD 1.x's native 512×512) attention is sliced unless --attention-slice-mb says otherwise. */
    static final long SLICE_ABOVE_PIXELS = 512L * 512;
    static final int DEFAULT_SLICE_MB = 512;

    /**
     * The demo model: {@code models/demo} under the repository root ({@code -Dsd.root}, set by ./sd) where
     * present, else the copy bundled in the jar ({@link ModelSource#DEMO}).
     */
    static Path bundledDemoModel() {
        String root = System.getProperty("sd.root");
        Path demo = (root == null ? Path.of("") : Path.of(root)).resolve("models").resolve("demo");
        return Files.isRegularFile(demo.resolve("model_index.json")) ? demo : ModelSource.demoFolder();
    }

    /**
     * Parses and checks the generate options: those of the request ({@link GenerationOptions}, shared with
     * {@code ./sd submit}), then those of this JVM.
     */
    public static Options parse(String[] argv) {
        Args a = new Args(argv, VALUE_FLAGS, SWITCHES);
        if (!a.positional().isEmpty()) {
            throw new UsageException("unexpected argument '" + a.positional().get(0) + "' (values follow their flag, e.g. --prompt \"a cat\")");
        }
        GenerationOptions g = GenerationOptions.parse(a);
        Precision precision;
        try {
            precision = Precision.parse(a.string("--precision", "fp32"));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--" + e.getMessage());
        }
        int threads = a.integer("--threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
        // "tiny-random" names the built-in random model and "demo" (the default) the bundled demo model (ModelNames)
        String model = a.string("--model", ModelNames.DEMO);
        if (!ModelNames.exists(model)) {
            throw new UsageException("--model: " + model + " does not exist");
        }
        Path tokenizer = a.has("--tokenizer") ? Path.of(a.string("--tokenizer", null)) : null;
        if (tokenizer != null && !Files.exists(tokenizer)) {
            throw new UsageException("--tokenizer: " + tokenizer + " does not exist");
        }
        Path loraDir = a.has("--lora-dir") ? Path.of(a.string("--lora-dir", null)) : null;
        if (loraDir != null && !Files.isDirectory(loraDir)) {
            throw new UsageException("--lora-dir: " + loraDir + " is not a folder");
        }
        List<LoraRef> loras;
        try {
            loras = LoraRef.extract(g.request().prompt()).loras();
            LoraVariants.key(loras); // names, weights and how many, as a job's
        } catch (IllegalArgumentException e) {
            throw new UsageException(GenerationOptions.asFlag("--prompt", e.getMessage(), "prompt", "loras"));
        }
        checkSyntax("--prompt", g.request().prompt());
        checkSyntax("--negative-prompt", g.request().negativePrompt());
        if (!loras.isEmpty() && loraDir == null) {
            throw new UsageException("--prompt names LoRA " + loras.get(0).name() + " but no --lora-dir is given");
        }
        // the size as given, or the init image's (a size left to the model, its native one, is not above 512²)
        boolean sized = (g.widthGiven() && g.heightGiven()) || g.request().initImage() != null;
        long pixels = (long) g.request().width() * g.request().height();
        int sliceMb = a.integer("--attention-slice-mb", sized && pixels > SLICE_ABOVE_PIXELS ? DEFAULT_SLICE_MB : 0, 0, 1 << 20);
        int replicas = a.integer("--unet-replicas", 1, 1, 64);
        if (replicas > 1 && !dev.diffusion.core.nn.TfNetwork.ownPools()) {
            throw new UsageException("--unet-replicas " + replicas + " needs " + dev.diffusion.core.nn.TfNetwork.OWN_POOLS_ENV
                    + "=1 in the environment (./sd sets it)");
        }
        // the image(s) must be writable before anything is computed; a batch writes <stem>-<i>.png
        for (int i = 0; i < g.request().batchCount(); i++) {
            Path file = g.request().batchCount() == 1 ? g.out() : numbered(g.out(), i);
            if (Files.isDirectory(file)) {
                throw new UsageException("--out: image " + i + " of the batch goes to " + file + ", which is a folder");
            }
            GenerationOptions.checkWritable("--out", file);
        }
        return new Options(model, tokenizer, g.request(), precision, threads, g.out(), a.has("--quiet"), g.widthGiven(),
                g.heightGiven(), loraDir, sliceMb, replicas);
    }

    int run(String[] argv) {
        Options o = parse(argv);
        System.setProperty("diffusion.threads", Integer.toString(o.threads()));
        System.setProperty(dev.diffusion.core.unet.UNet2DConditionModel.REPLICAS_PROPERTY, Integer.toString(o.unetReplicas()));
        System.setProperty(Nn.ATTENTION_SLICE_PROPERTY, Integer.toString(o.attentionSliceMb()));
        long start = System.nanoTime();
        // the demo model is read from models/demo where there is one, so that it is unpacked only when absent
        String model = o.model().equals(ModelSource.DEMO) ? bundledDemoModel().toString() : o.model();
        List<LoraRef> loras = LoraRef.extract(o.request().prompt()).loras();
        checkAgainstModel(o, model);
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(model, o.tokenizer(), o.precision(), o.loraDir(),
                loras)) {
            pipeline.loraWarnings().forEach(w -> err.println("sd: warning: " + w));
            if (model.equals(ModelSource.TINY_RANDOM)) {
                err.println("sd: using the tiny built-in random model (its images are coloured noise)");
            }
            err.printf("sd: model %s loaded in %.1f s (%s)%n", pipeline.modelName(), pipeline.loadMillis() / 1000.0,
                    o.precision().name().toLowerCase(java.util.Locale.ROOT));
            GenerationRequest r = o.request();
            if (r.initImage() == null && (!o.widthGiven() || !o.heightGiven())) { // img2img: the init image's size
                int side = pipeline.nativeImageSize();
                r = r.withSize(o.widthGiven() ? r.width() : side, o.heightGiven() ? r.height() : side);
                r.validate();
            }
            GenerationRequest request = r;
            List<GeneratedImage> images = pipeline.generate(request, new ProgressListener() {
                @Override
                public void onWarning(String message) {
                    err.println("sd: warning: " + message);
                }

                @Override
                public void onStep(int image, int step, int totalSteps, long stepMillis) {
                    if (!o.quiet()) {
                        String which = request.batchCount() > 1 ? "image " + (image + 1) + "/" + request.batchCount() + " " : "";
                        err.printf("sd: %sstep %d/%d  %.2f s%n", which, step, totalSteps, stepMillis / 1000.0);
                    }
                }

                @Override
                public void onImage(int image, long millis) {
                    // the per-image figure ./sd bench-suite compares the suite with (sampling + decode + PNG)
                    err.printf("sd: image %d/%d in %.3f s%n", image + 1, request.batchCount(), millis / 1000.0);
                }
            });
            for (GeneratedImage img : images) {
                Path file = images.size() == 1 ? o.out() : numbered(o.out(), img.index());
                Files.write(file, img.png());
                out.println(file + "  (seed " + img.seed() + ")");
            }
            err.printf("sd: done in %.1f s%n", (System.nanoTime() - start) / 1e9);
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + o.out() + ": " + e.getMessage(), e);
        }
    }

    /**
     * What the request asks that only the model's configuration and tokenizer can judge, checked before any weight is
     * read and refused as a usage error naming the flag: a clip skip above the text encoder's layers, a size the VAE
     * cannot halve to its latent, a prompt over {@link PromptSyntax#MAX_CHUNKS} chunks.
     */
    static void checkAgainstModel(Options o, String model) {
        GenerationRequest r = o.request();
        try (ModelSource source = ModelSource.open(model, o.tokenizer())) {
            int layers = source.textEncoderConfig().numHiddenLayers();
            if (r.clipSkip() > layers) {
                throw new UsageException("--clip-skip must be 1 to " + layers + " (the text encoder's layers), got "
                        + r.clipSkip());
            }
            int downscale = source.vaeConfig().downscale();
            if (o.widthGiven() && r.width() % downscale != 0) {
                throw new UsageException("--width must be a multiple of " + downscale + " for this model, got " + r.width());
            }
            if (o.heightGiven() && r.height() % downscale != 0) {
                throw new UsageException("--height must be a multiple of " + downscale + " for this model, got " + r.height());
            }
            var tokenizer = source.tokenizer();
            try {
                PromptSyntax.chunk(tokenizer, LoraRef.extract(r.prompt()).prompt(), r.commaBacktrack());
            } catch (IllegalArgumentException e) {
                throw new UsageException(GenerationOptions.asFlag("--prompt", e.getMessage(), "prompt"));
            }
            try {
                PromptSyntax.chunk(tokenizer, LoraRef.extract(r.negativePrompt()).prompt(), r.commaBacktrack());
            } catch (IllegalArgumentException e) {
                throw new UsageException(GenerationOptions.asFlag("--negative-prompt", e.getMessage(), "prompt", "negative_prompt"));
            }
        }
    }

    /** A prompt's A1111 syntax (LoRA tags, weights) checked before anything loads, naming the option. */
    private static void checkSyntax(String flag, String prompt) {
        try {
            PromptSyntax.parse(LoraRef.extract(prompt).prompt());
        } catch (IllegalArgumentException e) {
            throw new UsageException(GenerationOptions.asFlag(flag, e.getMessage(), "prompt", "negative_prompt", "loras"));
        }
    }

    static Path numbered(Path out, int index) {
        String name = out.getFileName().toString();
        String stem = name.substring(0, name.length() - 4);
        return out.resolveSibling(stem + "-" + index + ".png");
    }
}
