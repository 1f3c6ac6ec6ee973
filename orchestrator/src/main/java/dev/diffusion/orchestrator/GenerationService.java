package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.InvalidRequestException;

import dev.diffusion.proto.v1.CancelRequest;
import dev.diffusion.proto.v1.CancelResponse;
import dev.diffusion.proto.v1.GenerateRequest;
import dev.diffusion.proto.v1.GenerationGrpc;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.GetRequest;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import dev.diffusion.proto.v1.SubmitResponse;
import dev.diffusion.proto.v1.WatchRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/**
 * The public API. Every job goes through the jobs topic, also those of Generate, so that all of them get the same
 * delivery guarantees and run wherever a partition's consumer is; events are read back from the events topic.
 */
@GrpcService
public class GenerationService extends GenerationGrpc.GenerationImplBase {
    private static final Duration READ_BACK = Duration.ofSeconds(30);

    @Inject
    Orchestrator orchestrator;

    /** Assigns an id and a seed where the job has none and validates it: INVALID_ARGUMENT names the field. */
    private GenerationJob accept(GenerationJob request) {
        GenerationJob.Builder b = request.toBuilder();
        if (b.getJobId().isEmpty()) {
            b.setJobId(UUID.randomUUID().toString());
        }
        if (!b.hasSeed() || b.getSeed() == -1) {
            b.setSeed(ThreadLocalRandom.current().nextLong(1L << 32));
        }
        if (b.getSubmittedAtMillis() == 0) {
            b.setSubmittedAtMillis(System.currentTimeMillis());
        }
        GenerationJob job = Jobs.withDefaults(b.build(), b.getJobId(), orchestrator.model().nativeImageSize());
        try {
            Jobs.toRequest(job, orchestrator.model(), orchestrator.config().jobs().maxPromptChars());
        } catch (InvalidRequestException e) {
            throw Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException();
        }
        return job;
    }

    private void enqueue(GenerationJob job) throws InterruptedException {
        EventPublisher.TopicPartitionOffset at = orchestrator.publisher().submit(job);
        // read-your-writes: once this returns, Get/Watch on this orchestrator know the job
        orchestrator.store().awaitRead(at.partition(), at.offset(), READ_BACK);
    }

    @Override
    @Blocking
    public void submit(GenerationJob request, StreamObserver<SubmitResponse> out) {
        try {
            GenerationJob job = accept(request);
            if (!orchestrator.store().knows(job.getJobId())) {
                enqueue(job);
            }
            out.onNext(SubmitResponse.newBuilder().setJobId(job.getJobId()).build());
            out.onCompleted();
        } catch (Exception e) {
            out.onError(status(e));
        }
    }

    @Override
    @Blocking
    public void generate(GenerateRequest request, StreamObserver<JobEvent> out) {
        try {
            GenerationJob job = accept(request.getJob());
            // enqueued first: a failed enqueue leaves no store entry behind that a retry would take for the job
            if (!orchestrator.store().knows(job.getJobId())) {
                enqueue(job);
            }
            stream(job.getJobId(), (ServerCallStreamObserver<JobEvent>) out, true);
        } catch (Exception e) {
            out.onError(status(e));
        }
    }

    @Override
    @Blocking
    public void watch(WatchRequest request, StreamObserver<JobEvent> out) {
        if (!orchestrator.store().knows(request.getJobId())) {
            out.onError(notFound(request.getJobId()));
            return;
        }
        stream(request.getJobId(), (ServerCallStreamObserver<JobEvent>) out, false);
    }

    /** Sends the latest event so far, then each new one; completes after the final event. */
    private void stream(String jobId, ServerCallStreamObserver<JobEvent> out, boolean cancelJobOnHangUp) {
        Object lock = new Object();
        Consumer<JobEvent> listener = new Consumer<>() {
            private boolean closed;

            @Override
            public void accept(JobEvent event) {
                synchronized (lock) {
                    if (closed || out.isCancelled()) {
                        return;
                    }
                    out.onNext(event);
                    if (JobRunner.isFinal(event.getType())) {
                        closed = true;
                        out.onCompleted();
                    }
                }
            }
        };
        out.setOnCancelHandler(() -> {
            orchestrator.store().unwatch(jobId, listener);
            if (cancelJobOnHangUp && !orchestrator.store().hasFinalEvent(jobId)) {
                orchestrator.publisher().cancel(jobId);
            }
        });
        synchronized (lock) {
            Optional<JobEvent> last = orchestrator.store().watch(jobId, listener, true);
            last.ifPresent(listener);
        }
    }

    @Override
    @Blocking
    public void cancel(CancelRequest request, StreamObserver<CancelResponse> out) {
        try {
            String id = request.getJobId();
            JobStore store = orchestrator.store();
            if (!store.knows(id)) {
                throw notFound(id);
            }
            if (!store.hasFinalEvent(id)) {
                EventPublisher.TopicPartitionOffset at = orchestrator.publisher().cancel(id);
                store.awaitRead(at.partition(), at.offset(), READ_BACK);
            }
            JobStatus.State state = store.status(id).map(JobStatus::getState).orElse(JobStatus.State.STATE_UNSPECIFIED);
            out.onNext(CancelResponse.newBuilder().setJobId(id).setState(state).build());
            out.onCompleted();
        } catch (Exception e) {
            out.onError(status(e));
        }
    }

    @Override
    @Blocking
    public void get(GetRequest request, StreamObserver<JobStatus> out) {
        Optional<JobStatus> status = orchestrator.store().status(request.getJobId());
        if (status.isEmpty()) {
            out.onError(notFound(request.getJobId()));
            return;
        }
        out.onNext(status.get());
        out.onCompleted();
    }

    private static StatusRuntimeException notFound(String id) {
        return Status.NOT_FOUND.withDescription("no job with id '" + id + "'").asRuntimeException();
    }

    private static Throwable status(Exception e) {
        if (e instanceof StatusRuntimeException) {
            return e;
        }
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
            return Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
        return Status.UNAVAILABLE.withDescription(e.getMessage()).withCause(e).asRuntimeException();
    }
}
