package dev.diffusion.orchestrator;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * With {@code diffusion.api.token} set, every gRPC call but the health service must carry
 * {@code authorization: Bearer <token>}; others end with {@code UNAUTHENTICATED} before any work. The comparison
 * takes the same time whatever the token sent.
 */
@GlobalInterceptor
@ApplicationScoped
public class ApiTokenInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Inject
    OrchestratorConfig config;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Optional<String> token = config.api().token().filter(t -> !t.isBlank());
        if (token.isEmpty() || call.getMethodDescriptor().getFullMethodName().startsWith("grpc.health.")) {
            return next.startCall(call, headers);
        }
        String sent = headers.get(AUTHORIZATION);
        if (sent == null || !sent.regionMatches(true, 0, "Bearer ", 0, 7)) {
            call.close(Status.UNAUTHENTICATED.withDescription("this API needs 'authorization: Bearer <token>'"), new Metadata());
            return new ServerCall.Listener<>() {};
        }
        if (!MessageDigest.isEqual(sent.substring(7).trim().getBytes(StandardCharsets.UTF_8),
                token.get().getBytes(StandardCharsets.UTF_8))) {
            call.close(Status.UNAUTHENTICATED.withDescription("wrong bearer token"), new Metadata());
            return new ServerCall.Listener<>() {};
        }
        return next.startCall(call, headers);
    }
}
