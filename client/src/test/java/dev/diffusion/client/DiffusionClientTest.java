package dev.diffusion.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.proto.v1.GenerationGrpc;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.GetRequest;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import dev.diffusion.proto.v1.Progress;
import dev.diffusion.proto.v1.SubmitResponse;
import dev.diffusion.proto.v1.WatchRequest;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Retries and re-subscription of {@link DiffusionClient} against a scripted Generation server on a real port. */
class DiffusionClientTest {
    final List<String> submittedIds = new CopyOnWriteArrayList<>();
    final AtomicInteger submitFailures = new AtomicInteger();
    final AtomicInteger watchCalls = new AtomicInteger();
    final AtomicInteger getCalls = new AtomicInteger();
    Server server;

    static JobEvent progress(String id, int step) {
        return JobEvent.newBuilder().setJobId(id).setType(JobEvent.Type.PROGRESS).setTimestampMillis(step)
                .setProgress(Progress.newBuilder().setStep(step).setTotalSteps(3).setImageCount(1)).build();
    }

    DiffusionClient start() throws Exception {
        server = ServerBuilder.forPort(0).addService(new GenerationGrpc.GenerationImplBase() {
            @Override
            public void submit(GenerationJob job, StreamObserver<SubmitResponse> out) {
                submittedIds.add(job.getJobId());
                if (submitFailures.getAndDecrement() > 0) {
                    out.onError(Status.UNAVAILABLE.withDescription("restarting").asRuntimeException());
                    return;
                }
                out.onNext(SubmitResponse.newBuilder().setJobId(job.getJobId()).build());
                out.onCompleted();
            }

            @Override
            public void watch(WatchRequest r, StreamObserver<JobEvent> out) {
                String id = r.getJobId();
                if (id.equals("missing")) {
                    out.onError(Status.NOT_FOUND.withDescription("no job with id 'missing'").asRuntimeException());
                    return;
                }
                if (watchCalls.incrementAndGet() == 1) { // first stream: two steps, then the server goes away
                    out.onNext(progress(id, 1));
                    out.onNext(progress(id, 2));
                    out.onError(Status.UNAVAILABLE.withDescription("connection reset").asRuntimeException());
                    return;
                }
                out.onNext(progress(id, 2)); // a re-subscription starts with the latest event
                out.onNext(progress(id, 3));
                out.onNext(JobEvent.newBuilder().setJobId(id).setType(JobEvent.Type.COMPLETED).build());
                out.onCompleted();
            }

            @Override
            public void get(GetRequest r, StreamObserver<JobStatus> out) {
                if (getCalls.incrementAndGet() < 3) {
                    out.onError(Status.UNAVAILABLE.asRuntimeException());
                    return;
                }
                out.onNext(JobStatus.newBuilder().setJobId(r.getJobId()).setState(JobStatus.State.RUNNING).build());
                out.onCompleted();
            }
        }).build().start();
        return DiffusionClient.connect("127.0.0.1:" + server.getPort(), Duration.ofSeconds(5), 3);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.shutdownNow();
        }
    }

    @Test
    void submitIsRetriedOnUnavailableWithTheSameClientChosenId() throws Exception {
        submitFailures.set(2);
        try (DiffusionClient c = start()) {
            String id = c.submit(GenerationJob.newBuilder().setPrompt("x").build());
            assertEquals(36, id.length(), id); // a UUID chosen by the client
            assertEquals(List.of(id, id, id), submittedIds, "three attempts, one job id");
        }
    }

    @Test
    void submitKeepsTheCallersId() throws Exception {
        try (DiffusionClient c = start()) {
            assertEquals("mine", c.submit(GenerationJob.newBuilder().setJobId("mine").setPrompt("x").build()));
        }
    }

    @Test
    void submitGivesUpAfterFourAttempts() throws Exception {
        submitFailures.set(10);
        try (DiffusionClient c = start()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> c.submit(GenerationJob.newBuilder().setPrompt("x").build()));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            assertEquals(4, submittedIds.size());
        }
    }

    @Test
    void getIsRetried() throws Exception {
        try (DiffusionClient c = start()) {
            assertEquals(JobStatus.State.RUNNING, c.get("j").getState());
            assertEquals(3, getCalls.get());
        }
    }

    @Test
    void watchResubscribesAfterUnavailableWithoutRepeatingAnEvent() throws Exception {
        try (DiffusionClient c = start()) {
            List<JobEvent> seen = new ArrayList<>();
            JobEvent last = c.watch("j", seen::add);
            assertEquals(JobEvent.Type.COMPLETED, last.getType());
            assertEquals(2, watchCalls.get());
            List<Integer> steps = seen.stream().filter(JobEvent::hasProgress).map(e -> e.getProgress().getStep()).toList();
            assertEquals(List.of(1, 2, 3), steps);
            assertEquals(4, seen.size());
        }
    }

    @Test
    void watchOfAnUnknownJobIsNotFoundAtOnce() throws Exception {
        try (DiffusionClient c = start()) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> c.watch("missing", ev -> { }));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
            assertFalse(watchCalls.get() > 0);
        }
    }

    /**
     * The orchestrator restarts (its port closed for seconds, longer than the tries' back-off) while a job is watched:
     * the watch keeps re-subscribing and ends with the job's final event from the new process.
     */
    @Test
    void aWatchOutlivesAnOrchestratorRestart() throws Exception {
        java.util.concurrent.CountDownLatch subscribed = new java.util.concurrent.CountDownLatch(1);
        Server first = ServerBuilder.forPort(0).addService(new GenerationGrpc.GenerationImplBase() {
            @Override
            public void watch(WatchRequest r, StreamObserver<JobEvent> out) {
                out.onNext(progress(r.getJobId(), 1)); // then nothing: the process dies
                subscribed.countDown();
            }
        }).build().start();
        int port = first.getPort();
        try (DiffusionClient c = DiffusionClient.connect("127.0.0.1:" + port, Duration.ofSeconds(5), 3)) {
            List<JobEvent> seen = new CopyOnWriteArrayList<>();
            java.util.concurrent.CompletableFuture<JobEvent> watched = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> c.watch("r1", seen::add));
            assertTrue(subscribed.await(10, java.util.concurrent.TimeUnit.SECONDS));
            first.shutdownNow();
            Thread.sleep(5000); // 3 tries' back-off (0.25 + 0.5 + 1 s) are long spent
            server = ServerBuilder.forPort(port).addService(new GenerationGrpc.GenerationImplBase() {
                @Override
                public void watch(WatchRequest r, StreamObserver<JobEvent> out) {
                    out.onNext(progress(r.getJobId(), 1)); // the replay of the latest event
                    out.onNext(JobEvent.newBuilder().setJobId(r.getJobId()).setType(JobEvent.Type.COMPLETED).build());
                    out.onCompleted();
                }
            }).build().start();
            assertEquals(JobEvent.Type.COMPLETED, watched.get(30, java.util.concurrent.TimeUnit.SECONDS).getType());
            assertEquals(List.of(JobEvent.Type.PROGRESS, JobEvent.Type.COMPLETED), seen.stream().map(JobEvent::getType).toList(),
                    "the replayed event dropped");
        }
    }
}
