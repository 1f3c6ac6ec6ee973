package dev.diffusion.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.proto.v1.GeneratedImage;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import io.vertx.core.http.HttpServerRequest;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.jboss.resteasy.reactive.server.multipart.FormValue;
import org.jboss.resteasy.reactive.server.multipart.MultipartFormDataInput;

/**
 * OpenAI's images API: {@code POST /v1/images/generations}, {@code POST /v1/images/edits} (img2img), {@code GET
 * /v1/models}. Each request is one normal job (n images = its batch_count); the answer waits for its final event.
 * Our settings that OpenAI has no field for go in the extension object {@code "sd"}: negative_prompt, seed, steps,
 * sampler, scheduler, cfg_scale, clip_skip, rng, strength (edits), comma_padding_backtrack, pad_cond_uncond.
 */
@Path("/v1")
@Produces(MediaType.APPLICATION_JSON)
public class OpenAiImagesResource {
    /** OpenAI's limit on {@code n}. */
    static final int MAX_N = 10;
    private static final Set<String> FIELDS = Set.of("prompt", "model", "n", "size", "response_format", "quality", "style",
            "user", "output_format", "background", "moderation", "output_compression", "sd");
    private static final Set<String> EDIT_FIELDS = Set.of("image", "mask", "input_fidelity");
    private static final Set<String> SD_FIELDS = Set.of("negative_prompt", "seed", "steps", "sampler", "scheduler",
            "cfg_scale", "clip_skip", "rng", "strength", "comma_padding_backtrack", "pad_cond_uncond", "mask_blur");
    private static final ObjectMapper JSON = JsonFields.mapper();

    @Inject
    HttpJobs jobs;

    @POST
    @Path("/images/generations")
    public Response generations(String text, @Context UriInfo uri, @Context HttpServerRequest request)
            throws InterruptedException {
        String type = request.getHeader("Content-Type");
        if (type != null && !type.isBlank() && !isJson(type)) {
            return OpenAiErrors.error(415, "/v1/images/generations takes a JSON body (Content-Type: application/json), got "
                    + type, null, "unsupported_media_type");
        }
        JsonNode body;
        try {
            body = JSON.readTree(text == null ? "" : text);
        } catch (Exception e) {
            return OpenAiErrors.invalid(null, "the request body is not JSON: " + JsonFields.parseError(e));
        }
        if (body == null || !body.isObject()) {
            return OpenAiErrors.invalid(null, "the request body must be a JSON object");
        }
        return run(body, null, false, uri, request);
    }

    @POST
    @Path("/images/edits")
    @Consumes(MediaType.MULTIPART_FORM_DATA)
    public Response edits(MultipartFormDataInput form, @Context UriInfo uri, @Context HttpServerRequest request)
            throws Exception {
        ObjectNode body = JSON.createObjectNode();
        ObjectNode sd = JSON.createObjectNode();
        byte[] image = null;
        byte[] mask = null;
        for (Map.Entry<String, Collection<FormValue>> e : form.getValues().entrySet()) {
            String name = e.getKey();
            for (FormValue v : e.getValue()) {
                if (name.equals("image") || name.equals("image[]")) {
                    if (image != null) {
                        return OpenAiErrors.invalid("image", "one image only: this server edits a single PNG");
                    }
                    image = v.isFileItem() ? Files.readAllBytes(v.getFileItem().getFile()) : v.getValue().getBytes(
                            java.nio.charset.StandardCharsets.ISO_8859_1);
                } else if (name.equals("sd") && !v.isFileItem()) {
                    try {
                        JSON.readTree(v.getValue()).fields().forEachRemaining(f -> sd.set(f.getKey(), f.getValue()));
                    } catch (Exception bad) {
                        return OpenAiErrors.invalid("sd", "sd must be a JSON object: " + JsonFields.parseError(bad));
                    }
                } else if (name.startsWith("sd[") && name.endsWith("]") && !v.isFileItem()) {
                    // the openai client's form encoding of an object: sd[key]; sd[key][] or sd[key][sub] would be a
                    // list or an object, which no setting of ours is
                    String key = name.substring(3, name.length() - 1);
                    int nested = key.indexOf(']');
                    if (nested >= 0) {
                        String field = "sd." + key.substring(0, nested);
                        return OpenAiErrors.invalid(field, field + " must be a single value, got the form field '" + name + "'");
                    }
                    sd.put(key, v.getValue());
                } else if (name.equals("mask")) {
                    if (mask != null) {
                        return OpenAiErrors.invalid("mask", "one mask only");
                    }
                    mask = v.isFileItem() ? Files.readAllBytes(v.getFileItem().getFile()) : v.getValue().getBytes(
                            java.nio.charset.StandardCharsets.ISO_8859_1);
                } else if (!v.isFileItem()) {
                    body.put(name, v.getValue());
                } else {
                    return OpenAiErrors.invalid(name, "Unrecognized request argument supplied: " + name);
                }
            }
        }
        if (image == null) {
            return OpenAiErrors.invalid("image", "image is required: a PNG file");
        }
        if (image.length == 0) {
            return OpenAiErrors.invalid("image", "image is empty: a PNG file is required");
        }
        byte[] jobMask = null;
        if (mask != null) {
            try {
                jobMask = jobMask(image, mask);
            } catch (InvalidRequestException bad) {
                return OpenAiErrors.invalid(bad.field(), bad.getMessage());
            }
        }
        if (!sd.isEmpty()) {
            body.set("sd", sd);
        }
        return run(body, image, jobMask, true, uri, request);
    }

    /**
     * OpenAI's mask (a PNG of the image's size whose fully transparent pixels mark what is edited) as a job's mask:
     * white where its alpha is 0, black elsewhere.
     */
    static byte[] jobMask(byte[] image, byte[] mask) {
        Png.Image m;
        byte[][] alpha = new byte[1][];
        try {
            m = Png.decodeWithAlpha(mask, alpha);
        } catch (RuntimeException e) {
            throw new InvalidRequestException("mask", "mask must be a PNG file: " + e.getMessage());
        }
        int[] size = Png.size(image);
        if (size != null && (size[0] != m.width() || size[1] != m.height())) {
            throw new InvalidRequestException("mask", "mask is " + m.width() + "x" + m.height() + " but the image is " + size[0]
                    + "x" + size[1] + "; they must be the same size");
        }
        boolean anyClear = false;
        for (int p = 0; alpha[0] != null && p < alpha[0].length && !anyClear; p++) {
            anyClear = alpha[0][p] == 0;
        }
        if (!anyClear) {
            throw new InvalidRequestException("mask", "mask has no fully transparent pixel (alpha 0, by its alpha channel or"
                    + " a tRNS chunk): those mark what is edited");
        }
        byte[] rgb = new byte[m.width() * m.height() * 3];
        for (int p = 0; p < alpha[0].length; p++) {
            rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = alpha[0][p] == 0 ? (byte) 255 : 0;
        }
        return Png.encodeRgb(m.width(), m.height(), rgb, Map.of());
    }

    /** application/json or a +json type, any parameters. */
    static boolean isJson(String contentType) {
        String base = contentType.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
        return base.equals("application/json") || (base.startsWith("application/") && base.endsWith("+json"));
    }

    private Response run(JsonNode body, byte[] initImage, boolean edit, UriInfo uri, HttpServerRequest request)
            throws InterruptedException {
        return run(body, initImage, null, edit, uri, request);
    }

    private Response run(JsonNode body, byte[] initImage, byte[] mask, boolean edit, UriInfo uri, HttpServerRequest request)
            throws InterruptedException {
        String responseFormat;
        HttpJobs.Tracked t;
        try {
            for (java.util.Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!FIELDS.contains(f) && !(edit && EDIT_FIELDS.contains(f))) {
                    throw new InvalidRequestException(f, "Unrecognized request argument supplied: " + f);
                }
            }
            JsonFields in = new JsonFields(body);
            responseFormat = in.string("response_format", "url");
            if (!responseFormat.equals("url") && !responseFormat.equals("b64_json")) {
                throw new InvalidRequestException("response_format", "response_format must be 'url' or 'b64_json', got '"
                        + responseFormat + "'");
            }
            GenerationJob job = job(in, initImage);
            if (mask != null) {
                JsonFields sd = new JsonFields(in.has("sd") ? in.node("sd") : JSON.createObjectNode(), "sd.");
                GenerationJob.Builder masked = job.toBuilder().setMask(ByteString.copyFrom(mask));
                if (sd.has("mask_blur")) {
                    masked.setMaskBlur(sd.int32("mask_blur", 0));
                }
                job = masked.build();
            } else if (in.has("sd") && in.node("sd").has("mask_blur")) {
                throw new InvalidRequestException("sd.mask_blur", "sd.mask_blur is for an edit with a mask");
            }
            t = jobs.submit(job);
        } catch (InvalidRequestException e) {
            return OpenAiErrors.invalid(param(e.field()), HttpErrors.inTermsOf(e.getMessage(), e.field(), param(e.field())));
        }
        Optional<JobEvent> end = jobs.awaitFinal(t, request.response());
        if (end.isEmpty()) {
            return noRetry(OpenAiErrors.error(504, "job " + t.id() + " did not finish within " + HttpJobs.WAIT.toMinutes()
                    + " minutes; it goes on", null, "timeout"));
        }
        JobEvent e = end.get();
        if (e.getType() == JobEvent.Type.FAILED) {
            return e.getFailed().getField().isEmpty()
                    ? noRetry(OpenAiErrors.error(500, e.getFailed().getReason(), null, "job_failed"))
                    : OpenAiErrors.invalid(param(e.getFailed().getField()), HttpErrors.inTermsOf(e.getFailed().getReason(),
                            e.getFailed().getField(), param(e.getFailed().getField())));
        }
        if (e.getType() == JobEvent.Type.CANCELLED) {
            return noRetry(OpenAiErrors.error(409, "job " + t.id() + " was cancelled", null, "job_cancelled"));
        }
        List<Map<String, Object>> data = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        for (GeneratedImage image : e.getCompleted().getImagesList()) {
            Map<String, Object> d = new LinkedHashMap<>();
            if (responseFormat.equals("b64_json")) {
                d.put("b64_json", Base64.getEncoder().encodeToString(image.getPng().toByteArray()));
            } else {
                d.put("url", fileUrl(uri, t.id(), image.getIndex()));
            }
            d.put("revised_prompt", t.job.getPrompt());
            data.add(d);
            seeds.add(image.getSeed());
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("created", System.currentTimeMillis() / 1000);
        out.put("data", data);
        out.put("output_format", "png");
        out.put("sd", Map.of("job_id", t.id(), "seeds", seeds,
                "parameters", e.getCompleted().getImagesCount() > 0 ? e.getCompleted().getImages(0).getParameters() : ""));
        return Response.ok(out).build();
    }

    /** An image's URL; with an API token set, signed ({@link ApiTokenFilter#signature}) so that it needs no key. */
    private String fileUrl(UriInfo uri, String id, int index) {
        jakarta.ws.rs.core.UriBuilder b = uri.getBaseUriBuilder().path("v1/images/files/{id}/{index}.png");
        Optional<String> token = jobs.submission().orchestrator().config().api().token().filter(x -> !x.isBlank());
        if (token.isPresent()) {
            b.queryParam("sig", ApiTokenFilter.signature(token.get(), "/v1/images/files/" + id + "/" + index + ".png"));
        }
        return b.build(id, index).toString();
    }

    /** The request parameter a job field comes from. */
    private static String param(String jobField) {
        return switch (jobField == null ? "" : jobField) {
            case "width", "height" -> "size";
            case "batch_count" -> "n";
            case "init_image" -> "image";
            case "loras" -> "prompt"; // LoRAs are named by <lora:...> tags in the prompt
            case "negative_prompt", "seed", "steps", "sampler", "scheduler", "cfg_scale", "clip_skip", "rng", "strength",
                 "comma_padding_backtrack", "pad_cond_uncond", "mask_blur" -> "sd." + jobField;
            case "" -> null;
            default -> jobField;
        };
    }

    /** The openai clients retry 408, 409, 429 and 5xx unless told not to: a retry would run the job again. */
    private static Response noRetry(Response r) {
        return Response.fromResponse(r).header("x-should-retry", "false").build();
    }

    /** The request's fields as a job; throws {@link InvalidRequestException} naming the field. */
    GenerationJob job(JsonFields in, byte[] initImage) {
        if (!in.has("prompt") || in.string("prompt", "").isBlank()) {
            throw new InvalidRequestException("prompt", "prompt is required");
        }
        GenerationJob.Builder b = GenerationJob.newBuilder().setPrompt(in.string("prompt", ""));
        String model = in.string("model", "");
        if (!model.isEmpty() && !model.equals(jobs.model().name())) {
            throw new InvalidRequestException("model", "model '" + model + "' is not served here; GET /v1/models lists '"
                    + jobs.model().name() + "'");
        }
        long n = in.integer("n", 1);
        if (n < 1 || n > MAX_N) {
            throw new InvalidRequestException("n", "n must be between 1 and " + MAX_N + ", got " + n);
        }
        b.setBatchCount((int) n);
        String size = in.string("size", "auto");
        if (!size.equals("auto")) {
            int[] wh = JsonFields.size("size", size);
            b.setWidth(wh[0]).setHeight(wh[1]);
        }
        String quality = in.string("quality", "auto");
        if (!Set.of("auto", "standard").contains(quality)) {
            throw new InvalidRequestException("quality", "quality '" + quality + "' is not supported: 'standard' or 'auto' (set sd.steps instead)");
        }
        if (in.has("style")) {
            throw new InvalidRequestException("style", "style is not supported (DALL-E 3 only)");
        }
        String outputFormat = in.string("output_format", "png");
        if (!outputFormat.equals("png")) {
            throw new InvalidRequestException("output_format", "output_format must be 'png', got '" + outputFormat + "'");
        }
        if (in.has("output_compression")) {
            throw new InvalidRequestException("output_compression", "output_compression is not supported (PNG only)");
        }
        String background = in.string("background", "auto");
        if (!Set.of("auto", "opaque").contains(background)) {
            throw new InvalidRequestException("background", "background '" + background + "' is not supported: 'auto' or 'opaque'");
        }
        in.string("moderation", "auto"); // no moderation here: both values mean the same
        in.string("user", "");
        if (in.has("input_fidelity")) {
            throw new InvalidRequestException("input_fidelity", "input_fidelity is not supported (set sd.strength)");
        }
        if (in.has("sd")) {
            if (!in.node("sd").isObject()) {
                throw new InvalidRequestException("sd", "sd must be an object of our settings: " + SD_FIELDS);
            }
            JsonFields sd = new JsonFields(in.node("sd"), "sd.");
            for (java.util.Iterator<String> it = in.node("sd").fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!SD_FIELDS.contains(f)) {
                    throw new InvalidRequestException("sd." + f, "sd." + f + " is not a setting here; sd takes " + SD_FIELDS);
                }
            }
            b.setNegativePrompt(sd.string("negative_prompt", ""));
            if (sd.has("seed")) {
                b.setSeed(sd.integer("seed", -1));
            }
            int steps = sd.int32("steps", 0);
            if (sd.has("steps") && steps < 1) { // proto3's 0 would mean "the default" further on
                throw new InvalidRequestException("sd.steps", "sd.steps must be between 1 and "
                        + dev.diffusion.core.pipeline.GenerationRequest.MAX_STEPS + ", got " + steps);
            }
            b.setSteps(steps);
            b.setSampler(sd.string("sampler", ""));
            b.setScheduler(sd.string("scheduler", ""));
            if (sd.has("cfg_scale")) {
                b.setCfgScale((float) sd.number("cfg_scale", 7));
            }
            int clipSkip = sd.int32("clip_skip", 0);
            if (sd.has("clip_skip") && clipSkip < 1) {
                throw new InvalidRequestException("sd.clip_skip", "sd.clip_skip must be at least 1, got " + clipSkip);
            }
            b.setClipSkip(clipSkip);
            b.setCommaPaddingBacktrack(sd.int32("comma_padding_backtrack", 0));
            b.setPadCondUncond(sd.bool("pad_cond_uncond", false));
            b.setRng(sd.string("rng", ""));
            if (sd.has("strength") && initImage == null) {
                throw new InvalidRequestException("sd.strength", "sd.strength is for /v1/images/edits (img2img): a"
                        + " generation starts from pure noise");
            }
            if (sd.has("strength")) {
                b.setStrength((float) sd.number("strength", 0.75));
            }
        }
        if (initImage != null) {
            b.setInitImage(ByteString.copyFrom(initImage));
        }
        return b.build();
    }

    @GET
    @Path("/images/files/{id}/{index}.png")
    @Produces("image/png")
    public Response file(@PathParam("id") String id, @PathParam("index") int index) {
        Optional<JobStatus> status = jobs.submission().orchestrator().store().status(id);
        if (status.isEmpty() || index < 0 || index >= status.get().getImagesCount()
                || status.get().getImages(index).getPng().isEmpty()) {
            return OpenAiErrors.error(404, "no image " + index + " of job '" + id + "'", null, "not_found");
        }
        return Response.ok(status.get().getImages(index).getPng().toByteArray(), "image/png").build();
    }

    @GET
    @Path("/models")
    public Map<String, Object> models() {
        return Map.of("object", "list", "data", List.of(model()));
    }

    @GET
    @Path("/models/{id}")
    public Response model(@PathParam("id") String id) {
        if (!id.equals(jobs.model().name())) {
            return OpenAiErrors.error(404, "The model '" + id + "' does not exist", "model", "model_not_found");
        }
        return Response.ok(model()).build();
    }

    private Map<String, Object> model() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", jobs.model().name());
        m.put("object", "model");
        m.put("created", 0);
        m.put("owned_by", "diffusion");
        return m;
    }
}
