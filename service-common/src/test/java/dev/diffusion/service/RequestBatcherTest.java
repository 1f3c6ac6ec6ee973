package dev.diffusion.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RequestBatcherTest {
    /** A call: its key and how many samples it carries; the "network" answers each input with input * 10 + run number. */
    record Call(String key, int value, int samples) {
    }

    private final List<List<Call>> runs = Collections.synchronizedList(new ArrayList<>());
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ExecutorService callers = Executors.newCachedThreadPool();
    private RequestBatcher<String, Call, Integer> batcher;
    private volatile CountDownLatch gate = new CountDownLatch(0);

    private RequestBatcher<String, Call, Integer> batcher(int maxSamples, long maxWaitMillis) {
        return batcher(maxSamples, key -> Integer.MAX_VALUE, maxWaitMillis);
    }

    private RequestBatcher<String, Call, Integer> batcher(int maxSamples, java.util.function.ToIntFunction<String> keyMax,
                                                          long maxWaitMillis) {
        batcher = new RequestBatcher<>("test", registry, 1, maxSamples, keyMax, TimeUnit.MILLISECONDS.toNanos(maxWaitMillis),
                (key, inputs) -> {
                    try {
                        gate.await();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    for (Call c : inputs) {
                        if (!c.key().equals(key)) {
                            throw new AssertionError("a run of key " + key + " got a call of key " + c.key());
                        }
                        if (c.value() < 0) {
                            throw new IllegalArgumentException("negative input " + c.value());
                        }
                    }
                    runs.add(List.copyOf(inputs));
                    List<Integer> out = new ArrayList<>();
                    for (Call c : inputs) {
                        out.add(c.value() * 10 + runs.size());
                    }
                    return out;
                });
        return batcher;
    }

    @AfterEach
    void close() {
        gate.countDown();
        if (batcher != null) {
            batcher.close();
        }
        callers.shutdownNow();
    }

    private Future<Integer> submitAsync(Call c) {
        return callers.submit(() -> batcher.submit(c.key(), c, c.samples()));
    }

    /** Blocks the worker inside a first run, so that the calls sent meanwhile queue up together. */
    private Future<Integer> holdTheWorker() throws Exception {
        gate = new CountDownLatch(1);
        Future<Integer> first = submitAsync(new Call("a", 0, 1));
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (registry.get("diffusion.queued.samples").gauge().value() < 1 && System.nanoTime() < until) {
            Thread.sleep(1);
        }
        Thread.sleep(50); // the worker has taken it and waits on the gate
        return first;
    }

    private void awaitQueued(int samples) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (registry.get("diffusion.queued.samples").gauge().value() < samples && System.nanoTime() < until) {
            Thread.sleep(1);
        }
        assertEquals(samples, registry.get("diffusion.queued.samples").gauge().value(), "samples queued or running");
    }

    @Test
    void callsThatQueueTogetherRunAsOneAndEachGetsItsOwnOutput() throws Exception {
        batcher(16, 0);
        Future<Integer> first = holdTheWorker();
        List<Future<Integer>> f = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            f.add(submitAsync(new Call("a", i, 2)));
            awaitQueued(1 + 2 * i); // one after another: their arrival order is the test's
        }
        gate.countDown();
        assertEquals(1, first.get(5, TimeUnit.SECONDS)); // 0 * 10 + run 1
        for (int i = 1; i <= 4; i++) {
            assertEquals(i * 10 + 2, f.get(i - 1).get(5, TimeUnit.SECONDS), "call " + i + " got its own output of run 2");
        }
        assertEquals(2, runs.size());
        assertEquals(4, runs.get(1).size(), "the four queued calls ran as one");
        assertEquals(List.of(1, 2, 3, 4), runs.get(1).stream().map(Call::value).toList(), "in arrival order");
        assertEquals(0.0, registry.get("diffusion.queued.samples").gauge().value());
        assertEquals(9.0, registry.get("diffusion.run.samples").summary().totalAmount());
        assertEquals(2, registry.get("diffusion.run.calls").summary().count());
    }

    @Test
    void callsOfDifferentKeysNeverShareARunAndTheOldestGoesFirst() throws Exception {
        batcher(16, 0);
        // run 1 held "a"0; then b (oldest) with its b, then a's two, then c
        assertEquals(List.of(List.of(1, 3), List.of(2, 5), List.of(4)), runsAfterQueueing("b", "a", "b", "c", "a"));
    }

    /**
     * Holds the worker in a first run while one-sample calls of these keys (values 1, 2, ...) queue in this order,
     * then lets everything run: the values of each later run.
     */
    private List<List<Integer>> runsAfterQueueing(String... keys) throws Exception {
        Future<Integer> first = holdTheWorker();
        List<Future<Integer>> f = new ArrayList<>();
        for (int i = 0; i < keys.length; i++) {
            f.add(submitAsync(new Call(keys[i], i + 1, 1)));
            awaitQueued(2 + i);
        }
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (Future<Integer> x : f) {
            x.get(5, TimeUnit.SECONDS);
        }
        return runs.subList(1, runs.size()).stream().map(r -> r.stream().map(Call::value).toList()).toList();
    }

    @Test
    void aRunTakesAtMostMaxSamplesAndNeverSplitsACall() throws Exception {
        batcher(4, 0);
        Future<Integer> first = holdTheWorker();
        List<Future<Integer>> f = new ArrayList<>();
        int[] samples = {3, 2, 1, 6, 2};
        for (int i = 0; i < samples.length; i++) {
            f.add(submitAsync(new Call("a", i + 1, samples[i])));
            awaitQueued(1 + java.util.Arrays.stream(samples, 0, i + 1).sum());
        }
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (Future<Integer> x : f) {
            x.get(5, TimeUnit.SECONDS);
        }
        // 3+1 fill the first run (2 does not fit), then 2+2, then the 6 alone (above the limit, never split)
        assertEquals(List.of(List.of(1, 3), List.of(2, 5), List.of(4)),
                runs.subList(1, runs.size()).stream().map(r -> r.stream().map(Call::value).toList()).toList());
    }

    /** A key's own limit (the U-Net's memory budget at a large latent size) caps its runs below maxSamples. */
    @Test
    void aKeysOwnLimitCapsItsRuns() throws Exception {
        batcher(16, key -> key.equals("big") ? 2 : Integer.MAX_VALUE, 0);
        // "big" runs two at a time; "a" (its limit above maxSamples) takes its three together
        assertEquals(List.of(List.of(1, 2), List.of(3), List.of(4, 5, 6)),
                runsAfterQueueing("big", "big", "big", "a", "a", "a"));
    }

    @Test
    void withMergingOffEveryCallRunsAlone() throws Exception {
        batcher(0, 1000);
        Future<Integer> first = holdTheWorker();
        List<Future<Integer>> f = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            f.add(submitAsync(new Call("a", i, 1)));
        }
        awaitQueued(4);
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (Future<Integer> x : f) {
            x.get(5, TimeUnit.SECONDS);
        }
        assertEquals(4, runs.size());
        runs.forEach(r -> assertEquals(1, r.size()));
    }

    @Test
    void aLoneCallerDoesNotWaitButCallersInLockstepAreGatheredAgain() throws Exception {
        batcher(16, 2000);
        // a lone caller: its previous run held one call, so it never waits for company (the wait is 2 s)
        for (int i = 0; i < 5; i++) {
            long t0 = System.nanoTime();
            batcher.submit("a", new Call("a", i, 2), 2);
            assertTrue(System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(1000), "a lone call waited for company");
        }
        // three callers stepping together: after one run of three, their next calls, arriving 100 ms apart, are
        // gathered into one run again
        Future<Integer> first = holdTheWorker();
        List<Future<Integer>> f = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            f.add(submitAsync(new Call("a", i, 2)));
        }
        awaitQueued(7);
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (Future<Integer> x : f) {
            x.get(5, TimeUnit.SECONDS);
        }
        int before = runs.size();
        f.clear();
        for (int i = 0; i < 3; i++) {
            f.add(submitAsync(new Call("a", 10 + i, 2)));
            Thread.sleep(100);
        }
        for (Future<Integer> x : f) {
            x.get(5, TimeUnit.SECONDS);
        }
        assertEquals(before + 1, runs.size(), "the three staggered calls ran as one");
        assertEquals(3, runs.get(runs.size() - 1).size());
    }

    @Test
    void aCallWhoseDeadlinePassesWhileQueuedIsNotComputed() throws Exception {
        batcher(16, 0);
        Future<Integer> first = holdTheWorker();
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        try {
            Future<Integer> late = callers.submit(() -> Context.current().withDeadlineAfter(100, TimeUnit.MILLISECONDS, timer)
                    .call(() -> batcher.submit("a", new Call("a", 7, 1), 1)));
            awaitQueued(2);
            Thread.sleep(300);
            gate.countDown();
            first.get(5, TimeUnit.SECONDS);
            Exception e = assertThrows(Exception.class, () -> late.get(5, TimeUnit.SECONDS));
            StatusRuntimeException s = (StatusRuntimeException) e.getCause();
            assertEquals(Status.Code.DEADLINE_EXCEEDED, s.getStatus().getCode());
            assertEquals(1, runs.size(), "the expired call was never run");
            assertEquals(0.0, registry.get("diffusion.queued.samples").gauge().value());
        } finally {
            timer.shutdownNow();
        }
    }

    @Test
    void aFailedRunFailsItsCallsAndTheNextRunWorks() throws Exception {
        batcher(16, 0);
        Future<Integer> first = holdTheWorker();
        Future<Integer> good = submitAsync(new Call("a", 1, 1));
        Future<Integer> bad = submitAsync(new Call("a", -1, 1));
        awaitQueued(3);
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (Future<Integer> x : List.of(good, bad)) {
            Exception e = assertThrows(Exception.class, () -> x.get(5, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof IllegalArgumentException, e.toString());
        }
        assertEquals(50 + runs.size() + 1, batcher.submit("a", new Call("a", 5, 1), 1));
        assertEquals(0.0, registry.get("diffusion.queued.samples").gauge().value());
    }
}
