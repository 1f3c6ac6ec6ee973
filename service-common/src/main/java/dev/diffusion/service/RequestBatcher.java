package dev.diffusion.service;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Merges concurrent calls into one network run (cross-job batching). Calls whose inputs can share a run carry equal
 * keys (e.g. the U-Net's latent height, width and context length); a run takes calls of one key only, in arrival
 * order, up to {@code maxSamples} samples.
 *
 * <p>{@code workers} runs (the service's concurrent computations) go at once. A run takes the oldest waiting call, then
 * gathers more of its key for up to {@code maxWaitNanos} — but only while fewer calls are gathered than the previous
 * run of that key held. A lone caller therefore never waits (its previous run held one call), while callers that
 * step in lockstep (jobs of an orchestrator: their next calls arrive within a millisecond or two of each other after
 * a run) are gathered again. A call whose deadline passed, or whose caller cancelled, while it waited is dropped
 * without computing.
 *
 * <p>A call is never split: one with more samples than {@code maxSamples} runs alone. With merging off ({@code maxSamples <= 0}) every call runs alone, so results are bit-exact with unbatched
 * calls; merged runs differ by float rounding only (kernels block their loops by batch size).
 *
 * <p>Metrics (tag {@code service}): {@code diffusion_queued_samples} (gauge: samples waiting or computing now — the
 * per-pod autoscaling signal), {@code diffusion_run_samples} and {@code diffusion_run_calls} (per network run), and
 * {@code diffusion_batch_wait_seconds} (from arrival to the start of the call's run), {@code diffusion_run_seconds}
 * (a run's compute, inputs merged and outputs split included: what a caller's latency minus this costs is the call's
 * overhead).
 */
public final class RequestBatcher<K, I, O> implements AutoCloseable {
    /** One network run over the inputs of one key, in order; returns one output per input. */
    @FunctionalInterface
    public interface Runner<K, I, O> {
        List<O> run(K key, List<I> inputs);
    }

    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(RequestBatcher.class);

    private final Runner<K, I, O> runner;
    private final int maxSamples;
    private final java.util.function.ToIntFunction<K> keyMaxSamples;
    private final long maxWaitNanos;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    private final ArrayDeque<Pending<K, I, O>> queue = new ArrayDeque<>();
    private final Map<K, Integer> previousRunCalls = new HashMap<>();
    private final AtomicInteger queuedSamples = new AtomicInteger();
    private int freeSlots;
    private final DistributionSummary runSamples;
    private final DistributionSummary runCalls;
    private final Timer waitTimer;
    private final Timer runTimer;
    private volatile boolean closed;

    private record Pending<K, I, O>(K key, I input, int samples, Deadline deadline, Context context, long arrivedNanos,
                                    CompletableFuture<O> result) {
        boolean abandoned() {
            return (deadline != null && deadline.isExpired()) || (context != null && context.isCancelled());
        }
    }

    /**
     * @param service      metric tag
     * @param workers      network runs at once
     * @param maxSamples   most samples one run takes (0 or less: never merge calls)
     * @param maxWaitNanos longest a run waits for more calls of its key
     */
    public RequestBatcher(String service, MeterRegistry registry, int workers, int maxSamples, long maxWaitNanos,
                          Runner<K, I, O> runner) {
        this(service, registry, workers, maxSamples, key -> Integer.MAX_VALUE, maxWaitNanos, runner);
    }

    /**
     * @param keyMaxSamples most samples one run of a key takes, below {@code maxSamples} (the U-Net: what its memory
     *                      budget allows at that latent size); a first call above it still runs, alone
     */
    public RequestBatcher(String service, MeterRegistry registry, int workers, int maxSamples,
                          java.util.function.ToIntFunction<K> keyMaxSamples, long maxWaitNanos, Runner<K, I, O> runner) {
        if (workers < 1) {
            throw new IllegalArgumentException("workers must be >= 1, got " + workers);
        }
        if (maxWaitNanos < 0) {
            throw new IllegalArgumentException("max wait must be >= 0, got " + maxWaitNanos);
        }
        this.runner = Objects.requireNonNull(runner);
        this.maxSamples = maxSamples;
        this.keyMaxSamples = Objects.requireNonNull(keyMaxSamples);
        this.maxWaitNanos = maxWaitNanos;
        Gauge.builder("diffusion.queued.samples", queuedSamples, AtomicInteger::get)
                .description("samples waiting for or in a network run now").tag("service", service).register(registry);
        runSamples = DistributionSummary.builder("diffusion.run.samples").description("samples per network run")
                .tag("service", service).publishPercentileHistogram().minimumExpectedValue(1.0).maximumExpectedValue(64.0)
                .register(registry);
        runCalls = DistributionSummary.builder("diffusion.run.calls").description("calls merged into one network run")
                .tag("service", service).publishPercentileHistogram().minimumExpectedValue(1.0).maximumExpectedValue(64.0)
                .register(registry);
        runTimer = Timer.builder("diffusion.run").description("one network run, from its start to its outputs split")
                .tag("service", service).publishPercentileHistogram().register(registry);
        waitTimer = Timer.builder("diffusion.batch.wait").description("from a call's arrival to the start of its run")
                .tag("service", service).publishPercentileHistogram().register(registry);
        this.freeSlots = workers;
    }

    /** Whether calls are merged at all (false: every call runs alone, bit-exact with an unbatched service). */
    public boolean merging() {
        return maxSamples > 0;
    }

    /**
     * Queues one call and blocks until its run is done. There are no batcher threads: a caller that finds a free run
     * slot runs the oldest waiting calls itself (its own among them, or not when its key differs) and hands each
     * merged caller its output, so a lone call costs no thread hand-off. The caller's gRPC deadline and cancellation
     * are honoured while it waits: {@code DEADLINE_EXCEEDED} / {@code CANCELLED} without computing.
     */
    public O submit(K key, I input, int samples) {
        Context context = Context.current();
        Deadline deadline = context.getDeadline();
        Pending<K, I, O> mine = new Pending<>(key, input, samples, deadline, context, System.nanoTime(), new CompletableFuture<>());
        lock.lock();
        try {
            if (closed) {
                throw Status.UNAVAILABLE.withDescription("the service is shutting down").asRuntimeException();
            }
            queue.addLast(mine);
            queuedSamples.addAndGet(samples);
            arrived.signalAll();
            while (!mine.result.isDone()) {
                if (freeSlots > 0 && !queue.isEmpty()) {
                    freeSlots--;
                    List<Pending<K, I, O>> run;
                    try {
                        run = gather();
                    } catch (InterruptedException e) {
                        freeSlots++;
                        arrived.signalAll();
                        if (queue.remove(mine)) {
                            queuedSamples.addAndGet(-mine.samples);
                        }
                        Thread.currentThread().interrupt();
                        throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
                    }
                    lock.unlock();
                    try {
                        execute(run);
                    } finally {
                        lock.lock();
                        freeSlots++;
                        arrived.signalAll(); // wakes the callers whose outputs are ready, and one to lead the next run
                    }
                    continue;
                }
                if (mine.abandoned() && queue.remove(mine)) {
                    drop(mine);
                    break;
                }
                try {
                    long wait = TimeUnit.SECONDS.toNanos(1); // a cancelled caller is noticed within a second
                    if (deadline != null) {
                        wait = Math.max(1, Math.min(wait, deadline.timeRemaining(TimeUnit.NANOSECONDS) + 1_000_000));
                    }
                    arrived.awaitNanos(wait);
                } catch (InterruptedException e) {
                    if (queue.remove(mine)) {
                        queuedSamples.addAndGet(-mine.samples);
                    }
                    Thread.currentThread().interrupt();
                    throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
                }
            }
        } finally {
            lock.unlock();
        }
        try {
            return mine.result.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(cause);
        }
    }

    /**
     * The next run, with the lock held: the oldest live call and those of its key that join it, waiting up to the
     * max wait (the lock released meanwhile) while fewer calls than the key's previous run held are gathered. Empty
     * when every waiting call was abandoned.
     */
    private List<Pending<K, I, O>> gather() throws InterruptedException {
        List<Pending<K, I, O>> run = new ArrayList<>();
        Pending<K, I, O> first = null;
        while (first == null) {
            first = queue.pollFirst();
            if (first == null) {
                return run;
            }
            if (first.abandoned()) {
                drop(first);
                first = null;
            }
        }
        run.add(first);
        if (maxSamples <= 0) {
            return run;
        }
        int samples = first.samples;
        int limit = Math.min(maxSamples, keyMaxSamples.applyAsInt(first.key));
        int expected = previousRunCalls.getOrDefault(first.key, 1);
        long waitUntil = System.nanoTime() + maxWaitNanos;
        while (true) {
            for (Iterator<Pending<K, I, O>> it = queue.iterator(); it.hasNext() && samples < limit; ) {
                Pending<K, I, O> p = it.next();
                if (!p.key.equals(first.key) || samples + p.samples > limit) {
                    continue;
                }
                it.remove();
                if (p.abandoned()) {
                    drop(p);
                    continue;
                }
                run.add(p);
                samples += p.samples;
            }
            long left = waitUntil - System.nanoTime();
            if (run.size() >= expected || samples >= limit || left <= 0 || closed) {
                break;
            }
            arrived.awaitNanos(left);
        }
        previousRunCalls.put(first.key, run.size());
        return run;
    }

    private void drop(Pending<K, I, O> p) {
        queuedSamples.addAndGet(-p.samples);
        Status status = p.context != null && p.context.isCancelled() && (p.deadline == null || !p.deadline.isExpired())
                ? Status.CANCELLED.withDescription("the caller cancelled the call while it waited for its run")
                : Status.DEADLINE_EXCEEDED.withDescription("the caller's deadline passed while the call waited for its run");
        p.result.completeExceptionally(status.asRuntimeException());
    }

    private void execute(List<Pending<K, I, O>> run) {
        if (run.isEmpty()) {
            return;
        }
        long start = System.nanoTime();
        int samples = 0;
        List<I> inputs = new ArrayList<>(run.size());
        for (Pending<K, I, O> p : run) {
            waitTimer.record(start - p.arrivedNanos, TimeUnit.NANOSECONDS);
            samples += p.samples;
            inputs.add(p.input);
        }
        runSamples.record(samples);
        runCalls.record(run.size());
        try {
            List<O> outputs = runner.run(run.get(0).key, inputs);
            if (outputs.size() != run.size()) {
                throw new IllegalStateException("a run returned " + outputs.size() + " outputs for " + run.size() + " calls");
            }
            runTimer.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
            for (int i = 0; i < run.size(); i++) {
                run.get(i).result.complete(outputs.get(i));
            }
        } catch (Throwable t) {
            if (run.size() > 1) {
                LOG.warnf("a run of %d merged calls failed: %s", run.size(), t.toString());
            }
            for (Pending<K, I, O> p : run) {
                p.result.completeExceptionally(t);
            }
        } finally {
            queuedSamples.addAndGet(-samples);
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            for (Pending<K, I, O> p : queue) {
                p.result.completeExceptionally(Status.UNAVAILABLE.withDescription("the service is shutting down").asRuntimeException());
            }
            queue.clear();
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
