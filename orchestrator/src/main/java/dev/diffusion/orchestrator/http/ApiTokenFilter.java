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
 * guarded: the page's static files. {@code /v1/images/files/...} takes the token or the {@code sig} its URL carries
 * (an HMAC of the path under the token, {@link #signature}), as OpenAI's image URLs are signed links that need no key:
 * a job id alone (which a client may have chosen) opens nothing.
 */
public class ApiTokenFilter {
    @Inject
    Orchestrator orchestrator; // a client proxy: the configuration is read per request, not when REST is set up

    @ServerRequestFilter(preMatching = true)
    public Optional<Response> check(ContainerRequestContext request) {
        Optional<String> token = orchestrator.config().api().token().filter(t -> !t.isBlank());
        String path = request.getUriInfo().getPath();
        if (token.isEmpty()) {
            return Optional.empty();
        }
        String sent = request.getHeaderString("Authorization");
        boolean file = path.startsWith("/v1/images/files/");
        String sig = file ? request.getUriInfo().getQueryParameters().getFirst("sig") : null;
        String why;
        if (file && sig != null && MessageDigest.isEqual(sig.getBytes(StandardCharsets.UTF_8),
                signature(token.get(), path).getBytes(StandardCharsets.UTF_8))) {
            return Optional.empty();
        } else if (sent == null || !sent.regionMatches(true, 0, "Bearer ", 0, 7)) {
            why = file ? "an image URL needs its 'sig' (as the generation answered it) or 'Authorization: Bearer <token>'"
                    : "this API needs 'Authorization: Bearer <token>'";
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

    /** An image path's signature under the token: HMAC-SHA256, base64url without padding. */
    static String signature(String token, String path) {
        try {
            javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
            mac.init(new javax.crypto.spec.SecretKeySpec(token.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(mac.doFinal(path.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
