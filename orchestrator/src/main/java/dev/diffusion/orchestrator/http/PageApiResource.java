package dev.diffusion.orchestrator.http;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.proto.v1.GeneratedImage;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import dev.diffusion.proto.v1.Progress;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the web page ({@code META-INF/resources/index.html}) calls: submit a job (a {@link GenerationJob} in the proto3
 * JSON mapping, as on Kafka), follow it (state, step, latent preview, then the images and their parameters), list the
 * recent HTTP jobs, cancel one. Errors are {@code {"error": message, "field": name}}.
 */
@Path("/api/jobs")
@Produces(MediaType.APPLICATION_JSON)
public class PageApiResource {
    @Inject
    HttpJobs jobs;

    @POST
    public Response submit(String text) throws InterruptedException {
        GenerationJob.Builder b = GenerationJob.newBuilder();
        try {
            JsonFormat.parser().merge(text == null ? "" : text, b);
        } catch (InvalidProtocolBufferException | RuntimeException e) {
            return unreadable(text);
        }
        try {
            if (!b.getJobId().isEmpty()) {
                dev.diffusion.orchestrator.Jobs.checkJobId(b.getJobId());
            }
            HttpJobs.Tracked t = jobs.submit(b.build()); // a job id given is kept; else one is chosen
            return Response.ok(Map.of("job_id", t.id())).build();
        } catch (InvalidRequestException e) {
            return error(400, e.getMessage(), e.field());
        }
    }

    /**
     * A body that is not a GenerationJob in proto3 JSON: which field is wrong (each is tried alone), in words rather
     * than the JSON reader's.
     */
    private static Response unreadable(String text) {
        com.fasterxml.jackson.databind.JsonNode node;
        try {
            node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(text == null ? "" : text);
        } catch (Exception e) {
            return error(400, "the body is not JSON: " + JsonFields.parseError(e), "");
        }
        if (node == null || !node.isObject()) {
            return error(400, "the body must be a JSON object of a job's fields (prompt, negativePrompt, width, ...)", "");
        }
        for (java.util.Iterator<Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> f = it.next();
            try {
                JsonFormat.parser().merge("{" + com.fasterxml.jackson.databind.node.TextNode.valueOf(f.getKey()) + ": "
                        + f.getValue() + "}", GenerationJob.newBuilder());
            } catch (InvalidProtocolBufferException | RuntimeException e) {
                boolean unknown = GenerationJob.getDescriptor().getFields().stream()
                        .noneMatch(d -> d.getJsonName().equals(f.getKey()) || d.getName().equals(f.getKey()));
                return error(400, unknown ? f.getKey() + " is not a field of a job" : f.getKey() + " has the wrong type for a"
                        + " job's " + f.getKey() + ": " + f.getValue(), f.getKey());
            }
        }
        return error(400, "the body is not a job", "");
    }

    @GET
    public List<Map<String, Object>> recent() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (HttpJobs.Tracked t : jobs.recent()) {
            out.add(summary(t));
        }
        return out;
    }

    @GET
    @Path("/{id}")
    public Response get(@PathParam("id") String id) {
        Optional<HttpJobs.Tracked> t = jobs.get(id);
        if (t.isEmpty()) {
            return error(404, "no job '" + id + "' submitted over HTTP here", "job_id");
        }
        Map<String, Object> out = summary(t.get());
        byte[] preview = t.get().preview();
        out.put("preview", preview == null ? null : Base64.getEncoder().encodeToString(preview));
        JobEvent last = t.get().lastEvent();
        if (last != null && last.getType() == JobEvent.Type.COMPLETED) {
            // the PNG bytes come from the store (read back from the events topic if they left its memory)
            Optional<JobStatus> status = jobs.submission().orchestrator().store().status(id);
            List<Map<String, Object>> images = new ArrayList<>();
            for (GeneratedImage i : status.map(JobStatus::getImagesList).orElse(List.of())) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("png", Base64.getEncoder().encodeToString(i.getPng().toByteArray()));
                m.put("seed", i.getSeed());
                m.put("parameters", i.getParameters());
                images.add(m);
            }
            out.put("images", images);
        }
        return Response.ok(out).build();
    }

    @POST
    @Path("/{id}/cancel")
    public Response cancel(@PathParam("id") String id) throws InterruptedException {
        if (!jobs.cancel(id)) {
            return error(404, "no job '" + id + "'", "job_id");
        }
        return Response.ok(Map.of("job_id", id)).build();
    }

    private static Map<String, Object> summary(HttpJobs.Tracked t) {
        Map<String, Object> m = new LinkedHashMap<>();
        JobEvent last = t.lastEvent();
        Progress p = t.lastProgress();
        m.put("job_id", t.id());
        m.put("prompt", t.job.getPrompt());
        m.put("state", last == null ? "QUEUED" : switch (last.getType()) {
            case STARTED, PROGRESS -> "RUNNING";
            default -> last.getType().name();
        });
        m.put("progress", t.fraction());
        m.put("step", p == null ? 0 : p.getStep());
        m.put("total_steps", p == null ? t.job.getSteps() : p.getTotalSteps());
        m.put("image_index", p == null ? 0 : p.getImageIndex());
        m.put("image_count", t.job.getBatchCount());
        m.put("seed", t.job.getSeed());
        m.put("submitted_millis", t.submittedMillis);
        if (last != null && last.hasFailed()) {
            m.put("reason", last.getFailed().getReason());
        }
        return m;
    }

    private static Response error(int status, String message, String field) {
        return Response.status(status).entity(Map.of("error", message, "field", field)).type(MediaType.APPLICATION_JSON).build();
    }
}
