package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Scale-out as Kubernetes runs it, on one machine: two U-Net replicas on two loopback addresses (127.0.0.2 and
 * 127.0.0.3, one port) behind one DNS name, as a headless Service's pods are, and two orchestrators in one consumer
 * group. The orchestrators resolve the name through a hosts file of this test ({@code -Djdk.net.hosts.file}), which
 * names only the first replica at first: the second gets calls once it is added, through the orchestrators'
 * re-resolution (diffusion.services.re-resolve-millis) and no failure. Then 20 jobs spread over both replicas, one
 * replica is SIGKILLed mid-run, and every job still completes once, on the other. Prints {@code scale-out:} figures.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ScaleOutIT {
    static final String UNET_NAME = "unet.diffusion.test";
    static final String[] UNET_ADDRESSES = {"127.0.0.2", "127.0.0.3"};
    static final int PARTITIONS = 4;
    static final int JOBS = 20;
    static final int STEPS = 8;
    static final long RE_RESOLVE_MILLIS = 1000;
    final String run = "scale-" + Long.toString(System.currentTimeMillis(), 36);
    final Path root = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    final Path buildDir = Path.of(System.getProperty("build.dir", "target")).toAbsolutePath();
    final Path kafkaDir = buildDir.resolve(run + "-kafka");
    final Path hosts = buildDir.resolve(run + "-hosts");
    int kafkaPort;
    String bootstrap;
    ServiceProcess text;
    ServiceProcess vae;
    final ServiceProcess[] unets = new ServiceProcess[2];
    final ServiceProcess[] orchestrators = new ServiceProcess[2];
    KafkaProducer<String, byte[]> producer;
    OrchestratorIT.EventLog events;

    @BeforeAll
    void start() throws Exception {
        long t0 = System.nanoTime();
        kafkaPort = FaultIT.freePort();
        bootstrap = "127.0.0.1:" + kafkaPort;
        kafka("start");
        Properties admin = new Properties();
        admin.put("bootstrap.servers", bootstrap);
        try (Admin a = Admin.create(admin)) {
            a.createTopics(List.of(new NewTopic(run + ".jobs", PARTITIONS, (short) 1))).all().get();
        }
        hosts(UNET_ADDRESSES[0]);
        text = ServiceProcess.start("text-encoder-service", List.of("-Ddiffusion.model.path=demo"));
        vae = ServiceProcess.start("vae-service", List.of("-Ddiffusion.model.path=demo"));
        int unetPort = FaultIT.freePort();
        for (int i = 0; i < 2; i++) {
            unets[i] = ServiceProcess.start("unet-service", UNET_ADDRESSES[i], unetPort, List.of("-Ddiffusion.model.path=demo"));
        }
        for (ServiceProcess p : List.of(text, vae, unets[0], unets[1])) {
            p.awaitReady(Duration.ofSeconds(180));
        }
        for (int i = 0; i < 2; i++) {
            orchestrators[i] = ServiceProcess.start("orchestrator", FaultIT.freePort(), List.of(
                    // the name resolves through this test's hosts file, and is looked up again after a second
                    "-Djdk.net.hosts.file=" + hosts, "-Dsun.net.inetaddr.ttl=1", "-Dnetworkaddress.cache.ttl=1",
                    "-Ddiffusion.model.path=demo",
                    "-Ddiffusion.kafka.bootstrap-servers=" + bootstrap,
                    "-Ddiffusion.kafka.group-id=" + run,
                    "-Ddiffusion.topics.jobs=" + run + ".jobs",
                    "-Ddiffusion.topics.events=" + run + ".events",
                    "-Ddiffusion.topics.dlq=" + run + ".jobs.dlq",
                    "-Ddiffusion.topics.control=" + run + ".control",
                    "-Ddiffusion.topics.partitions=" + PARTITIONS,
                    "-Ddiffusion.services.probe-interval-millis=500",
                    "-Ddiffusion.services.re-resolve-millis=" + RE_RESOLVE_MILLIS,
                    "-Ddiffusion.services.text-encoder=dns:///127.0.0.1:" + text.port,
                    "-Ddiffusion.services.unet=dns:///" + UNET_NAME + ":" + unetPort,
                    "-Ddiffusion.services.vae=dns:///127.0.0.1:" + vae.port,
                    "-Xmx256m"));
            orchestrators[i].awaitReady(Duration.ofSeconds(120));
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        events = new OrchestratorIT.EventLog(bootstrap, run + ".events");
        System.out.printf("scale-out: own broker on %s, U-Net replicas on %s and %s port %d as %s, 2 orchestrators "
                + "(one group, %d partitions) ready in %d ms%n", bootstrap, UNET_ADDRESSES[0], UNET_ADDRESSES[1], unetPort,
                UNET_NAME, PARTITIONS, (System.nanoTime() - t0) / 1_000_000);
    }

    /** The hosts file the orchestrators resolve {@link #UNET_NAME} through: one line per address, as DNS answers. */
    void hosts(String... addresses) throws Exception {
        StringBuilder s = new StringBuilder("127.0.0.1 localhost\n");
        for (String a : addresses) {
            s.append(a).append(' ').append(UNET_NAME).append('\n');
        }
        Path tmp = Files.writeString(hosts.resolveSibling(hosts.getFileName() + ".tmp"), s);
        Files.move(tmp, hosts, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    void kafka(String command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), command).inheritIO();
        pb.environment().put("KAFKA_PORT", Integer.toString(kafkaPort));
        pb.environment().put("KAFKA_CONTROLLER_PORT", Integer.toString(FaultIT.freePort()));
        pb.environment().put("KAFKA_DIR", kafkaDir.toString());
        pb.environment().put("KAFKA_HEAP", "384m");
        assertEquals(0, pb.start().waitFor(), "scripts/kafka.sh " + command);
    }

    @AfterAll
    void stop() throws Exception {
        if (events != null) {
            events.close();
        }
        if (producer != null) {
            producer.close();
        }
        for (ServiceProcess p : new ServiceProcess[] {orchestrators[0], orchestrators[1], text, vae, unets[0], unets[1]}) {
            if (p != null) {
                p.close();
            }
        }
        if (kafkaPort > 0) {
            kafka("stop");
        }
    }

    List<GenerationJob> send(String name, int count) throws Exception {
        List<GenerationJob> jobs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            GenerationJob j = GenerationJob.newBuilder().setJobId(run + "-" + name + "-" + i)
                    .setPrompt("a blue square on the right on a white background").setSteps(STEPS).setSeed(500 + i).build();
            producer.send(new ProducerRecord<>(run + ".jobs", j.getJobId(), j.toByteArray())).get();
            jobs.add(j);
        }
        return jobs;
    }

    /** Every job has exactly one final event, COMPLETED. */
    void assertCompletedOnce(List<GenerationJob> jobs, Duration timeout) throws Exception {
        for (GenerationJob j : jobs) {
            List<JobEvent> log = events.awaitFinal(j.getJobId(), timeout);
            assertEquals(JobEvent.Type.COMPLETED, log.get(log.size() - 1).getType(), () -> j.getJobId() + ": " + log);
        }
        Thread.sleep(2000);
        for (GenerationJob j : jobs) {
            assertEquals(1, events.get(j.getJobId()).stream().filter(e -> OrchestratorIT.isFinal(e.getType())).count(),
                    j.getJobId() + ": one final event");
        }
    }

    int finished(List<GenerationJob> jobs) {
        return (int) jobs.stream().filter(j -> events.get(j.getJobId()).stream().anyMatch(e -> OrchestratorIT.isFinal(e.getType())))
                .count();
    }

    static double predicts(ServiceProcess unet) throws Exception {
        return FaultIT.metric(unet, "diffusion_request_seconds_count", "method=\"Predict\"");
    }

    static double completed(ServiceProcess orchestrator) throws Exception {
        return FaultIT.metric(orchestrator, "diffusion_jobs_finished_total", "outcome=\"completed\"");
    }

    @Test
    void aReplicaAddedToTheNameGetsCallsTwentyJobsSpreadOverBothAndOneKilledMidRunLosesNothing() throws Exception {
        // 1. the name has one address: every call goes to the first replica
        assertCompletedOnce(send("one", 2), Duration.ofSeconds(120));
        double[] before = {predicts(unets[0]), predicts(unets[1])};
        assertTrue(before[0] >= 2 * STEPS, "the named replica served the first jobs: " + before[0]);
        assertEquals(0, before[1], "the replica not (yet) named got no call");

        // 2. the second replica joins the name (a new pod in the headless Service): no connection failed, so only the
        //    orchestrators' periodic re-resolution lets them find it
        hosts(UNET_ADDRESSES);
        Thread.sleep(3 * RE_RESOLVE_MILLIS + 1000);
        long t0 = System.nanoTime();
        List<GenerationJob> jobs = send("spread", JOBS);

        // 3. SIGKILL the second replica once it has served its share of a quarter of the calls
        long totalCalls = (long) JOBS * STEPS;
        double killedAt;
        long deadline = System.nanoTime() + Duration.ofSeconds(300).toNanos();
        while ((killedAt = predicts(unets[1])) < totalCalls / 8.0) {
            // without re-resolution the orchestrators never call the added replica: the jobs finish on the first
            assertTrue(System.nanoTime() < deadline && finished(jobs) < JOBS, "the replica added to " + UNET_NAME
                    + " got " + killedAt + " of the " + totalCalls + " Predict calls");
            Thread.sleep(100);
        }
        double firstAtKill = predicts(unets[0]) - before[0];
        unets[1].kill();
        long killMillis = (System.nanoTime() - t0) / 1_000_000;
        int finishedAtKill = finished(jobs);

        assertCompletedOnce(jobs, Duration.ofSeconds(600));
        long wallMillis = (System.nanoTime() - t0) / 1_000_000;
        double firstTotal = predicts(unets[0]) - before[0];
        double[] perOrchestrator = {completed(orchestrators[0]), completed(orchestrators[1])};

        System.out.printf("scale-out: a U-Net replica added to %s got calls after re-resolution: %.0f Predict calls "
                + "before it was SIGKILLed%n", UNET_NAME, killedAt);
        System.out.printf("scale-out: %d jobs x %d steps in %.1f s: U-Net %s served %.0f Predict calls (%.0f before the "
                + "kill), U-Net %s >= %.0f before its SIGKILL at %.1f s (%d jobs finished then); 0 FAILED, each job once%n",
                JOBS, STEPS, wallMillis / 1000.0, UNET_ADDRESSES[0], firstTotal, firstAtKill, UNET_ADDRESSES[1], killedAt,
                killMillis / 1000.0, finishedAtKill);
        System.out.printf("scale-out: jobs completed per orchestrator (one consumer group): %.0f and %.0f (2 warm-up "
                + "jobs included)%n", perOrchestrator[0], perOrchestrator[1]);
        System.out.printf("scale-out: RSS U-Net %s %d MiB, text encoder %d MiB, VAE %d MiB, orchestrators %d and %d MiB%n",
                UNET_ADDRESSES[0], FaultIT.rssBytes(unets[0].pid()) >> 20, FaultIT.rssBytes(text.pid()) >> 20,
                FaultIT.rssBytes(vae.pid()) >> 20, FaultIT.rssBytes(orchestrators[0].pid()) >> 20,
                FaultIT.rssBytes(orchestrators[1].pid()) >> 20);

        assertTrue(killedAt > 0 && firstAtKill > 0, "both replicas served calls before the kill");
        assertTrue(finishedAtKill < JOBS, "the replica was killed mid-run");
        assertTrue(firstTotal > firstAtKill, "the surviving replica took the calls after the kill");
        assertEquals(JOBS + 2, perOrchestrator[0] + perOrchestrator[1], "every job completed once across the group");
        assertTrue(perOrchestrator[0] > 0 && perOrchestrator[1] > 0, "both orchestrators of the group took jobs");
    }
}
