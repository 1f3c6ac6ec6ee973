package dev.diffusion.service;

import dev.diffusion.proto.GrpcErrors;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One unary call of a model service: check the input, wait for a compute slot, skip the work if the caller's
 * deadline has passed by then, compute, reply — with latency and batch-size metrics, and every exception mapped
 * to a status ({@link GrpcErrors#toStatus}). Compute slots bound how many network runs share the CPU/GPU at once;
 * the rest queue in arrival order.
 */
public final class ServiceCall {
    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(ServiceCall.class);

    private final CallMetrics metrics;
    private final Semaphore slots;
    private final int maxBatch;
    private final int concurrentComputations;

    public ServiceCall(CallMetrics metrics, int concurrentComputations) {
        this(metrics, concurrentComputations, 8);
    }

    public ServiceCall(CallMetrics metrics, int concurrentComputations, int maxBatch) {
        if (concurrentComputations < 1) {
            throw new IllegalArgumentException("concurrent computations must be >= 1, got " + concurrentComputations);
        }
        this.metrics = metrics;
        this.slots = new Semaphore(concurrentComputations, true);
        this.maxBatch = maxBatch;
        this.concurrentComputations = concurrentComputations;
    }

    /** Network runs at once ({@code diffusion.<part>.concurrent-computations}). */
    public int concurrentComputations() {
        return concurrentComputations;
    }

    /**
     * The calls of one model service, set by {@code diffusion.<part>.max-batch} (default 8: the most samples one call
     * takes) and {@code diffusion.<part>.concurrent-computations} (default 1), with metrics tagged {@code part}.
     */
    public static ServiceCall forPart(String part, io.micrometer.core.instrument.MeterRegistry registry) {
        org.eclipse.microprofile.config.Config config = org.eclipse.microprofile.config.ConfigProvider.getConfig();
        int maxBatch = config.getOptionalValue("diffusion." + part + ".max-batch", Integer.class).orElse(8);
        int concurrent = config.getOptionalValue("diffusion." + part + ".concurrent-computations", Integer.class).orElse(1);
        return new ServiceCall(new CallMetrics(registry, part), concurrent, maxBatch);
    }

    /** The most samples one call takes. */
    public int maxBatch() {
        return maxBatch;
    }

    /**
     * @param check   validates the request and returns the work (the batch size is read from it), throwing
     *                {@link IllegalArgumentException} for bad input
     */
    public <R> void unary(String method, StreamObserver<R> response, Supplier<Work<R>> check) {
        Deadline deadline = Context.current().getDeadline();
        if (LOG.isDebugEnabled()) {
            LOG.debugf("%s: deadline %s, trace %s", method, deadline,
                    io.opentelemetry.api.trace.Span.current().getSpanContext().getTraceId());
        }
        R reply;
        try {
            reply = metrics.time(method, () -> {
                GrpcErrors.checkDeadline(deadline);
                Work<R> work = check.get();
                if (work.batch() > 0) {
                    metrics.batch(method, work.batch());
                }
                return compute(deadline, work);
            });
        } catch (Throwable t) {
            response.onError(GrpcErrors.toStatus(t));
            return;
        }
        response.onNext(reply);
        response.onCompleted();
    }

    private <R> R compute(Deadline deadline, Work<R> work) {
        if (work.batch() == 0 || !work.slot()) {
            // no network run (Info: may run on the event loop), or work that queues itself for its run (RequestBatcher)
            return work.compute().get();
        }
        try {
            if (deadline == null) {
                slots.acquire();
            } else if (!slots.tryAcquire(Math.max(0, deadline.timeRemaining(TimeUnit.NANOSECONDS)), TimeUnit.NANOSECONDS)) {
                throw Status.DEADLINE_EXCEEDED.withDescription("the caller's deadline passed while the call waited for "
                        + "a compute slot").asRuntimeException();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
        try {
            GrpcErrors.checkDeadline(deadline);
            return work.compute().get();
        } finally {
            slots.release();
        }
    }

    /**
     * Checked work: its batch size (0: no network run, no compute slot), the computation, and whether it takes one of
     * this call's compute slots (false: it queues itself, in a {@link RequestBatcher} whose workers are the slots).
     */
    public record Work<R>(int batch, Supplier<R> compute, boolean slot) {
        public Work(int batch, Supplier<R> compute) {
            this(batch, compute, true);
        }

        /** A reply that runs no network (model info). */
        public static <R> Work<R> reply(Supplier<R> compute) {
            return new Work<>(0, compute);
        }

        /** Work of {@code batch} samples that waits for its network run in a {@link RequestBatcher}. */
        public static <R> Work<R> batched(int batch, Supplier<R> compute) {
            return new Work<>(batch, compute, false);
        }
    }
}
