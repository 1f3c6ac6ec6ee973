package dev.diffusion.orchestrator.http;

import dev.diffusion.orchestrator.Orchestrator;
import jakarta.inject.Inject;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Response;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * The HTTP APIs honour {@code diffusion.api.token} as the gRPC API does ({@code ApiTokenInterceptor}): with it set,
 * every request must carry {@code Authorization: Bearer <token>}, else 401 in the error shape of the API asked. Not
 * guarded: the page's static files and {@code /v1/images/files/...} (an image's random UUID path is its capability, as
 * OpenAI's image URLs are signed links that need no key).
 */
public class ApiTokenFilter {
    @Inject
    Orchestrator orchestrator; // a client proxy: the configuration is read per request, not when REST is set up

    @ServerRequestFilter(preMatching = true)
    public Optional<Response> check(ContainerRequestContext request) {
        Optional<String> token = orchestrator.config().api().token().filter(t -> !t.isBlank());
        String path = request.getUriInfo().getPath();
        if (token.isEmpty() || path.startsWith("/v1/images/files/")) {
            return Optional.empty();
        }
        String sent = request.getHeaderString("Authorization");
        String why;
        if (sent == null || !sent.regionMatches(true, 0, "Bearer ", 0, 7)) {
            why = "this API needs 'Authorization: Bearer <token>'";
        } else if (!MessageDigest.isEqual(sent.substring(7).trim().getBytes(StandardCharsets.UTF_8),
                token.get().getBytes(StandardCharsets.UTF_8))) {
            why = "wrong bearer token";
        } else {
            return Optional.empty();
        }
        if (path.startsWith("/v1/")) {
            return Optional.of(OpenAiErrors.error(401, why, null, "invalid_api_key"));
        }
        return Optional.of(Response.status(401).header("WWW-Authenticate", "Bearer")
                .entity(java.util.Map.of("detail", why)).type("application/json").build());
    }
}
