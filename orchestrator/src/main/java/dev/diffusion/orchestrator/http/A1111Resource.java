package dev.diffusion.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.InpaintMask;
import dev.diffusion.core.image.LanczosResize;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.core.sampling.SamplerKind;
import dev.diffusion.core.sampling.SamplerSpec;
import dev.diffusion.proto.v1.GeneratedImage;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.Progress;
import io.vertx.core.http.HttpServerRequest;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * AUTOMATIC1111's web UI API ({@code /sdapi/v1/*}), field names and defaults as its {@code modules/api/models.py} and
 * {@code modules/processing.py} have them (steps 50, sampler "Euler", cfg_scale 7, 512x512, seed -1). Each txt2img or
 * img2img request is one normal job with batch_count = batch_size × n_iter (image i seeded seed + i, as A1111 does);
 * the answer waits for its final event. Fields we do not do are refused with 422 naming them unless they hold A1111's
 * default (clients send the whole model); unknown fields are refused too.
 */
@Path("/sdapi/v1")
@Produces(MediaType.APPLICATION_JSON)
public class A1111Resource {
    private static final ObjectMapper JSON = JsonFields.mapper();
    static final int DEFAULT_STEPS = 50;
    static final String DEFAULT_SAMPLER = "Euler";
    static final double DEFAULT_CFG = 7.0;
    static final int DEFAULT_SIZE = 512;
    static final double DEFAULT_DENOISING = 0.75;

    /** Fields read into the job. */
    private static final Set<String> SUPPORTED = Set.of("prompt", "negative_prompt", "steps", "sampler_name", "sampler_index",
            "scheduler", "cfg_scale", "seed", "width", "height", "batch_size", "n_iter", "override_settings",
            "override_settings_restore_afterwards", "send_images", "save_images", "force_task_id", "do_not_save_samples",
            "do_not_save_grid", "disable_extra_networks", "comments", "infotext", "eta",
            // hires fix settings: A1111 itself reads them only with enable_hr
            "hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_resize_x", "hr_resize_y", "hr_checkpoint_name",
            "hr_sampler_name", "hr_scheduler", "hr_prompt", "hr_negative_prompt", "hr_cfg", "hr_distilled_cfg",
            "hr_additional_modules", "firstphase_width", "firstphase_height", "denoising_strength",
            // instruct-pix2pix's image guidance: A1111 reads it for such models only (webuiapi sends 1.5)
            "image_cfg_scale");
    /** Fields that are read for their type only (A1111 would refuse a wrong type), their value unused here. */
    private static final Set<String> NUMBERS_UNUSED = Set.of("hr_scale", "hr_second_pass_steps", "hr_resize_x", "hr_resize_y",
            "hr_cfg", "hr_distilled_cfg", "firstphase_width", "firstphase_height", "image_cfg_scale", "inpaint_full_res_padding");
    private static final Set<String> BOOLEANS_UNUSED = Set.of("override_settings_restore_afterwards", "do_not_save_samples",
            "do_not_save_grid", "disable_extra_networks");
    private static final Set<String> IMG2IMG_SUPPORTED = Set.of("init_images", "resize_mode", "include_init_images",
            // inpainting (read by inpaint() with the mask)
            "mask", "mask_blur", "mask_blur_x", "mask_blur_y", "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding",
            "inpainting_mask_invert", "mask_round");
    /** Fields we do not do, accepted only with A1111's default value ("no effect"). */
    private static final Map<String, Set<Object>> ONLY_DEFAULT = Map.ofEntries(
            Map.entry("enable_hr", Set.of(false)), Map.entry("restore_faces", Set.of(false)), Map.entry("tiling", Set.of(false)),
            Map.entry("styles", Set.of(List.of())), Map.entry("subseed", Set.of(-1L)), Map.entry("subseed_strength", Set.of(0.0)),
            Map.entry("seed_resize_from_h", Set.of(-1L, 0L)), Map.entry("seed_resize_from_w", Set.of(-1L, 0L)),
            Map.entry("s_min_uncond", Set.of(0.0)), Map.entry("s_churn", Set.of(0.0)), Map.entry("s_tmin", Set.of(0.0)),
            Map.entry("s_tmax", Set.of(0.0)), Map.entry("s_noise", Set.of(1.0)), Map.entry("script_name", Set.of("")),
            Map.entry("script_args", Set.of(List.of())), Map.entry("alwayson_scripts", Set.of(Map.of())),
            Map.entry("refiner_checkpoint", Set.of("")), Map.entry("refiner_switch_at", Set.of(0.0)),
            Map.entry("firstpass_image", Set.of("")), Map.entry("initial_noise_multiplier", Set.of(1.0)),
            Map.entry("latent_mask", Set.of("")));

    @Inject
    HttpJobs jobs;

    @POST
    @Path("/txt2img")
    public Response txt2img(String text, @Context HttpServerRequest request) throws InterruptedException {
        return generate(text, false, request);
    }

    @POST
    @Path("/img2img")
    public Response img2img(String text, @Context HttpServerRequest request) throws InterruptedException {
        return generate(text, true, request);
    }

    private Response generate(String text, boolean img2img, HttpServerRequest request) throws InterruptedException {
        Map<String, Object> parameters = new LinkedHashMap<>();
        HttpJobs.Tracked t;
        boolean sendImages;
        try {
            JsonNode body = parse(text);
            JsonFields in = new JsonFields(body);
            checkFields(body, img2img);
            sendImages = in.bool("send_images", true);
            t = jobs.submit(job(in, img2img, parameters));
        } catch (InvalidRequestException e) {
            return unprocessable(a1111Field(e.field()), HttpErrors.inTermsOf(e.getMessage(), e.field(), a1111Field(e.field())));
        }
        Optional<JobEvent> end = jobs.awaitFinal(t, request.response());
        if (end.isEmpty()) {
            return error(504, "Timeout", "job " + t.id() + " did not finish within " + HttpJobs.WAIT.toMinutes() + " minutes; it goes on");
        }
        JobEvent e = end.get();
        if (e.getType() == JobEvent.Type.FAILED) {
            return e.getFailed().getField().isEmpty() ? error(500, "JobFailed", e.getFailed().getReason())
                    : unprocessable(a1111Field(e.getFailed().getField()), HttpErrors.inTermsOf(e.getFailed().getReason(),
                            e.getFailed().getField(), a1111Field(e.getFailed().getField())));
        }
        List<String> images = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        List<String> infotexts = new ArrayList<>();
        for (GeneratedImage image : e.getCompleted().getImagesList()) {
            if (sendImages) {
                images.add(Base64.getEncoder().encodeToString(image.getPng().toByteArray()));
            }
            seeds.add(image.getSeed());
            infotexts.add(image.getParameters());
        }
        GenerationJob job = t.job;
        if (seeds.isEmpty()) { // interrupted: A1111 answers 200 with what it has; a cancelled job has no image
            for (int i = 0; i < job.getBatchCount(); i++) {
                seeds.add(job.getSeed() + i);
            }
        }
        parameters.put("seed", job.getSeed());
        parameters.put("width", job.getWidth());
        parameters.put("height", job.getHeight());
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("prompt", job.getPrompt());
        info.put("all_prompts", java.util.Collections.nCopies(seeds.size(), job.getPrompt()));
        info.put("negative_prompt", job.getNegativePrompt());
        info.put("all_negative_prompts", java.util.Collections.nCopies(seeds.size(), job.getNegativePrompt()));
        info.put("seed", job.getSeed());
        info.put("all_seeds", seeds);
        info.put("subseed", -1);
        info.put("all_subseeds", java.util.Collections.nCopies(seeds.size(), -1));
        info.put("subseed_strength", 0);
        info.put("width", job.getWidth());
        info.put("height", job.getHeight());
        info.put("sampler_name", SamplerSpec.parse(job.getSampler()).a1111Name());
        info.put("cfg_scale", dev.diffusion.orchestrator.Jobs.cfgScale(job.getCfgScale()));
        info.put("steps", job.getSteps());
        info.put("batch_size", parameters.get("batch_size"));
        info.put("restore_faces", false);
        info.put("sd_model_name", jobs.model().name());
        info.put("denoising_strength", img2img ? parameters.get("denoising_strength") : null);
        info.put("clip_skip", job.getClipSkip());
        info.put("index_of_first_image", 0);
        info.put("infotexts", infotexts);
        info.put("styles", List.of());
        info.put("job_timestamp", DateTimeFormatter.ofPattern("yyyyMMddHHmmss").withZone(ZoneOffset.UTC)
                .format(Instant.ofEpochMilli(t.submittedMillis)));
        info.put("job_id", t.id());
        info.put("interrupted", e.getType() == JobEvent.Type.CANCELLED);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("images", images);
        out.put("parameters", parameters);
        try {
            out.put("info", JSON.writeValueAsString(info));
        } catch (com.fasterxml.jackson.core.JsonProcessingException ex) {
            throw new IllegalStateException(ex);
        }
        return Response.ok(out).build();
    }

    private static JsonNode parse(String text) {
        JsonNode body;
        try {
            body = JSON.readTree(text == null ? "" : text);
        } catch (Exception e) {
            throw new InvalidRequestException("body", "the request body is not JSON: " + JsonFields.parseError(e));
        }
        if (body == null || !body.isObject()) {
            throw new InvalidRequestException("body", "the request body must be a JSON object");
        }
        return body;
    }

    static void checkFields(JsonNode body, boolean img2img) {
        List<String> refused = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = body.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            if (SUPPORTED.contains(name) || (img2img && IMG2IMG_SUPPORTED.contains(name))) {
                JsonFields typed = new JsonFields(body);
                if (NUMBERS_UNUSED.contains(name)) {
                    typed.number(name, 0);
                } else if (BOOLEANS_UNUSED.contains(name)) {
                    typed.bool(name, false);
                } else if (name.equals("denoising_strength") && !img2img) {
                    typed.number(name, 0); // read by img2img; in txt2img a hires-fix setting
                }
                continue;
            }
            Set<Object> neutral = ONLY_DEFAULT.get(name);
            if (neutral == null) {
                throw new InvalidRequestException(name, name + " is not a field of /sdapi/v1/" + (img2img ? "img2img" : "txt2img"));
            }
            if (!isDefault(f.getValue(), neutral)) {
                refused.add(name);
            }
        }
        if (!refused.isEmpty()) {
            throw new InvalidRequestException(refused.get(0), "not supported here: " + String.join(", ", refused)
                    + " (hires fix, face restoration, tiling, variation seeds, sampler noise settings, scripts, refiner and latent"
                    + " masks are not implemented; leave them at A1111's defaults)");
        }
    }

    private static boolean isDefault(JsonNode v, Set<Object> neutral) {
        if (v.isNull() || (v.isBoolean() && !v.asBoolean() && neutral.contains(false)) || (v.isTextual() && v.asText().isEmpty())
                || (v.isContainerNode() && v.isEmpty())) {
            return true;
        }
        if (v.isNumber()) {
            return neutral.contains(v.asDouble()) || (v.isIntegralNumber() && neutral.contains(v.asLong()));
        }
        return false;
    }

    GenerationJob job(JsonFields in, boolean img2img, Map<String, Object> parameters) {
        GenerationJob.Builder b = GenerationJob.newBuilder();
        String prompt = in.string("prompt", "");
        String negative = in.string("negative_prompt", "");
        b.setPrompt(prompt).setNegativePrompt(negative);
        int steps = in.int32("steps", DEFAULT_STEPS);
        if (steps < 1) { // proto3's 0 would mean "the default" further on
            throw new InvalidRequestException("steps", "steps must be between 1 and " + GenerationRequest.MAX_STEPS + ", got " + steps);
        }
        // A1111 takes sampler_name or, when that is empty, sampler_index
        String sampler = in.string("sampler_name", "");
        if (sampler.isEmpty()) {
            sampler = in.string("sampler_index", "");
        }
        if (sampler.isEmpty()) {
            sampler = DEFAULT_SAMPLER;
        }
        String scheduler = in.string("scheduler", "Automatic");
        String ourScheduler = switch (scheduler.toLowerCase(Locale.ROOT)) {
            case "automatic", "" -> "";
            case "karras" -> "karras";
            default -> throw new InvalidRequestException("scheduler", "scheduler must be 'Automatic' or 'Karras' (GET /sdapi/v1/schedulers), got '"
                    + scheduler + "'");
        };
        double cfg = in.number("cfg_scale", DEFAULT_CFG);
        long seed = in.integer("seed", -1);
        int batchSize = in.int32("batch_size", 1);
        int nIter = in.int32("n_iter", 1);
        if (batchSize < 1) {
            throw new InvalidRequestException("batch_size", "batch_size must be at least 1, got " + batchSize);
        }
        if (nIter < 1) {
            throw new InvalidRequestException("n_iter", "n_iter must be at least 1, got " + nIter);
        }
        int clipSkip = 1;
        int commaBacktrack = 0;
        boolean padCondUncond = false;
        String rng = "philox";
        if (in.has("override_settings")) {
            JsonNode o = in.node("override_settings");
            if (!o.isObject()) {
                throw new InvalidRequestException("override_settings", "override_settings must be an object");
            }
            JsonFields os = new JsonFields(o, "override_settings.");
            for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                Object current = options().get(k);
                if (k.equals("CLIP_stop_at_last_layers")) {
                    clipSkip = os.int32(k, 1);
                } else if (k.equals("comma_padding_backtrack")) {
                    commaBacktrack = os.int32(k, 0);
                } else if (k.equals("pad_cond_uncond")) {
                    padCondUncond = os.bool(k, false);
                } else if (k.equals("randn_source")) {
                    String source = os.string(k, "GPU").toUpperCase(java.util.Locale.ROOT);
                    if (!Set.of("GPU", "NV", "CPU").contains(source)) {
                        throw new InvalidRequestException("override_settings.randn_source", "override_settings.randn_source"
                                + " must be GPU, NV or CPU, got '" + os.string(k, "") + "'");
                    }
                    rng = source.equals("CPU") ? "cpu" : "philox"; // GPU and NV: the Philox stream CUDA's torch.randn draws
                } else if (current == null || !sameValue(o.get(k), current)) {
                    throw new InvalidRequestException("override_settings." + k, "override_settings." + k
                            + " is not supported" + (current == null ? "" : " (it is " + current + " here and cannot change)")
                            + "; only " + OVERRIDABLE + " can be overridden");
                }
            }
        }
        if (in.has("save_images") && in.bool("save_images", false)) {
            throw new InvalidRequestException("save_images", "save_images is not supported: the images come back in the answer"
                    + " (the orchestrator's diffusion.jobs.output-dir keeps files)");
        }
        if (in.has("infotext")) {
            throw new InvalidRequestException("infotext", "infotext is not supported: send the fields themselves");
        }
        SamplerKind kind;
        try {
            kind = SamplerSpec.parse(sampler).kind();
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("sampler_name", e.getMessage());
        }
        if (in.has("eta")) {
            double eta = in.number("eta", 0);
            boolean asOurs = switch (kind) {
                case EULER_ANCESTRAL -> eta == 1;
                case DDIM -> eta == 0;
                default -> true; // not used by the sampler
            };
            if (!asOurs) {
                throw new InvalidRequestException("eta", "eta " + eta + " is not supported for " + sampler
                        + ": Euler a runs with eta 1, DDIM with eta 0");
            }
        }
        b.setSteps(steps).setSampler(sampler).setScheduler(ourScheduler).setCfgScale((float) cfg).setSeed(seed)
                .setClipSkip(clipSkip).setBatchCount(batchSize * nIter).setCommaPaddingBacktrack(commaBacktrack).setRng(rng)
                .setPadCondUncond(padCondUncond);
        if (in.has("force_task_id")) {
            b.setJobId(in.string("force_task_id", ""));
        }
        int width = in.int32("width", DEFAULT_SIZE);
        int height = in.int32("height", DEFAULT_SIZE);
        for (String side : List.of("width", "height")) {
            int v = side.equals("width") ? width : height;
            if (v < GenerationRequest.MIN_SIZE) { // proto3's 0 would mean "the default" further on
                throw new InvalidRequestException(side, side + " must be a multiple of 8 between " + GenerationRequest.MIN_SIZE
                        + " and " + GenerationRequest.MAX_SIZE + ", got " + v);
            }
        }
        double denoising = DEFAULT_DENOISING;
        if (img2img) {
            if (!in.has("init_images") || !in.node("init_images").isArray() || in.node("init_images").isEmpty()) {
                throw new InvalidRequestException("init_images", "init_images must be a list of one base64 PNG image");
            }
            if (in.node("init_images").size() > 1) {
                throw new InvalidRequestException("init_images", "init_images holds " + in.node("init_images").size()
                        + " images; one is supported");
            }
            JsonNode first = in.node("init_images").get(0);
            if (!first.isTextual()) {
                throw new InvalidRequestException("init_images", "init_images must hold base64 PNG strings");
            }
            byte[] png = flattened(JsonFields.base64("init_images", first.asText()));
            b.setInitImage(ByteString.copyFrom(png));
            denoising = in.number("denoising_strength", DEFAULT_DENOISING);
            b.setStrength((float) denoising);
            int resizeMode = in.int32("resize_mode", 0);
            if (resizeMode < 0 || resizeMode > 2) {
                throw new InvalidRequestException("resize_mode", "resize_mode must be 0 (Just resize), 1 (Crop and resize) or"
                        + " 2 (Resize and fill), got " + resizeMode + (resizeMode == 3 ? " (latent upscale is not done here)" : ""));
            }
            if (in.bool("include_init_images", false)) {
                throw new InvalidRequestException("include_init_images", "include_init_images is not supported");
            }
            // without width and height, the init image's size (down to a multiple of 8); else it is resized to them:
            // Just resize by the job itself (GenerationRequest), crop or fill here, as A1111's modules/images.py
            if (!in.has("width") && !in.has("height")) {
                width = 0;
                height = 0;
            } else if (resizeMode != 0) {
                b.setInitImage(ByteString.copyFrom(cropOrFill(png, resizeMode, width, height)));
            }
            parameters.put("resize_mode", resizeMode);
            inpaint(in, b, resizeMode, width, height, parameters);
        }
        b.setWidth(width).setHeight(height);
        parameters.put("prompt", prompt);
        parameters.put("negative_prompt", negative);
        parameters.put("seed", seed);
        parameters.put("sampler_name", sampler);
        parameters.put("scheduler", scheduler);
        parameters.put("batch_size", batchSize);
        parameters.put("n_iter", nIter);
        parameters.put("steps", steps);
        parameters.put("cfg_scale", cfg);
        parameters.put("width", width);
        parameters.put("height", height);
        if (img2img) {
            parameters.put("denoising_strength", denoising);
            parameters.put("init_images", null); // not echoed back: megabytes
        }
        parameters.put("override_settings", Map.of("CLIP_stop_at_last_layers", clipSkip, "comma_padding_backtrack",
                commaBacktrack, "pad_cond_uncond", padCondUncond));
        return b.build();
    }

    private static boolean sameValue(JsonNode v, Object current) {
        if (current instanceof Number n) {
            return v.isNumber() && v.asDouble() == n.doubleValue();
        }
        if (current instanceof Boolean bool) {
            return v.isBoolean() && v.asBoolean() == bool;
        }
        return v.isTextual() && v.asText().equals(current.toString());
    }

    /** The A1111 field a job field comes from. */
    static String a1111Field(String jobField) {
        return switch (jobField == null ? "" : jobField) {
            case "batch_count" -> "batch_size";
            case "init_image" -> "init_images";
            case "job_id" -> "force_task_id";
            case "loras" -> "prompt"; // LoRAs are named by <lora:...> tags in the prompt
            case "strength" -> "denoising_strength";
            case "sampler" -> "sampler_name";
            case "clip_skip" -> "override_settings.CLIP_stop_at_last_layers";
            case "comma_padding_backtrack", "pad_cond_uncond" -> "override_settings." + jobField;
            default -> jobField;
        };
    }

    /** FastAPI's answer to a request that fails validation. */
    static Response unprocessable(String field, String message) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("loc", field == null || field.isEmpty() || field.equals("body") ? List.of("body") : List.of("body", field));
        d.put("msg", message);
        d.put("type", "value_error");
        return Response.status(422).entity(Map.of("detail", List.of(d))).type(MediaType.APPLICATION_JSON).build();
    }

    /** A1111's answer to other errors ({@code modules/api/api.py}'s handler: error, detail, body, errors). */
    static Response error(int status, String error, String detail) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("error", error);
        m.put("detail", detail);
        m.put("body", "");
        m.put("errors", detail);
        return Response.status(status).entity(m).type(MediaType.APPLICATION_JSON).build();
    }

    @GET
    @Path("/progress")
    public Map<String, Object> progress(@jakarta.ws.rs.QueryParam("skip_current_image") boolean skipCurrentImage) {
        Optional<HttpJobs.Tracked> current = jobs.current();
        Map<String, Object> state = new LinkedHashMap<>();
        Map<String, Object> out = new LinkedHashMap<>();
        state.put("skipped", false);
        state.put("interrupted", false);
        state.put("stopping_generation", false);
        if (current.isEmpty()) {
            state.put("job", "");
            state.put("job_count", 0);
            state.put("job_timestamp", "0");
            state.put("job_no", 0);
            state.put("sampling_step", 0);
            state.put("sampling_steps", 0);
            out.put("progress", 0.0);
            out.put("eta_relative", 0.0);
            out.put("state", state);
            out.put("current_image", null);
            out.put("textinfo", null);
            out.put("job_id", null);
            return out;
        }
        HttpJobs.Tracked t = current.get();
        Progress p = t.lastProgress();
        double fraction = t.fraction();
        double elapsed = t.startedMillis() > 0 ? (System.currentTimeMillis() - t.startedMillis()) / 1000.0 : 0;
        state.put("job", t.id());
        state.put("job_count", t.job.getBatchCount());
        state.put("job_timestamp", DateTimeFormatter.ofPattern("yyyyMMddHHmmss").withZone(ZoneOffset.UTC)
                .format(Instant.ofEpochMilli(t.submittedMillis)));
        state.put("job_no", p == null ? 0 : p.getImageIndex());
        state.put("sampling_step", p == null ? 0 : p.getStep());
        state.put("sampling_steps", p == null ? t.job.getSteps() : p.getTotalSteps());
        out.put("progress", fraction);
        out.put("eta_relative", fraction > 0 ? elapsed / fraction - elapsed : 0.0);
        out.put("state", state);
        byte[] preview = t.preview();
        out.put("current_image", preview == null || skipCurrentImage ? null : Base64.getEncoder().encodeToString(preview));
        out.put("textinfo", null);
        out.put("job_id", t.id());
        return out;
    }

    @POST
    @Path("/interrupt")
    public Map<String, Object> interrupt() throws InterruptedException {
        Optional<HttpJobs.Tracked> current = jobs.current();
        if (current.isPresent()) {
            jobs.cancel(current.get().id());
        }
        return Map.of();
    }

    @GET
    @Path("/samplers")
    public List<Map<String, Object>> samplers() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (SamplerKind k : SamplerKind.values()) {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("name", SamplerSpec.of(k).a1111Name());
            s.put("aliases", List.of(k.canonicalName()));
            s.put("options", Map.of());
            out.add(s);
        }
        return out;
    }

    @GET
    @Path("/schedulers")
    public List<Map<String, Object>> schedulers() {
        return List.of(scheduler("automatic", "Automatic", -1), scheduler("karras", "Karras", 7.0));
    }

    private static Map<String, Object> scheduler(String name, String label, double rho) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("name", name);
        s.put("label", label);
        s.put("aliases", null);
        s.put("default_rho", rho);
        s.put("need_inner_model", false);
        return s;
    }

    @GET
    @Path("/sd-models")
    public List<Map<String, Object>> sdModels() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("title", jobs.model().name());
        m.put("model_name", jobs.model().name());
        m.put("hash", null);
        m.put("sha256", null);
        m.put("filename", jobs.submission().orchestrator().config().model().path());
        m.put("config", null);
        return List.of(m);
    }

    /**
     * The listings A1111 clients read on connecting (webuiapi, editors' plugins), answered with what there is here:
     * no upscaler but "None", no styles, VAEs, embeddings, hypernetworks, face restorers or scripts. LoRAs are files
     * of the services' folder, named in prompts ({@code <lora:name:w>}); this orchestrator does not list them.
     */
    @GET
    @Path("/{listing: loras|prompt-styles|sd-vae|hypernetworks|face-restorers|realesrgan-models}")
    public List<Object> emptyListing() {
        return List.of();
    }

    @GET
    @Path("/upscalers")
    public List<Map<String, Object>> upscalers() {
        Map<String, Object> none = new LinkedHashMap<>();
        none.put("name", "None");
        none.put("model_name", null);
        none.put("model_path", null);
        none.put("model_url", null);
        none.put("scale", 4);
        return List.of(none);
    }

    @GET
    @Path("/embeddings")
    public Map<String, Object> embeddings() {
        return Map.of("loaded", Map.of(), "skipped", Map.of());
    }

    @GET
    @Path("/scripts")
    public Map<String, Object> scripts() {
        return Map.of("txt2img", List.of(), "img2img", List.of());
    }

    /** A1111's refresh endpoints: nothing to re-read here (the services load their model and LoRAs themselves). */
    @POST
    @Path("/{refresh: refresh-checkpoints|refresh-loras|refresh-vae|refresh-embeddings}")
    public Response refresh() {
        return Response.ok("null", MediaType.APPLICATION_JSON).build();
    }

    /** The options a request may set in its {@code override_settings}. */
    static final String OVERRIDABLE = "CLIP_stop_at_last_layers, comma_padding_backtrack, pad_cond_uncond and randn_source";

    /** The options there are here; each holds for every job and none can change. */
    Map<String, Object> options() {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("sd_model_checkpoint", jobs.model().name());
        o.put("CLIP_stop_at_last_layers", 1);
        o.put("comma_padding_backtrack", 0); // A1111's default is 20; ours is sd.cpp's: off
        o.put("pad_cond_uncond", false);
        o.put("randn_source", "GPU"); // A1111's default: torch.randn on CUDA, the Philox stream ("NV" is the same here)
        o.put("samples_format", "png");
        o.put("eta_ancestral", 1.0);
        o.put("eta_ddim", 0.0);
        o.put("show_progress_every_n_steps", HttpJobs.PREVIEW_EVERY);
        o.put("live_previews_enable", true);
        return o;
    }

    @GET
    @Path("/options")
    public Map<String, Object> getOptions() {
        return options();
    }

    @POST
    @Path("/options")
    public Response setOptions(String text) {
        try {
            JsonNode body = parse(text);
            Map<String, Object> current = options();
            List<String> refused = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = body.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                Object now = current.get(f.getKey());
                if (now == null || !sameValue(f.getValue(), now)) {
                    refused.add(f.getKey());
                }
            }
            if (!refused.isEmpty()) {
                throw new InvalidRequestException(refused.get(0), "options cannot be changed here: " + String.join(", ", refused)
                        + " (set " + OVERRIDABLE + " per request in override_settings; the model is the one the services load)");
            }
            return Response.ok("null", MediaType.APPLICATION_JSON).build();
        } catch (InvalidRequestException e) {
            return unprocessable(e.field(), e.getMessage());
        }
    }

    /**
     * img2img's inpainting fields, as A1111 reads them with a {@code mask} (a base64 PNG, white = repaint; an RGBA
     * mask with transparent pixels by its alpha): {@code mask_blur} (or equal {@code mask_blur_x} and
     * {@code mask_blur_y}; 4), {@code inpainting_mask_invert} (0 or 1), {@code inpainting_fill} 1 (original: the
     * only one done here, and the default), {@code inpaint_full_res} false and {@code mask_round} true (the only
     * ones done here). Without a mask they are read for their types only, as A1111 ignores them.
     */
    private static void inpaint(JsonFields in, GenerationJob.Builder b, int resizeMode, int width, int height,
                                Map<String, Object> parameters) {
        int blurX = in.int32("mask_blur_x", InpaintMask.DEFAULT_BLUR);
        int blurY = in.int32("mask_blur_y", InpaintMask.DEFAULT_BLUR);
        int blur = in.has("mask_blur") && !in.node("mask_blur").isNull() ? in.int32("mask_blur", InpaintMask.DEFAULT_BLUR) : blurX;
        // an int in A1111's model (0 masked, 1 not masked); pydantic takes true and false for 1 and 0 too
        int invert = in.has("inpainting_mask_invert") && in.node("inpainting_mask_invert").isBoolean()
                ? (in.node("inpainting_mask_invert").asBoolean() ? 1 : 0) : in.int32("inpainting_mask_invert", 0);
        int fill = in.int32("inpainting_fill", 1);
        boolean fullRes = in.bool("inpaint_full_res", false);
        boolean round = in.bool("mask_round", true);
        in.number("inpaint_full_res_padding", 0);
        String mask = in.has("mask") && !in.node("mask").isNull() ? in.string("mask", "") : "";
        if (mask.isEmpty()) {
            return;
        }
        if (!in.has("mask_blur") && blurX != blurY) {
            throw new InvalidRequestException("mask_blur_y", "mask_blur_x and mask_blur_y must be equal here (one blur for both"
                    + " directions), got " + blurX + " and " + blurY);
        }
        if (invert != 0 && invert != 1) {
            throw new InvalidRequestException("inpainting_mask_invert", "inpainting_mask_invert must be 0 (inpaint masked) or 1"
                    + " (inpaint not masked), got " + invert);
        }
        if (fill != 1) {
            throw new InvalidRequestException("inpainting_fill", "inpainting_fill must be 1 (original: the init image under the"
                    + " mask), got " + fill + "; fill (0) and latent noise or nothing (2, 3) are not done here");
        }
        if (fullRes) {
            throw new InvalidRequestException("inpaint_full_res", "inpaint_full_res must be false: the whole picture is"
                    + " inpainted here (\"only masked\" is not done)");
        }
        if (!round) {
            throw new InvalidRequestException("mask_round", "mask_round must be true: masks are made black and white here");
        }
        byte[] png = JsonFields.base64("mask", mask);
        Png.Image binary;
        try {
            binary = InpaintMask.binary(png);
        } catch (RuntimeException e) {
            throw new InvalidRequestException("mask", "mask must be a base64 PNG or JPEG image: " + e.getMessage());
        }
        if (resizeMode != 0 && width >= GenerationRequest.MIN_SIZE && width <= GenerationRequest.MAX_SIZE
                && height >= GenerationRequest.MIN_SIZE && height <= GenerationRequest.MAX_SIZE) {
            // cropped or filled as the image (A1111 blurs before that; here the job blurs after)
            try {
                binary = resizeMode == 1 ? LanczosResize.cropAndResize(binary, width, height)
                        : LanczosResize.resizeAndFill(binary, width, height);
            } catch (IllegalArgumentException e) {
                throw new InvalidRequestException("mask", "mask: " + e.getMessage());
            }
        }
        b.setMask(ByteString.copyFrom(Png.encodeRgb(binary.width(), binary.height(), binary.rgb(), java.util.Map.of())))
                .setMaskBlur(blur).setMaskInvert(invert == 1);
        parameters.put("mask", null); // not echoed back, as init_images
        parameters.put("mask_blur", blur);
        parameters.put("inpainting_mask_invert", invert);
        parameters.put("inpainting_fill", fill);
    }

    /**
     * An RGBA init image with transparent pixels composited onto white, as A1111's img2img does ({@code images.flatten}
     * onto {@code img2img_background_color}, #ffffff), as a PNG; any other PNG as it is (the job reads it).
     */
    private static byte[] flattened(byte[] png) {
        if (png.length < 26 || png[25] != 6) { // IHDR's colour type: only RGBA is flattened
            return png;
        }
        Png.Image image;
        try {
            image = Png.decodeFlattened(png, 0xffffff);
        } catch (RuntimeException e) {
            throw new InvalidRequestException("init_images", "init_images must hold base64 PNG images: " + e.getMessage());
        }
        return Png.encodeRgb(image.width(), image.height(), image.rgb(), java.util.Map.of());
    }

    /** A1111's resize_mode 1 (Crop and resize) or 2 (Resize and fill) of an init image to width × height, as a PNG. */
    private static byte[] cropOrFill(byte[] png, int mode, int width, int height) {
        if (width < GenerationRequest.MIN_SIZE || width > GenerationRequest.MAX_SIZE || height < GenerationRequest.MIN_SIZE
                || height > GenerationRequest.MAX_SIZE) {
            return png; // the job refuses the size, naming it
        }
        Png.Image image;
        try {
            image = Png.decode(png);
        } catch (RuntimeException e) {
            throw new InvalidRequestException("init_images", "init_images must hold base64 PNG images: " + e.getMessage());
        }
        if (image.width() == width && image.height() == height) {
            return png;
        }
        Png.Image sized;
        try {
            sized = mode == 1 ? LanczosResize.cropAndResize(image, width, height) : LanczosResize.resizeAndFill(image, width, height);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("init_images", "init_images: " + e.getMessage());
        }
        return Png.encodeRgb(width, height, sized.rgb(), java.util.Map.of());
    }

    @POST
    @Path("/png-info")
    public Response pngInfo(String text) {
        try {
            JsonFields in = new JsonFields(parse(text));
            if (!in.has("image") || in.string("image", "").isEmpty()) {
                throw new InvalidRequestException("image", "image is required: a base64 PNG");
            }
            Png.Image image;
            try {
                image = Png.decode(JsonFields.base64("image", in.string("image", "")));
            } catch (InvalidRequestException e) {
                throw e;
            } catch (Exception e) {
                throw new InvalidRequestException("image", "image must be a base64 PNG: " + e.getMessage());
            }
            Map<String, String> items = new LinkedHashMap<>(image.text());
            String info = items.remove("parameters");
            Map<String, Object> parameters = new LinkedHashMap<>();
            if (info != null) {
                GenerationParameters p = GenerationParameters.parse(info);
                parameters.put("Prompt", p.prompt());
                parameters.put("Negative prompt", p.negativePrompt());
                parameters.putAll(p.settings());
                String size = p.settings().get("Size");
                if (size != null && size.matches("\\d+x\\d+")) {
                    parameters.put("Size-1", size.split("x")[0]);
                    parameters.put("Size-2", size.split("x")[1]);
                }
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("info", info == null ? "" : info);
            out.put("items", items);
            out.put("parameters", parameters);
            return Response.ok(out).build();
        } catch (InvalidRequestException e) {
            return unprocessable(e.field(), e.getMessage());
        }
    }
}
