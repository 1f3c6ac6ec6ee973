package dev.diffusion.orchestrator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.PredictResponse;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Deadlines and retries of the model-service calls, against a scripted Denoiser on a loopback port. */
class ModelClientsTest {
    /** What the fake U-Net does on each call, in order: "ok" (echoes the latents), a status code name, or "slow". */
    private final Deque<String> script = new ArrayDeque<>();
    private final AtomicInteger calls = new AtomicInteger();
    private Server server;
    private ModelClients clients;

    private void start(int attempts, long deadlineMillis) throws Exception {
        start(attempts, deadlineMillis, 600_000);
    }

    private void start(int attempts, long deadlineMillis, long budgetMillis) throws Exception {
        server = ServerBuilder.forPort(0).addService(new DenoiserGrpc.DenoiserImplBase() {
            @Override
            public void predict(PredictRequest request, StreamObserver<PredictResponse> out) {
                calls.incrementAndGet();
                String action = script.isEmpty() ? "ok" : script.poll();
                if (action.equals("slow")) {
                    try {
                        Thread.sleep(deadlineMillis * 3);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    action = "ok";
                }
                if (action.equals("ok")) {
                    out.onNext(PredictResponse.newBuilder().setNoisePrediction(request.getLatents()).build());
                    out.onCompleted();
                } else {
                    out.onError(Status.fromCode(Status.Code.valueOf(action)).withDescription("scripted").asRuntimeException());
                }
            }
        }).build().start();
        String target = "dns:///127.0.0.1:" + server.getPort();
        clients = new ModelClients(new OrchestratorConfig.Services() {
            public String textEncoder() { return target; }
            public String unet() { return target; }
            public String vae() { return target; }
            public String loadBalancingPolicy() { return "round_robin"; }
            public long reResolveMillis() { return 0; }
            public java.util.Optional<String> tlsTrustCertificates() { return java.util.Optional.empty(); }
            public long deadlineMillis() { return deadlineMillis; }
            public int attempts() { return attempts; }
            public long retryBackoffMillis() { return 10; }
            public long retryMaxBackoffMillis() { return 80; }
            public long retryBudgetMillis() { return budgetMillis; }
            public long probeIntervalMillis() { return 1000; }
        });
    }

    @AfterEach
    void stop() {
        if (clients != null) {
            clients.close();
        }
        if (server != null) {
            server.shutdownNow();
        }
    }

    private float[] predict() {
        float[] latents = {1, 2, 3, 4};
        return clients.predict(latents, 1, 1, 1, 4, new float[] {999}, new float[2 * 77], 77, 2);
    }

    @Test
    void transientFailuresAreRetriedAndTheCallSucceeds() throws Exception {
        start(4, 10_000);
        script.add("UNAVAILABLE");
        script.add("INTERNAL");
        assertArrayEquals(new float[] {1, 2, 3, 4}, predict());
        assertEquals(3, calls.get());
    }

    @Test
    void aCallPastItsDeadlineIsRetriedThenFails() throws Exception {
        start(2, 1000, 1500);
        for (int i = 0; i < 4; i++) {
            script.add("slow");
        }
        long t0 = System.nanoTime();
        ModelClients.ServiceFailure e = assertThrows(ModelClients.ServiceFailure.class, this::predict);
        long millis = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.code());
        // two tries, each cut at its own deadline (timed on the client: on a loaded machine the first try may
        // spend its whole deadline connecting and never reach the server)
        assertTrue(millis >= 2000, millis + " ms");
    }

    @Test
    void badInputIsNotRetried() throws Exception {
        start(4, 10_000);
        script.add("INVALID_ARGUMENT");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, this::predict);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals(1, calls.get());
    }

    @Test
    void anOutageIsWaitedOutWithGrowingPauses() throws Exception {
        start(2, 10_000, 60_000);
        for (int i = 0; i < 8; i++) {
            script.add("UNAVAILABLE");
        }
        long t0 = System.nanoTime();
        assertArrayEquals(new float[] {1, 2, 3, 4}, predict());
        long millis = (System.nanoTime() - t0) / 1_000_000;
        // 8 failures, many more than attempts (2): pauses 10, 20, 40, 80, 80, 80, 80, 80 ms (doubling, capped at 80)
        assertEquals(9, calls.get());
        assertTrue(millis >= 470, millis + " ms");
    }

    @Test
    void anOutageLongerThanTheBudgetFailsNamingTheServiceAndHowLong() throws Exception {
        start(4, 10_000, 400);
        for (int i = 0; i < 1000; i++) {
            script.add("UNAVAILABLE");
        }
        ModelClients.ServiceFailure e = assertThrows(ModelClients.ServiceFailure.class, this::predict);
        assertEquals(Status.Code.UNAVAILABLE, e.code());
        assertTrue(e.getMessage().startsWith("unet (Denoiser.Predict) did not answer for "), e.getMessage());
        assertTrue(e.getMessage().contains("retry-budget-millis = 400"), e.getMessage());
        assertTrue(calls.get() >= 4 && calls.get() < 20, calls.get() + " calls");
    }

    /**
     * Errors inside the service, and out of memory (TensorFlow's OOM: waiting would not make the call fit), are tried
     * attempts times, not waited on for the 10-minute outage budget.
     */
    @Test
    void serviceErrorsAndOutOfMemoryAreTriedAttemptsTimes() throws Exception {
        for (Status.Code code : new Status.Code[] {Status.Code.INTERNAL, Status.Code.RESOURCE_EXHAUSTED}) {
            start(3, 10_000, 600_000);
            calls.set(0);
            for (int i = 0; i < 10; i++) {
                script.add(code.name());
            }
            long t0 = System.nanoTime();
            ModelClients.ServiceFailure e = assertThrows(ModelClients.ServiceFailure.class, this::predict);
            assertEquals(code, e.code());
            assertEquals(3, calls.get());
            assertTrue(System.nanoTime() - t0 < java.util.concurrent.TimeUnit.SECONDS.toNanos(30), "not the outage budget");
            stop();
            script.clear();
        }
    }

    @Test
    void aCancelStopsTheWaitBetweenTries() throws Exception {
        start(4, 10_000, 600_000);
        for (int i = 0; i < 1000; i++) {
            script.add("UNAVAILABLE");
        }
        long t0 = System.nanoTime();
        long stopAt = t0 + 300_000_000L;
        assertThrows(ModelClients.Stopped.class, () -> clients.predict(new float[] {1, 2, 3, 4}, 1, 1, 1, 4,
                new float[] {999}, new float[2 * 77], 77, 2, () -> System.nanoTime() > stopAt));
        long millis = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(millis < 1500, millis + " ms");
    }

    @Test
    void unreachableNamesTheServicesThatDoNotAnswer() throws Exception {
        start(1, 1000);
        // the fake serves Denoiser only: Info is UNIMPLEMENTED there, and the other two do not answer at all
        java.util.Map<String, String> down = clients.unreachable(1000);
        assertEquals(java.util.Set.of("text-encoder", "unet", "vae"), down.keySet());
        assertTrue(down.get("unet").startsWith("UNIMPLEMENTED"), down.toString());
    }
}
