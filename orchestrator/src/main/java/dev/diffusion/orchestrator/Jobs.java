package dev.diffusion.orchestrator;

import dev.diffusion.core.image.InpaintMask;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.LoraVariants;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.sampling.SamplerSpec;
import dev.diffusion.core.tokenizer.PromptSyntax;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.LoraWeight;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/** GenerationJob (proto3: 0 / "" / absent mean the default) to a complete job and a validated {@link GenerationRequest}. */
public final class Jobs {
    private static final Set<String> REQUEST_FIELDS = Set.of("prompt", "negative_prompt", "width", "height", "steps",
            "cfg_scale", "batch_count", "clip_skip", "scheduler", "sampler", "comma_padding_backtrack");

    private Jobs() {}

    /**
     * The job with every default filled in. A job without a seed gets one derived from its id, so that a job
     * delivered again after a crash runs with the same seed and gives the same image (gRPC Submit draws a random
     * seed instead and writes it into the record).
     */
    public static GenerationJob withDefaults(GenerationJob job, String fallbackId) {
        return withDefaults(job, fallbackId, 512);
    }

    /** As {@link #withDefaults(GenerationJob, String)}, a missing width or height being {@code side} (the model's native size). */
    public static GenerationJob withDefaults(GenerationJob job, String fallbackId, int side) {
        GenerationJob.Builder b = job.toBuilder();
        if (b.getJobId().isEmpty()) {
            b.setJobId(fallbackId);
        }
        int[] imageSize = Png.size(b.getInitImage().toByteArray()); // the default size: the image's
        if (b.getWidth() == 0) {
            b.setWidth(imageSize != null ? GenerationRequest.imageSide(imageSize[0]) : side);
        }
        if (b.getHeight() == 0) {
            b.setHeight(imageSize != null ? GenerationRequest.imageSide(imageSize[1]) : side);
        }
        if (b.getSteps() == 0) {
            b.setSteps(20);
        }
        if (b.getSampler().isEmpty()) {
            b.setSampler("euler");
        }
        if (!b.hasCfgScale()) {
            b.setCfgScale(7f);
        }
        if (!b.hasSeed() || b.getSeed() == -1) {
            b.setSeed(seedOf(b.getJobId()));
        }
        if (b.getBatchCount() == 0) {
            b.setBatchCount(1);
        }
        if (b.getClipSkip() == 0) {
            b.setClipSkip(1);
        }
        if (b.getRng().isEmpty()) {
            b.setRng("philox");
        }
        return b.build();
    }

    /** img2img's strength when a job with an init image gives none (A1111's and diffusers' default). */
    static final double DEFAULT_STRENGTH = 0.75;

    /** The longest job id taken (a UUID is 36 characters). */
    public static final int MAX_JOB_ID_CHARS = 256;

    /**
     * Refuses, naming {@code job_id}, an id that is blank, longer than {@link #MAX_JOB_ID_CHARS} characters or holds a
     * control character (a line break, a tab): ids are record keys, file names and URL parts.
     */
    public static void checkJobId(String id) {
        if (id.isBlank()) {
            throw new InvalidRequestException("job_id", "job_id must not be blank");
        }
        if (id.length() > MAX_JOB_ID_CHARS) {
            throw new InvalidRequestException("job_id", "job_id is " + id.length() + " characters; the limit is " + MAX_JOB_ID_CHARS);
        }
        if (id.chars().anyMatch(Character::isISOControl)) {
            throw new InvalidRequestException("job_id", "job_id must not hold control characters (line breaks, tabs)");
        }
    }

    /** A 32-bit seed (as A1111 shows them) that depends on the job id only. */
    public static long seedOf(String jobId) {
        return UUID.nameUUIDFromBytes(jobId.getBytes(StandardCharsets.UTF_8)).getLeastSignificantBits() & 0xFFFF_FFFFL;
    }

    /**
     * The LoRA set of a job: its prompt's {@code <lora:name:w>} tags and its {@code loras} field, one entry per name
     * (weights added), weight-0 entries dropped, sorted by name; {@link InvalidRequestException} naming the field.
     */
    public static List<LoraRef> loras(GenerationJob job) {
        List<LoraRef> all = new ArrayList<>(LoraRef.extract(job.getPrompt()).loras());
        for (LoraWeight l : job.getLorasList()) {
            all.add(new LoraRef(l.getName(), l.getWeight()));
        }
        return LoraVariants.key(all);
    }

    /**
     * The request of a job that went through {@link #withDefaults}; throws {@link InvalidRequestException} naming the
     * field for anything the model services would refuse or the orchestrator does not do.
     */
    public static GenerationRequest toRequest(GenerationJob job, ModelSpec model, int maxPromptChars) {
        if (!job.getModel().isEmpty() && !job.getModel().equals(model.name())) {
            throw new InvalidRequestException("model", "model '" + job.getModel() + "' is not served here; this orchestrator serves '"
                    + model.name() + "'");
        }
        if (!job.getOutputFormat().isEmpty() && !job.getOutputFormat().equalsIgnoreCase("png")) {
            throw new InvalidRequestException("output_format", "output_format must be 'png', got '" + job.getOutputFormat() + "'");
        }
        if (job.getPreviewEvery() < 0) {
            throw new InvalidRequestException("preview_every", "preview_every must be 0 or more, got " + job.getPreviewEvery());
        }
        if (job.getPrompt().length() > maxPromptChars) {
            throw new InvalidRequestException("prompt", "prompt is " + job.getPrompt().length() + " characters; the limit is "
                    + maxPromptChars);
        }
        if (job.getNegativePrompt().length() > maxPromptChars) {
            throw new InvalidRequestException("negative_prompt", "negative_prompt is " + job.getNegativePrompt().length()
                    + " characters; the limit is " + maxPromptChars);
        }
        RngKind rng;
        try {
            rng = RngKind.parse(job.getRng());
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("rng", "rng: " + e.getMessage());
        }
        try {
            SamplerSpec.parse(job.getSampler());
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("sampler", e.getMessage());
        }
        GenerationRequest request = new GenerationRequest(job.getPrompt(), job.getNegativePrompt(), job.getWidth(),
                job.getHeight(), job.getSteps(), job.getSampler(), job.getScheduler().isEmpty() ? null : job.getScheduler(),
                cfgScale(job.getCfgScale()), job.getSeed(), job.getBatchCount(), job.getClipSkip(), rng)
                .withPromptOptions(job.getCommaPaddingBacktrack(), job.getPadCondUncond());
        if (job.hasStrength() && job.getInitImage().isEmpty()) {
            throw new InvalidRequestException("strength", "strength is for img2img: it needs init_image (a text-to-image job"
                    + " starts from pure noise)");
        }
        if (!job.getInitImage().isEmpty()) {
            Png.Image image;
            try {
                image = Png.decode(job.getInitImage().toByteArray());
            } catch (Exception e) {
                throw new InvalidRequestException("init_image", "init_image must be a PNG or JPEG image: " + e.getMessage());
            }
            boolean sizeFromImage = job.getWidth() == GenerationRequest.imageSide(image.width())
                    && job.getHeight() == GenerationRequest.imageSide(image.height());
            if (sizeFromImage && (job.getWidth() < GenerationRequest.MIN_SIZE || job.getWidth() > GenerationRequest.MAX_SIZE
                    || job.getHeight() < GenerationRequest.MIN_SIZE || job.getHeight() > GenerationRequest.MAX_SIZE)) {
                throw new InvalidRequestException("init_image", "init_image is " + image.width() + "x" + image.height()
                        + ": its size (down to a multiple of 8) is no job size (" + GenerationRequest.MIN_SIZE + " to "
                        + GenerationRequest.MAX_SIZE + " a side); give width and height to resize it");
            }
            request = request.withInitImage(image, job.hasStrength() ? cfgScale(job.getStrength()) : DEFAULT_STRENGTH);
        }
        if (job.getMask().isEmpty() && (job.hasMaskBlur() || job.getMaskInvert())) {
            throw new InvalidRequestException(job.hasMaskBlur() ? "mask_blur" : "mask_invert", (job.hasMaskBlur()
                    ? "mask_blur" : "mask_invert") + " is for inpainting: it needs a mask");
        }
        if (!job.getMask().isEmpty()) {
            Png.Image mask;
            try {
                mask = InpaintMask.binary(job.getMask().toByteArray());
            } catch (Exception e) {
                throw new InvalidRequestException("mask", "mask must be a PNG or JPEG image: " + e.getMessage());
            }
            request = request.withInpaint(new GenerationRequest.Inpaint(mask,
                    job.hasMaskBlur() ? job.getMaskBlur() : InpaintMask.DEFAULT_BLUR, job.getMaskInvert()));
        }
        request.validate(); // InvalidRequestException naming its field
        loras(job); // names, weights and count of the job's LoRAs
        checkSyntax("prompt", job.getPrompt());
        checkSyntax("negative_prompt", job.getNegativePrompt());
        if (model.tokenizer().isPresent()) { // the token limit, as the text encoder will count (where it can be read here)
            checkTokens("prompt", LoraRef.extract(job.getPrompt()).prompt(), model.tokenizer().get(), request.commaBacktrack());
            checkTokens("negative_prompt", LoraRef.extract(job.getNegativePrompt()).prompt(), model.tokenizer().get(),
                    request.commaBacktrack());
        }
        if (request.clipSkip() > model.textEncoderLayers()) {
            throw new InvalidRequestException("clip_skip", "clip_skip must be 1 to " + model.textEncoderLayers()
                    + " (the text encoder's layers), got " + request.clipSkip());
        }
        int multiple = model.pixelMultiple();
        if (request.width() % multiple != 0) {
            throw new InvalidRequestException("width", "width must be a multiple of " + multiple + " for this model, got "
                    + request.width());
        }
        if (request.height() % multiple != 0) {
            throw new InvalidRequestException("height", "height must be a multiple of " + multiple + " for this model, got "
                    + request.height());
        }
        return request;
    }

    private static void checkTokens(String field, String prompt, dev.diffusion.core.tokenizer.ClipTokenizer tokenizer,
                                    int backtrack) {
        try {
            PromptSyntax.chunk(tokenizer, prompt, backtrack);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            throw new InvalidRequestException(field, m.startsWith("prompt ") ? field + m.substring("prompt".length())
                    : field + ": " + m);
        }
    }

    /** A prompt's A1111 syntax (a bad LoRA tag, a malformed weight), refused naming the field before the job starts. */
    private static void checkSyntax(String field, String prompt) {
        try {
            PromptSyntax.parse(LoraRef.extract(prompt).prompt());
        } catch (InvalidRequestException e) { // a bad <lora:...> tag: LoraRef says "prompt"
            throw new InvalidRequestException(field, e.getMessage().replaceFirst("^prompt", field));
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(field, field + ": " + e.getMessage());
        }
    }

    /**
     * The GenerationJob field a model service's INVALID_ARGUMENT is about: the services' messages start with their
     * request field ("clip_skip: must be ...", "latents: ..."), which for "latents" and "prompts" are this job's size
     * and prompt. "" when the message names no field of a job. (Requests checked here say their field themselves:
     * {@link InvalidRequestException#field()}.)
     */
    static String fieldOf(String message) {
        String first = message == null ? "" : message.split("[ :\\[]", 2)[0];
        if (REQUEST_FIELDS.contains(first)) {
            return first;
        }
        return switch (first) {
            case "latents" -> "width";
            // the services' prompts list is [negative_prompt, prompt]
            case "prompts" -> message.startsWith("prompts[0]") ? "negative_prompt" : "prompt";
            case "loras" -> "loras";
            case "init_image", "strength", "mask", "mask_blur" -> first;
            default -> "";
        };
    }

    /**
     * A model service's INVALID_ARGUMENT as the job's submitter should read it: a message about the services'
     * prompts list ("prompts[1]: ...") is about the job's {@code prompt} (or, for [0], its {@code negative_prompt})
     * and says so; a message that already names one of the job's fields is passed on as it is; any other keeps the
     * service's words behind "model service refused the job".
     */
    static String refusalMessage(String description) {
        String message = description == null ? "" : description;
        java.util.regex.Matcher prompts = java.util.regex.Pattern.compile("^prompts\\[(\\d+)]:? ?").matcher(message);
        if (prompts.find()) {
            return (prompts.group(1).equals("0") ? "negative_prompt" : "prompt") + ": " + message.substring(prompts.end());
        }
        String first = message.split("[ :\\[]", 2)[0];
        if (REQUEST_FIELDS.contains(first)) {
            return message;
        }
        return "model service refused the job" + (message.isEmpty() ? "" : ": " + message);
    }

    /**
     * Refuses, naming {@code width}, a job whose U-Net calls (a CFG pair) need more memory for attention than the U-Net
     * service allows ({@code diffusion.unet.max-attention-mb}, in its Info): the service would refuse every call.
     */
    public static void checkAttention(GenerationJob job, ModelSpec model, dev.diffusion.proto.v1.ModelInfo unet) {
        if (unet.getMaxAttentionBytes() <= 0) {
            return;
        }
        int lh = job.getHeight() / model.vaeDownscale();
        int lw = job.getWidth() / model.vaeDownscale();
        long need = model.unet().attentionBytes(2, lh, lw, unet.getAttentionSliceBytes());
        if (need > unet.getMaxAttentionBytes()) {
            throw new InvalidRequestException("width", job.getWidth() + "x" + job.getHeight() + " needs "
                    + String.format(java.util.Locale.ROOT, "%.2f GiB", need / (double) (1L << 30)) + " for attention in one U-Net call"
                    + " (a CFG pair); the U-Net service allows " + String.format(java.util.Locale.ROOT, "%.2f GiB",
                    unet.getMaxAttentionBytes() / (double) (1L << 30)) + " (diffusion.unet.max-attention-mb): ask for a smaller"
                    + " image, or give the U-Net service sliced attention (diffusion.attention.slice-mb; ./sd up --attention-slice-mb)"
                    + " or a larger budget");
        }
    }

    /** The float as written (7.5f → 7.5, not 7.5000000xyz), so the PNG metadata says what the submitter wrote. */
    public static double cfgScale(float cfg) {
        return Double.parseDouble(Float.toString(cfg));
    }
}
