package dev.diffusion.client;

import dev.diffusion.proto.v1.CancelRequest;
import dev.diffusion.proto.v1.CancelResponse;
import dev.diffusion.proto.v1.GenerationGrpc;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.GetRequest;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import dev.diffusion.proto.v1.WatchRequest;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Client of the orchestrator's public {@code diffusion.v1.Generation} API.
 *
 * <pre>{@code
 * try (DiffusionClient client = DiffusionClient.connect("127.0.0.1:8080")) {
 *     GenerationJob job = GenerationJob.newBuilder().setPrompt("a red fox").setSteps(20).setSeed(42).build();
 *     JobEvent done = client.generate(job, event -> System.err.println(event.getType()));
 *     byte[] png = done.getCompleted().getImages(0).getPng().toByteArray();
 * }
 * }</pre>
 *
 * Retries: Submit, Get and Cancel are idempotent (a submitted job carries an id chosen here, so a retried Submit is
 * the same job) and are retried by gRPC on {@code UNAVAILABLE} (4 attempts, 0.2 s to 2 s back-off), each call with
 * a deadline. A Watch stream that breaks with {@code UNAVAILABLE} is re-subscribed (the orchestrator replays the
 * latest event first; a repeat of the last event seen is dropped); once it had an event, for up to
 * {@link #RESUBSCRIBE_WINDOW} without one, so that a watch outlives an orchestrator's restart. Other errors surface as
 * {@link StatusRuntimeException}: {@code INVALID_ARGUMENT} (the message names the field), {@code NOT_FOUND}.
 */
public final class DiffusionClient implements AutoCloseable {
    public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(15);
    private static final String SERVICE = "diffusion.v1.Generation";

    private final String target;
    private final ManagedChannel channel;
    private final Duration deadline;
    private final int watchAttempts;
    /** How long {@link #watch} keeps re-subscribing without an event before it gives up. */
    static final Duration RESUBSCRIBE_WINDOW = Duration.ofSeconds(60);

    private DiffusionClient(String target, ManagedChannel channel, Duration deadline, int watchAttempts) {
        this.target = target;
        this.channel = channel;
        this.deadline = deadline;
        this.watchAttempts = watchAttempts;
    }

    /** Plaintext channel to {@code host:port} with the defaults above. */
    public static DiffusionClient connect(String target) {
        return connect(target, DEFAULT_DEADLINE, 5);
    }

    /**
     * @param deadline      deadline of each unary call (Submit, Get, Cancel)
     * @param watchAttempts how many times a Watch stream is (re)opened after {@code UNAVAILABLE} before giving up
     */
    public static DiffusionClient connect(String target, Duration deadline, int watchAttempts) {
        return connect(target, deadline, watchAttempts, null, null);
    }

    /**
     * @param trustCertificates a PEM file of the certificate(s) the orchestrator's TLS certificate is checked against;
     *                          null for plaintext
     * @param token             sent as {@code authorization: Bearer <token>} with every call; null for none
     */
    public static DiffusionClient connect(String target, Duration deadline, int watchAttempts, Path trustCertificates,
                                          String token) {
        ChannelCredentials credentials;
        try {
            credentials = trustCertificates == null ? InsecureChannelCredentials.create()
                    : TlsChannelCredentials.newBuilder().trustManager(trustCertificates.toFile()).build();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the TLS certificates " + trustCertificates, e);
        }
        ManagedChannelBuilder<?> builder = Grpc.newChannelBuilder(target, credentials)
                .maxInboundMessageSize(256 << 20)
                .defaultServiceConfig(serviceConfig())
                .enableRetry();
        if (token != null && !token.isBlank()) {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token.trim());
            builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        return new DiffusionClient(target, builder.build(), deadline, watchAttempts);
    }

    /** gRPC service config: retry the idempotent unary methods on UNAVAILABLE. Numbers must be doubles. */
    static Map<String, Object> serviceConfig() {
        Map<String, Object> retry = Map.of(
                "maxAttempts", 4.0,
                "initialBackoff", "0.2s",
                "maxBackoff", "2s",
                "backoffMultiplier", 2.0,
                "retryableStatusCodes", List.of("UNAVAILABLE"));
        List<Map<String, Object>> names = List.of(
                Map.of("service", SERVICE, "method", "Submit"),
                Map.of("service", SERVICE, "method", "Get"),
                Map.of("service", SERVICE, "method", "Cancel"));
        return Map.of("methodConfig", List.of(Map.of("name", names, "retryPolicy", retry)));
    }

    public String target() {
        return target;
    }

    private GenerationGrpc.GenerationBlockingStub unary() {
        return GenerationGrpc.newBlockingStub(channel).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The job with an id: its own, or a new random UUID (chosen here so that a retried submit stays one job). */
    public static GenerationJob withId(GenerationJob job) {
        GenerationJob.Builder b = job.toBuilder();
        if (job.getJobId().isEmpty()) {
            b.setJobId(UUID.randomUUID().toString());
        }
        if (job.getSubmittedAtMillis() == 0) {
            b.setSubmittedAtMillis(System.currentTimeMillis());
        }
        return b.build();
    }

    /** Queues the job; returns its id. Idempotent: the id is set before the first attempt. */
    public String submit(GenerationJob job) {
        return unary().submit(withId(job)).getJobId();
    }

    /** The job's state (with its images once COMPLETED). */
    public JobStatus get(String jobId) {
        return unary().get(GetRequest.newBuilder().setJobId(jobId).build());
    }

    /** Asks the job to stop; the state after the request. */
    public CancelResponse cancel(String jobId) {
        return unary().cancel(CancelRequest.newBuilder().setJobId(jobId).build());
    }

    /** Submits the job and watches it to its final event, which is returned (each event also goes to onEvent). */
    public JobEvent generate(GenerationJob job, Consumer<JobEvent> onEvent) {
        return watch(submit(job), onEvent);
    }

    /**
     * Streams the job's events to onEvent until the final one (COMPLETED, FAILED or CANCELLED), which is returned.
     * Re-subscribes when the stream breaks because the orchestrator went away (UNAVAILABLE, or CANCELLED by one shutting down).
     */
    public JobEvent watch(String jobId, Consumer<JobEvent> onEvent) {
        return watch(jobId, onEvent, null);
    }

    /**
     * As {@link #watch(String, Consumer)}, giving up after timeout (null: never) with {@code DEADLINE_EXCEEDED}; the
     * job itself goes on.
     */
    public JobEvent watch(String jobId, Consumer<JobEvent> onEvent, Duration timeout) {
        io.grpc.Deadline deadline = timeout == null ? null : io.grpc.Deadline.after(timeout.toMillis(), TimeUnit.MILLISECONDS);
        JobEvent last = null;
        StatusRuntimeException lastError = null;
        long backoff = 250;
        long progressAt = System.nanoTime();
        // gives up after watchAttempts tries in a row without an event; once events came, not before RESUBSCRIBE_WINDOW
        // without one: an orchestrator restarting (a crash, a rolling update) takes seconds to listen again
        for (int attempt = 1; attempt <= watchAttempts
                || (last != null && System.nanoTime() - progressAt < RESUBSCRIBE_WINDOW.toNanos()); attempt++) {
            try {
                GenerationGrpc.GenerationBlockingStub stub = GenerationGrpc.newBlockingStub(channel);
                if (deadline != null) {
                    stub = stub.withDeadline(deadline);
                }
                Iterator<JobEvent> it = stub.watch(WatchRequest.newBuilder().setJobId(jobId).build());
                while (it.hasNext()) {
                    JobEvent e = it.next();
                    if (e.equals(last)) {
                        continue; // the replay of the latest event after a re-subscribe
                    }
                    last = e;
                    attempt = 0; // progress was made: a later break starts counting afresh
                    backoff = 250;
                    progressAt = System.nanoTime();
                    onEvent.accept(e);
                    if (isFinal(e)) {
                        return e;
                    }
                }
                lastError = Status.UNAVAILABLE.withDescription("the event stream of " + jobId + " ended before its final event")
                        .asRuntimeException();
            } catch (StatusRuntimeException e) {
                // a server shutting down resets its streams (CANCELLED), one that died drops the connection (UNAVAILABLE)
                boolean serverGone = e.getStatus().getCode() == Status.Code.UNAVAILABLE
                        || (e.getStatus().getCode() == Status.Code.CANCELLED && !Thread.currentThread().isInterrupted());
                if (!serverGone) {
                    throw e;
                }
                lastError = e;
            }
            if (deadline != null && deadline.timeRemaining(TimeUnit.MILLISECONDS) < backoff) {
                break;
            }
            sleep(backoff);
            backoff = Math.min(backoff * 2, 4000);
            // the channel otherwise waits out its own reconnect back-off and fails the next try at once
            channel.resetConnectBackoff();
        }
        throw lastError;
    }

    public static boolean isFinal(JobEvent e) {
        return switch (e.getType()) {
            case COMPLETED, FAILED, CANCELLED -> true;
            default -> false;
        };
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
