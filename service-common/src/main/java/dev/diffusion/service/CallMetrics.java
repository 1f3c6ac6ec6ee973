package dev.diffusion.service;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Supplier;

/**
 * Per-method metrics of a model service: {@code diffusion.request} (latency histogram, tagged method and outcome,
 * Prometheus {@code diffusion_request_seconds_bucket}) and {@code diffusion.batch.size} (samples per call,
 * {@code diffusion_batch_size_bucket}).
 */
public final class CallMetrics {
    private final MeterRegistry registry;
    private final String service;
    private final ConcurrentMap<String, DistributionSummary> batches = new ConcurrentHashMap<>();

    public CallMetrics(MeterRegistry registry, String service) {
        this.registry = registry;
        this.service = service;
    }

    /** Runs {@code call}, timing it under {@code method} with outcome "ok" or the gRPC status it threw. */
    public <T> T time(String method, Supplier<T> call) {
        long t0 = System.nanoTime();
        String outcome = "ok";
        try {
            return call.get();
        } catch (RuntimeException | Error e) {
            outcome = dev.diffusion.proto.GrpcErrors.toStatus(e).getStatus().getCode().name();
            throw e;
        } finally {
            Timer.builder("diffusion.request").description("model service call latency, from arrival to reply")
                    .tag("service", service).tag("method", method).tag("outcome", outcome)
                    .publishPercentileHistogram().register(registry)
                    .record(System.nanoTime() - t0, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
    }

    public void batch(String method, int size) {
        batches.computeIfAbsent(method, m -> DistributionSummary.builder("diffusion.batch.size")
                .description("samples per call").baseUnit("samples").tag("service", service).tag("method", m)
                .publishPercentileHistogram().minimumExpectedValue(1.0).maximumExpectedValue(64.0)
                .register(registry)).record(size);
    }
}
