package dev.diffusion.core.cli;

import dev.diffusion.core.image.InpaintMask;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.sampling.RngKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Locale;
import java.util.Set;

/**
 * The options of {@code ./sd generate} that make one {@link GenerationRequest} (and its {@code --out}), parsed and
 * checked in one place: by {@code ./sd generate} (diffusion-core's {@code GenerateCommand}, which adds the options
 * of its own JVM: model, precision, threads) and by {@code ./sd submit} before a job is sent. Each limit is the
 * request's ({@link GenerationRequest#MAX_STEPS}, ...); a refusal is a {@link UsageException} naming the flag.
 *
 * @param widthGiven  whether {@code --width} was given (else the model's native size applies, or the init image's)
 * @param heightGiven whether {@code --height} was given
 */
public record GenerationOptions(GenerationRequest request, Path out, boolean widthGiven, boolean heightGiven) {

    /** The flags parsed here, all taking a value. */
    public static final Set<String> FLAGS = Set.of("--prompt", "--negative-prompt", "--width", "--height", "--steps",
            "--sampler", "--scheduler", "--cfg-scale", "--seed", "--rng", "--batch-count", "--clip-skip", "--init-image",
            "--strength", "--comma-padding-backtrack", "--out", "--mask", "--mask-blur");
    /** The switches parsed here. */
    public static final Set<String> SWITCHES = Set.of("--pad-cond-uncond", "--mask-invert");

    /** Sizes before the model is known (a size not given is replaced by the model's native size where it runs). */
    private static final int DEFAULT_SIDE = 512;
    /** A1111 numbering: 1 = last CLIP layer; SD 1.x's text encoder has 12. */
    private static final int MAX_CLIP_SKIP = 12;

    /** Parses {@code argv}, which holds only {@link #FLAGS} and {@link #SWITCHES}. */
    public static GenerationOptions parse(String[] argv) {
        Args a = new Args(argv, FLAGS, SWITCHES);
        if (!a.positional().isEmpty()) {
            throw new UsageException("unexpected argument '" + a.positional().get(0) + "' (values follow their flag, e.g. --prompt \"a cat\")");
        }
        return parse(a);
    }

    /** Reads and checks {@link #FLAGS} and {@link #SWITCHES} from {@code a} (a parser that may know other flags too). */
    public static GenerationOptions parse(Args a) {
        if (!a.has("--prompt")) {
            throw new UsageException("--prompt is required");
        }
        String prompt = a.string("--prompt", "");
        if (prompt.length() > GenerationRequest.MAX_PROMPT_CHARS) {
            throw new UsageException("--prompt is " + prompt.length() + " characters; the limit is " + GenerationRequest.MAX_PROMPT_CHARS);
        }
        String negative = a.string("--negative-prompt", "");
        for (String[] p : new String[][] {{"--prompt", prompt}, {"--negative-prompt", negative}}) {
            try {
                LoraRef.extract(p[1]); // its <lora:...> tags: names, weights, how many (./sd submit checks them here too)
            } catch (IllegalArgumentException e) {
                throw new UsageException(asFlag(p[0], e.getMessage(), "prompt", "negative_prompt", "loras"));
            }
        }
        Png.Image init = null;
        if (a.has("--init-image")) {
            Path file = Path.of(a.string("--init-image", null));
            try {
                init = Png.decode(Files.readAllBytes(file));
            } catch (IOException e) {
                throw new UsageException("--init-image: cannot read " + file + " (" + why(e) + ")");
            } catch (IllegalArgumentException e) {
                throw new UsageException("--init-image: " + file + ": " + e.getMessage());
            }
            if (init.width() > GenerationRequest.MAX_INIT_IMAGE_SIDE || init.height() > GenerationRequest.MAX_INIT_IMAGE_SIDE) {
                throw new UsageException("--init-image is " + init.width() + "x" + init.height() + "; the limit is "
                        + GenerationRequest.MAX_INIT_IMAGE_SIDE + " pixels a side");
            }
        } else if (a.has("--strength")) {
            throw new UsageException("--strength needs --init-image");
        }
        GenerationRequest.Inpaint inpaint = null;
        if (a.has("--mask")) {
            if (init == null) {
                throw new UsageException("--mask needs --init-image (it marks what of that image is repainted)");
            }
            Path file = Path.of(a.string("--mask", null));
            try {
                inpaint = new GenerationRequest.Inpaint(InpaintMask.binary(Files.readAllBytes(file)),
                        a.integer("--mask-blur", InpaintMask.DEFAULT_BLUR, 0, InpaintMask.MAX_BLUR), a.has("--mask-invert"));
            } catch (IOException e) {
                throw new UsageException("--mask: cannot read " + file + " (" + why(e) + ")");
            } catch (UsageException e) {
                throw e;
            } catch (IllegalArgumentException e) {
                throw new UsageException("--mask: " + file + ": " + e.getMessage());
            }
        } else if (a.has("--mask-blur") || a.has("--mask-invert")) {
            throw new UsageException((a.has("--mask-blur") ? "--mask-blur" : "--mask-invert") + " needs --mask");
        }
        // img2img: the image's size (down to a multiple of 8) unless given; an image of another size is resized to it
        int width = size(a, "--width", init == null ? DEFAULT_SIDE : GenerationRequest.imageSide(init.width()), init);
        int height = size(a, "--height", init == null ? DEFAULT_SIDE : GenerationRequest.imageSide(init.height()), init);
        double strength = a.decimal("--strength", 0.75, 0, 1);
        if (init != null && strength <= 0) {
            throw new UsageException("--strength must be greater than 0 and at most 1, got " + strength);
        }
        int steps = a.integer("--steps", 20, 1, GenerationRequest.MAX_STEPS);
        double cfg = a.decimal("--cfg-scale", 7.0, 0, GenerationRequest.MAX_CFG);
        long seed = a.longValue("--seed", 42);
        if (seed == -1) {
            seed = new SecureRandom().nextLong() & 0xffffffffL;
        } else if (seed < 0) {
            throw new UsageException("--seed must be 0 or more (or -1 for a random seed), got " + seed);
        }
        int batchCount = a.integer("--batch-count", 1, 1, GenerationRequest.MAX_BATCH_COUNT);
        if (seed > Long.MAX_VALUE - (batchCount - 1)) {
            throw new UsageException("--seed " + seed + " is too large for --batch-count " + batchCount
                    + ": image i uses seed + i, and the last must be at most " + Long.MAX_VALUE);
        }
        int clipSkip = a.integer("--clip-skip", 1, 1, MAX_CLIP_SKIP);
        int commaBacktrack = a.integer("--comma-padding-backtrack", 0, 0, GenerationRequest.MAX_COMMA_BACKTRACK);
        String sampler = a.string("--sampler", "euler");
        String scheduler = a.string("--scheduler", null);
        RngKind rng;
        try {
            rng = RngKind.parse(a.string("--rng", "philox"));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--rng: " + e.getMessage());
        }
        Path outFile = Path.of(a.string("--out", "output.png"));
        if (!outFile.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png")) {
            throw new UsageException("--out must name a .png file, got '" + outFile + "'");
        }
        Path parent = outFile.toAbsolutePath().getParent();
        if (parent != null && Files.exists(parent) && !Files.isDirectory(parent)) {
            throw new UsageException("--out: " + parent + " is a file, not a folder");
        }
        if (parent != null && !Files.isDirectory(parent)) {
            throw new UsageException("--out: folder " + parent + " does not exist");
        }
        if (parent != null && !Files.isWritable(parent)) {
            throw new UsageException("--out: folder " + parent + " is not writable");
        }
        if (Files.isDirectory(outFile)) {
            throw new UsageException("--out: " + outFile + " is a folder");
        }
        GenerationRequest request = new GenerationRequest(prompt, a.string("--negative-prompt", ""), width, height, steps,
                sampler, scheduler, cfg, seed, batchCount, clipSkip, rng, init, init == null ? 1.0 : strength, commaBacktrack,
                a.has("--pad-cond-uncond"), inpaint);
        try {
            request.samplerSpec(); // the scheduler as A1111's Schedule type: discrete, karras or automatic (the sampler's)
        } catch (InvalidRequestException e) {
            throw new UsageException(e.field().equals("scheduler") ? "--" + e.getMessage() : "--sampler: " + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new UsageException("--sampler: " + e.getMessage());
        }
        return new GenerationOptions(request, outFile, a.has("--width"), a.has("--height"));
    }

    /**
     * A message about a job field ("prompt is 800 tokens", "loras: LoRA x has weight 11", "the weight in ...") as one
     * about the option: the field's name, where the message starts with it, replaced by the option's.
     */
    public static String asFlag(String flag, String message, String... fields) {
        for (String field : fields) {
            if (message.startsWith(field + ": ")) {
                return flag + ": " + message.substring(field.length() + 2);
            }
            if (message.startsWith(field + " ")) {
                return flag + message.substring(field.length());
            }
        }
        return flag + ": " + message;
    }

    /**
     * Refuses, naming {@code flag}, a file that cannot be written (a folder without write access, /proc): a file that
     * does not exist yet is created and removed again, so that the failure comes now rather than after the work.
     */
    public static void checkWritable(String flag, Path file) {
        if (Files.exists(file)) {
            if (!Files.isWritable(file)) {
                throw new UsageException(flag + ": " + file + " is not writable");
            }
            return;
        }
        try {
            Files.createFile(file);
            Files.delete(file);
        } catch (IOException | RuntimeException e) {
            throw new UsageException(flag + ": cannot write " + file + " (" + (e instanceof java.nio.file.NoSuchFileException
                    ? "its folder takes no new files" : e instanceof IOException io ? why(io) : e.getMessage()) + ")");
        }
    }

    /** Why a file could not be read, in words (Java's NoSuchFileException says only the path). */
    static String why(IOException e) {
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static int size(Args a, String flag, int def, Png.Image init) {
        if (!a.has(flag) && (def < GenerationRequest.MIN_SIZE || def > GenerationRequest.MAX_SIZE)) {
            throw new UsageException(flag + " must be between " + GenerationRequest.MIN_SIZE + " and " + GenerationRequest.MAX_SIZE
                    + ": the --init-image is " + init.width() + "x" + init.height() + "; give --width and --height to resize it");
        }
        int v = a.integer(flag, def, GenerationRequest.MIN_SIZE, GenerationRequest.MAX_SIZE);
        if (v % 8 != 0) {
            throw new UsageException(flag + " must be a multiple of 8, got " + v);
        }
        return v;
    }
}
