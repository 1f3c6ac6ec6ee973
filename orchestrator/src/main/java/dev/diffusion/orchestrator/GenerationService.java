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
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The public API. Every job goes through the jobs topic, also those of Generate, so that all of them get the same
 * delivery guarantees and run wherever a partition's consumer is; events are read back from the events topic.
 */
@GrpcService
public class GenerationService extends GenerationGrpc.GenerationImplBase {
    @Inject
    Orchestrator orchestrator;

    @Inject
    JobSubmission submission;

    /** Assigns an id and a seed where the job has none and validates it: INVALID_ARGUMENT names the field. */
    private GenerationJob accept(GenerationJob request) {
        try {
            return submission.accept(request);
        } catch (InvalidRequestException e) {
            throw Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException();
        }
    }

    @Override
    @Blocking
    public void submit(GenerationJob request, StreamObserver<SubmitResponse> out) {
        try {
            GenerationJob job = accept(request);
            submission.enqueue(job);
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
            submission.enqueue(job);
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
            submission.cancel(id);
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
