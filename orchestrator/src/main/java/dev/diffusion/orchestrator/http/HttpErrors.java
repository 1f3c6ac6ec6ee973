package dev.diffusion.orchestrator.http;

import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import jakarta.ws.rs.NotAcceptableException;
import jakarta.ws.rs.NotAllowedException;
import jakarta.ws.rs.NotFoundException;
import jakarta.ws.rs.NotSupportedException;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import java.util.Map;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/**
 * The HTTP errors no resource method writes (an unknown path, a method or media type a path does not take), in the
 * shape of the API asked: OpenAI's error object under {@code /v1/}, FastAPI's {@code {"detail": ...}} under
 * {@code /sdapi/} (what AUTOMATIC1111 answers), so that a client's error handling sees what it expects rather than
 * an HTML page.
 */
public class HttpErrors {
    @ServerExceptionMapper
    public Response notFound(NotFoundException e, UriInfo uri) {
        return shaped(uri.getPath(), 404, "Not Found", "no such endpoint: " + uri.getPath(), "not_found", e);
    }

    @ServerExceptionMapper
    public Response notAllowed(NotAllowedException e, ContainerRequestContext request) {
        String path = request.getUriInfo().getPath();
        return shaped(path, 405, "Method Not Allowed", path + " does not take " + request.getMethod(), "method_not_allowed", e);
    }

    @ServerExceptionMapper
    public Response unsupported(NotSupportedException e, UriInfo uri) {
        return shaped(uri.getPath(), 415, "Unsupported Media Type", uri.getPath() + " does not take this Content-Type"
                + " (JSON bodies: application/json; /v1/images/edits: multipart/form-data)", "unsupported_media_type", e);
    }

    @ServerExceptionMapper
    public Response notAcceptable(NotAcceptableException e, UriInfo uri) {
        return shaped(uri.getPath(), 406, "Not Acceptable", uri.getPath() + " cannot answer in the Accept header's types",
                "not_acceptable", e);
    }

    /**
     * Anything else that escapes a resource method or its body reader under {@code /v1/} or {@code /sdapi/} (a
     * malformed multipart body, a broker that cannot be written): the API's error shape, not a text page — 4xx as
     * the exception says, else 400 for a body that could not be read and 500 naming the failure.
     */
    @ServerExceptionMapper
    public Response other(Exception e, UriInfo uri) {
        String path = uri.getPath();
        int status;
        String message;
        if (e instanceof WebApplicationException w) {
            status = w.getResponse().getStatus();
            message = w.getMessage();
        } else if (unreadableBody(e)) {
            status = 400;
            message = "the request body could not be read: " + firstLine(e);
        } else {
            LOG.errorf(e, "%s failed", path);
            status = 500;
            message = "the server failed: " + firstLine(e);
        }
        if (path.startsWith("/v1/")) {
            return OpenAiErrors.error(status, message, null, status == 400 ? "invalid_request_error" : "server_error");
        }
        if (path.startsWith("/sdapi/")) {
            return Response.status(status).entity(Map.of("detail", message)).type("application/json").build();
        }
        return e instanceof WebApplicationException w ? w.getResponse()
                : Response.status(status).entity(message).type("text/plain").build();
    }

    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(HttpErrors.class);

    /** A failure while reading the request body (a multipart form, the connection) rather than while serving it. */
    private static boolean unreadableBody(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String name = t.getClass().getName();
            if (t instanceof java.io.IOException || name.toLowerCase(java.util.Locale.ROOT).contains("multipart")) {
                return true;
            }
        }
        return false;
    }

    private static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.lines().findFirst().orElse(m);
    }

    /**
     * A message that starts with the job's name of a field ("steps must be ...") in the API's own name of it
     * ("sd.steps must be ...", "batch_size must be ..."); any other message as it is.
     */
    static String inTermsOf(String message, String jobField, String apiField) {
        if (message == null || jobField == null || jobField.isEmpty() || apiField == null || apiField.equals(jobField)
                || !message.startsWith(jobField) || (message.length() > jobField.length()
                && (Character.isLetterOrDigit(message.charAt(jobField.length())) || message.charAt(jobField.length()) == '_'))) {
            return message;
        }
        return apiField + message.substring(jobField.length());
    }

    /**
     * A path under {@code /v1/} or {@code /sdapi/} that no resource class matches never reaches the mappers above:
     * REST hands it on to the static files, and then Vert.x would answer its own 404. This route, after every other,
     * answers it in the API's shape.
     */
    @Singleton
    static class UnmatchedPaths {
        void register(@Observes Router router) {
            router.routeWithRegex("/(v1|sdapi)/.*").order(Integer.MAX_VALUE - 1).handler(ctx -> {
                String path = ctx.normalizedPath();
                Map<String, Object> body = path.startsWith("/v1/")
                        ? OpenAiErrors.body(404, "no such endpoint: " + path, null, "not_found")
                        : Map.of("detail", "Not Found");
                ctx.response().setStatusCode(404).putHeader("Content-Type", "application/json")
                        .end(JsonObject.mapFrom(body).encode());
            });
        }
    }

    private static Response shaped(String path, int status, String reason, String message, String code,
                                   WebApplicationException e) {
        if (path.startsWith("/v1/")) {
            return OpenAiErrors.error(status, message, null, code);
        }
        if (path.startsWith("/sdapi/")) {
            return Response.status(status).entity(Map.of("detail", reason)).type("application/json").build();
        }
        return e.getResponse();
    }
}
