package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.orchestrator.Jobs;
import dev.diffusion.orchestrator.ModelSpec;
import dev.diffusion.proto.v1.GenerationGrpc;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.GetRequest;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The delivery guarantees under real faults: the demo model's three services and two orchestrators as processes,
 * on a broker of this test's own (scripts/kafka.sh on free ports, so it can be stopped), and processes ended with
 * SIGKILL. Every image is compared bit for bit with the in-process pipeline; every job must have exactly one final
 * event for a read_committed reader. Each test prints its figures.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultIT {
    static final int PARTITIONS = 4;
    static final int JOBS = 20;
    final String run = "fault-" + Long.toString(System.currentTimeMillis(), 36);
    final String jobsTopic = run + ".jobs";
    final String eventsTopic = run + ".events";
    final String dlqTopic = run + ".jobs.dlq";
    final Path root = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    final Path buildDir = Path.of(System.getProperty("build.dir", "target")).toAbsolutePath();
    final Path kafkaDir = buildDir.resolve(run + "-kafka");
    final Path outputDir = buildDir.resolve(run + "-images");
    int kafkaPort;
    String bootstrap;

    ServiceProcess text;
    ServiceProcess unet;
    ServiceProcess vae;
    final ServiceProcess[] orchestrators = new ServiceProcess[2];
    final int[] orchestratorPorts = new int[2];
    StableDiffusionPipeline reference;
    ModelSpec demo;
    KafkaProducer<String, byte[]> producer;
    OrchestratorIT.EventLog events;

    @BeforeAll
    void start() throws Exception {
        long t0 = System.nanoTime();
        kafkaPort = freePort();
        bootstrap = "127.0.0.1:" + kafkaPort;
        kafka("start");
        // a dead-letter topic that refuses records above 20,000 bytes: one dead-letter write fails for good
        Properties admin = new Properties();
        admin.put("bootstrap.servers", bootstrap);
        try (Admin a = Admin.create(admin)) {
            a.createTopics(List.of(new NewTopic(dlqTopic, PARTITIONS, (short) 1).configs(Map.of("max.message.bytes", "20000"))))
                    .all().get();
        }
        text = ServiceProcess.start("text-encoder-service", List.of("-Ddiffusion.model.path=demo"));
        unet = ServiceProcess.start("unet-service", List.of("-Ddiffusion.model.path=demo"));
        vae = ServiceProcess.start("vae-service", List.of("-Ddiffusion.model.path=demo"));
        reference = StableDiffusionPipeline.load("demo", null, Precision.FP32);
        demo = ModelSpec.open("demo");
        for (ServiceProcess p : List.of(text, unet, vae)) {
            p.awaitReady(Duration.ofSeconds(180));
        }
        for (int i = 0; i < 2; i++) {
            orchestratorPorts[i] = freePort();
            orchestrators[i] = startOrchestrator(i);
            orchestrators[i].awaitReady(Duration.ofSeconds(120)); // the first creates the topics
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "120000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "180000");
        producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        events = new OrchestratorIT.EventLog(bootstrap, eventsTopic);
        System.out.printf("fault: own broker on %s, 3 demo services, 2 orchestrators ready in %d ms%n", bootstrap,
                (System.nanoTime() - t0) / 1_000_000);
    }

    private void kafka(String command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), command).inheritIO();
        pb.environment().put("KAFKA_PORT", Integer.toString(kafkaPort));
        pb.environment().put("KAFKA_CONTROLLER_PORT", Integer.toString(freePort()));
        pb.environment().put("KAFKA_DIR", kafkaDir.toString());
        pb.environment().put("KAFKA_HEAP", "384m");
        assertEquals(0, pb.start().waitFor(), "scripts/kafka.sh " + command);
    }

    private ServiceProcess startOrchestrator(int i) throws IOException {
        return ServiceProcess.start("orchestrator", orchestratorPorts[i], List.of(
                "-Ddiffusion.model.path=demo",
                "-Ddiffusion.kafka.bootstrap-servers=" + bootstrap,
                "-Ddiffusion.kafka.group-id=" + run,
                "-Ddiffusion.topics.jobs=" + jobsTopic,
                "-Ddiffusion.topics.events=" + eventsTopic,
                "-Ddiffusion.topics.dlq=" + dlqTopic,
                "-Ddiffusion.topics.control=" + run + ".control",
                "-Ddiffusion.topics.partitions=" + PARTITIONS,
                "-Ddiffusion.jobs.max-concurrent=10",
                "-Ddiffusion.jobs.output-dir=" + outputDir,
                // a small image budget, so that the memory test passes it many times over
                "-Ddiffusion.jobs.store-image-bytes=200000",
                "-Ddiffusion.services.probe-interval-millis=500",
                "-Ddiffusion.services.text-encoder=dns:///127.0.0.1:" + text.port,
                "-Ddiffusion.services.unet=dns:///127.0.0.1:" + unet.port,
                "-Ddiffusion.services.vae=dns:///127.0.0.1:" + vae.port,
                "-Xmx256m"));
    }

    @AfterAll
    void stop() throws Exception {
        if (events != null) {
            events.close();
        }
        if (producer != null) {
            producer.close();
        }
        for (ServiceProcess p : new ServiceProcess[] {orchestrators[0], orchestrators[1], text, unet, vae}) {
            if (p != null) {
                p.close();
            }
        }
        if (reference != null) {
            reference.close();
        }
        if (kafkaPort > 0) {
            kafka("stop");
        }
    }

    // ------------------------------------------------------------------------------------ helpers

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    GenerationJob job(String id, int steps, long seed) {
        return GenerationJob.newBuilder().setJobId(run + "-" + id).setPrompt("a red circle on the left on a white background")
                .setSteps(steps).setSeed(seed).build();
    }

    void send(GenerationJob job) throws Exception {
        producer.send(new ProducerRecord<>(jobsTopic, job.getJobId(), job.toByteArray())).get();
    }

    List<GenerationJob> batch(String name, int count, int steps) throws Exception {
        List<GenerationJob> jobs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            jobs.add(job(name + "-" + i, steps, 1000 + i));
        }
        for (GenerationJob j : jobs) {
            send(j);
        }
        return jobs;
    }

    /** The job's image is the in-process pipeline's, up to the rounding of shared U-Net runs ({@link SameImage}). */
    void assertSameImage(GenerationJob job, JobEvent completed) {
        assertEquals(JobEvent.Type.COMPLETED, completed.getType(), completed::toString);
        GenerationJob full = Jobs.withDefaults(job, job.getJobId(), demo.nativeImageSize());
        List<GeneratedImage> want = reference.generate(Jobs.toRequest(full, demo, 10_000), ProgressListener.NONE);
        SameImage.assertSame(want.get(0), completed.getCompleted().getImages(0).getPng().toByteArray(), job.getJobId());
    }

    /** Waits for every job's final event; asserts one final event each, all COMPLETED with the reference image. */
    Map<String, Long> assertCompletedOnce(List<GenerationJob> jobs, Duration timeout) throws Exception {
        Map<String, Long> starts = new HashMap<>();
        for (GenerationJob j : jobs) {
            List<JobEvent> log = events.awaitFinal(j.getJobId(), timeout);
            Thread.sleep(0);
            starts.put(j.getJobId(), log.stream().filter(e -> e.getType() == JobEvent.Type.STARTED).count());
            assertSameImage(j, log.get(log.size() - 1));
        }
        Thread.sleep(3000); // a duplicate would be written within the transaction timeout: look again
        for (GenerationJob j : jobs) {
            long finals = events.get(j.getJobId()).stream().filter(e -> OrchestratorIT.isFinal(e.getType())).count();
            assertEquals(1, finals, j.getJobId() + ": final events " + events.get(j.getJobId()).stream().map(JobEvent::getType).toList());
        }
        return starts;
    }

    static double metric(ServiceProcess p, String name, String labels) throws Exception {
        String body = p.get("/q/metrics").body();
        double sum = 0;
        Matcher m = Pattern.compile("(?m)^" + name + "(\\{[^}]*\\})? ([0-9.eE+-]+)$").matcher(body);
        while (m.find()) {
            if (labels == null || (m.group(1) != null && m.group(1).contains(labels))) {
                sum += Double.parseDouble(m.group(2));
            }
        }
        return sum;
    }

    /** The orchestrator's used heap right after a full GC (jcmd GC.run): what it really keeps. */
    static double retainedHeap(ServiceProcess p) throws Exception {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process gc = new ProcessBuilder(jcmd.toString(), Long.toString(p.pid()), "GC.run").redirectErrorStream(true).start();
        gc.getInputStream().readAllBytes();
        assertEquals(0, gc.waitFor(), "jcmd GC.run");
        return metric(p, "jvm_memory_used_bytes", "area=\"heap\"");
    }

    static long rssBytes(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }

    long count(String topic) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            long n = 0;
            long idle = System.nanoTime();
            while (System.nanoTime() - idle < 3_000_000_000L) {
                int got = c.poll(Duration.ofMillis(200)).count();
                if (got > 0) {
                    n += got;
                    idle = System.nanoTime();
                }
            }
            return n;
        }
    }

    // ------------------------------------------------------------------------------------ tests

    @Test
    @Order(1)
    void malformedRecordsGoToTheDeadLetterTopicWithoutStallingGoodJobs() throws Exception {
        long t0 = System.nanoTime();
        List<GenerationJob> good = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            byte[] garbage = ("\u00ff\u0001not a job " + i).getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
            producer.send(new ProducerRecord<>(jobsTopic, "garbage-" + i, garbage));
            if (i % 50 == 25) {
                GenerationJob j = job("mixed-" + i, 8, i);
                good.add(j);
                if (i == 525) {
                    // ahead of this job in its partition: a record the dead-letter topic cannot take
                    producer.send(new ProducerRecord<>(jobsTopic, j.getJobId(), new byte[30_000]));
                }
                producer.send(new ProducerRecord<>(jobsTopic, j.getJobId(), j.toByteArray()));
            }
        }
        producer.flush();
        assertEquals(JOBS, good.size());
        assertCompletedOnce(good, Duration.ofSeconds(240));
        long dead = count(dlqTopic);
        double skipped = metric(orchestrators[0], "diffusion_jobs_dead_letter_failed_total", null)
                + metric(orchestrators[1], "diffusion_jobs_dead_letter_failed_total", null);
        System.out.printf("fault: 1000 malformed + 1 too large for the dead-letter topic + %d good records: %d COMPLETED, "
                + "%d in the dead-letter topic, %.0f skipped after %d failed writes, %.1f s%n", good.size(), good.size(), dead,
                skipped, dev.diffusion.orchestrator.JobConsumer.DEAD_LETTER_TRIES, (System.nanoTime() - t0) / 1e9);
        assertEquals(1000, dead);
        assertEquals(1, skipped);
    }

    @Test
    @Order(2)
    void aUNetKilledMidJobAndStartedAgain20SecondsLaterLosesNothing() throws Exception {
        GenerationJob longJob = job("unet-crash", 150, 7).toBuilder().setBatchCount(4).build();
        send(longJob);
        events.awaitType(longJob.getJobId(), JobEvent.Type.PROGRESS, Duration.ofSeconds(120));
        unet.kill();
        long killed = System.nanoTime();
        Thread.sleep(20_000);
        unet = ServiceProcess.start("unet-service", unet.port, List.of("-Ddiffusion.model.path=demo"));
        unet.awaitReady(Duration.ofSeconds(180));
        List<JobEvent> log = events.awaitFinal(longJob.getJobId(), Duration.ofSeconds(300));
        System.out.printf("fault: U-Net SIGKILLed mid-job, back after %.1f s: job %s in %.1f s from the kill%n",
                20.0, log.get(log.size() - 1).getType(), (System.nanoTime() - killed) / 1e9);
        JobEvent done = log.get(log.size() - 1);
        assertEquals(JobEvent.Type.COMPLETED, done.getType(), done::toString);
        GenerationJob full = Jobs.withDefaults(longJob, longJob.getJobId(), demo.nativeImageSize());
        List<GeneratedImage> want = reference.generate(Jobs.toRequest(full, demo, 10_000), ProgressListener.NONE);
        for (int i = 0; i < 4; i++) {
            SameImage.assertSame(want.get(i), done.getCompleted().getImages(i).getPng().toByteArray(), "image " + i);
        }
    }

    @Test
    @Order(3)
    void aUNetDownFor90SecondsWhile20JobsAreQueuedFailsNone() throws Exception {
        // a job running when the U-Net goes: it waits in back-off, and a cancel stops it there
        GenerationJob retrying = job("outage-cancel", 150, 3).toBuilder().setBatchCount(4).build();
        send(retrying);
        events.awaitType(retrying.getJobId(), JobEvent.Type.PROGRESS, Duration.ofSeconds(120));
        unet.kill();
        long killed = System.nanoTime();
        List<GenerationJob> jobs = batch("outage", JOBS, 8);
        Thread.sleep(5_000);
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", orchestrators[0].port).usePlaintext().build();
        try {
            GenerationGrpc.newBlockingStub(ch).cancel(dev.diffusion.proto.v1.CancelRequest.newBuilder()
                    .setJobId(retrying.getJobId()).build());
        } finally {
            ch.shutdownNow();
        }
        List<JobEvent> cancelled = events.awaitFinal(retrying.getJobId(), Duration.ofSeconds(30));
        assertEquals(JobEvent.Type.CANCELLED, cancelled.get(cancelled.size() - 1).getType(), cancelled.toString());
        System.out.printf("fault: a job waiting out the outage was cancelled %.1f s after the U-Net died%n",
                (System.nanoTime() - killed) / 1e9);
        var ready = orchestrators[0].get("/q/health/ready");
        assertEquals(503, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("unet unreachable"), ready.body());
        while (System.nanoTime() - killed < 90_000_000_000L) {
            Thread.sleep(1000);
        }
        for (GenerationJob j : jobs) {
            assertTrue(events.get(j.getJobId()).stream().noneMatch(e -> OrchestratorIT.isFinal(e.getType())),
                    j.getJobId() + " ended during the outage");
        }
        unet = ServiceProcess.start("unet-service", unet.port, List.of("-Ddiffusion.model.path=demo"));
        unet.awaitReady(Duration.ofSeconds(180));
        long back = System.nanoTime();
        assertCompletedOnce(jobs, Duration.ofSeconds(300));
        long failed = jobs.stream().filter(j -> events.get(j.getJobId()).stream()
                .anyMatch(e -> e.getType() == JobEvent.Type.FAILED)).count();
        System.out.printf("fault: U-Net down %.0f s with %d jobs queued: %d COMPLETED, %d FAILED, drained %.1f s after it was back%n",
                (back - killed) / 1e9, JOBS, JOBS - failed, failed, (System.nanoTime() - back) / 1e9);
        assertEquals(0, failed);
    }

    @Test
    @Order(4)
    void anOrchestratorKilledWith20JobsInFlightLeavesEachJobCompletedOnce() throws Exception {
        List<GenerationJob> jobs = batch("failover", JOBS, 20);
        events.awaitType(jobs.get(0).getJobId(), JobEvent.Type.STARTED, Duration.ofSeconds(60));
        Thread.sleep(1500);
        int victim = metric(orchestrators[0], "diffusion_jobs_in_flight", null) > 0 ? 0 : 1;
        double inFlight = metric(orchestrators[victim], "diffusion_jobs_in_flight", null);
        orchestrators[victim].kill();
        long killed = System.nanoTime();
        try {
            Map<String, Long> starts = assertCompletedOnce(jobs, Duration.ofSeconds(300));
            long rerun = starts.values().stream().filter(n -> n > 1).count();
            System.out.printf("fault: orchestrator %d SIGKILLed with %.0f jobs in flight (of %d): %d COMPLETED once each, %d run"
                    + " again elsewhere, all done %.1f s after the kill%n", victim + 1, inFlight, JOBS, JOBS, rerun,
                    (System.nanoTime() - killed) / 1e9);
            assertTrue(inFlight > 0);
            assertTrue(rerun > 0, "the killed orchestrator's jobs ran again on the other one");
        } finally {
            // the later tests need two orchestrators again, whatever this one found
            orchestrators[victim] = startOrchestrator(victim);
            orchestrators[victim].awaitReady(Duration.ofSeconds(120));
        }
    }

    @Test
    @Order(5)
    void theBrokerStoppedFor30SecondsLosesAndDuplicatesNothing() throws Exception {
        List<GenerationJob> jobs = batch("broker", JOBS, 20);
        events.awaitType(jobs.get(0).getJobId(), JobEvent.Type.PROGRESS, Duration.ofSeconds(60));
        kafka("stop");
        long stopped = System.nanoTime();
        Thread.sleep(30_000);
        kafka("start");
        long back = System.nanoTime();
        assertCompletedOnce(jobs, Duration.ofSeconds(400));
        System.out.printf("fault: broker stopped %.0f s during %d jobs: %d COMPLETED, 0 lost, 0 duplicated, all done %.1f s after"
                + " it was back%n", (back - stopped) / 1e9, JOBS, JOBS, (System.nanoTime() - back) / 1e9);
        for (ServiceProcess o : orchestrators) {
            assertEquals(200, o.get("/q/health/live").statusCode());
        }
    }

    /**
     * No memory grows with the number of jobs. Two rounds of 200 jobs after a warm-up: the first lets the heap, the
     * JIT's code and malloc's arenas grow to their working size (tens of MiB, more on a loaded machine, and no sign of
     * a leak), the second must then add almost nothing — the heap left after a full GC by less than 16 MiB (80 KiB a
     * job: a leak of one PNG per job would show) and RSS by less than 64 MiB — while the job store holds no more PNG
     * bytes than its budget.
     */
    @Test
    @Order(6)
    void memoryStaysFlatOver200Jobs() throws Exception {
        ServiceProcess o = orchestrators[0];
        // the other orchestrator stops: all 200 jobs go through this one
        orchestrators[1].close();
        orchestrators[1] = null;
        List<GenerationJob> warm = batch("warm", 20, 8);
        assertCompletedOnce(warm, Duration.ofSeconds(300));
        long[] rss = new long[3];
        double[] retained = new double[3];
        rss[0] = rssBytes(o.pid());
        retained[0] = retainedHeap(o);
        List<GenerationJob> jobs = null;
        for (int round = 1; round <= 2; round++) {
            long t0 = System.nanoTime();
            List<GenerationJob> these = batch("memory" + round, 200, 8);
            jobs = jobs == null ? these : jobs;
            for (GenerationJob j : these) {
                assertEquals(JobEvent.Type.COMPLETED, events.awaitFinal(j.getJobId(), Duration.ofSeconds(600))
                        .stream().filter(e -> OrchestratorIT.isFinal(e.getType())).findFirst().orElseThrow().getType());
            }
            rss[round] = rssBytes(o.pid());
            retained[round] = retainedHeap(o);
            System.out.printf("fault: 200 demo jobs (round %d) in %.1f s; orchestrator RSS %.1f -> %.1f MiB, heap after a full "
                            + "GC %.1f -> %.1f MiB%n", round, (System.nanoTime() - t0) / 1e9, rss[round - 1] / 1048576.0,
                    rss[round] / 1048576.0, retained[round - 1] / 1048576.0, retained[round] / 1048576.0);
        }
        double held = metric(o, "diffusion_store_image_bytes", null);
        System.out.printf("fault: PNG bytes held by the job store %.0f (budget 200000)%n", held);
        assertTrue(held <= 200_000, held + " bytes");
        assertTrue(retained[2] - retained[1] < 16 << 20, "the heap left after a full GC grew "
                + (retained[2] - retained[1]) / 1048576 + " MiB over the second 200 jobs");
        assertTrue(rss[2] - rss[1] < 64L << 20, "RSS grew " + (rss[2] - rss[1]) / 1048576 + " MiB over the second 200 jobs");
        // the first job's PNG left memory long ago: Get reads it back from the events topic
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", o.port).usePlaintext().build();
        try {
            JobStatus s = GenerationGrpc.newBlockingStub(ch).get(GetRequest.newBuilder().setJobId(jobs.get(0).getJobId()).build());
            assertEquals(JobStatus.State.COMPLETED, s.getState());
            assertSameImage(jobs.get(0), s.getLastEvent());
        } finally {
            ch.shutdownNow();
        }
    }
}
