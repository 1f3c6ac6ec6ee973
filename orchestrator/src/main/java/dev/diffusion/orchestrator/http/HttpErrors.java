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
