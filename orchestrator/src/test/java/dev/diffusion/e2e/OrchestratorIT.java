package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.orchestrator.Codec;
import dev.diffusion.orchestrator.Jobs;
import dev.diffusion.orchestrator.ModelSpec;
import dev.diffusion.proto.v1.CancelRequest;
import dev.diffusion.proto.v1.GenerateRequest;
import dev.diffusion.proto.v1.GenerationGrpc;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.GetRequest;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import dev.diffusion.proto.v1.WatchRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The orchestrator end to end, everything real: the Kafka broker of scripts/kafka.sh (started here when none
 * answers), the three model services and two orchestrators as processes (their built quarkus-run.jar, started by
 * the services' {@link ServiceProcess} helper), one consumer group over 2 partitions. Images are compared bit for
 * bit with the in-process {@link StableDiffusionPipeline} on the tiny model.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OrchestratorIT {
    static final int PARTITIONS = 2;
    final String run = Long.toString(System.currentTimeMillis(), 36);
    final String jobsTopic = "it-" + run + ".jobs";
    final String eventsTopic = "it-" + run + ".events";
    final String dlqTopic = "it-" + run + ".jobs.dlq";
    final String controlTopic = "it-" + run + ".control";
    final Path root = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    final Path outputDir = Path.of(System.getProperty("build.dir", "target")).resolve("it-images-" + run);
    final int kafkaPort = Integer.parseInt(System.getenv().getOrDefault("KAFKA_PORT", "9092"));
    final String bootstrap = "127.0.0.1:" + kafkaPort;

    boolean startedBroker;
    ServiceProcess text;
    ServiceProcess unet;
    ServiceProcess vae;
    ServiceProcess orchestrator1;
    ServiceProcess orchestrator2;
    ManagedChannel channel;
    GenerationGrpc.GenerationBlockingStub api;
    ManagedChannel channel2;
    GenerationGrpc.GenerationBlockingStub api2;
    StableDiffusionPipeline reference;
    ModelSpec tiny;
    KafkaProducer<String, byte[]> producer;
    EventLog events;

    @BeforeAll
    void start() throws Exception {
        long t0 = System.nanoTime();
        if (!listening(kafkaPort)) {
            Process p = new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), "start").inheritIO().start();
            assertEquals(0, p.waitFor(), "scripts/kafka.sh start");
            startedBroker = true;
        }
        text = ServiceProcess.start("text-encoder-service", List.of());
        unet = ServiceProcess.start("unet-service", List.of());
        vae = ServiceProcess.start("vae-service", List.of());
        reference = StableDiffusionPipeline.load("tiny-random", null, Precision.FP32);
        tiny = ModelSpec.open("tiny-random");
        for (ServiceProcess p : List.of(text, unet, vae)) {
            p.awaitReady(Duration.ofSeconds(180));
        }
        orchestrator1 = startOrchestrator(1, "protobuf");
        orchestrator1.awaitReady(Duration.ofSeconds(120)); // creates the topics
        orchestrator2 = startOrchestrator(2, "json"); // events in the proto3 JSON mapping: readers take both

        orchestrator2.awaitReady(Duration.ofSeconds(120));
        System.out.printf("broker, 3 services, 2 orchestrators ready in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        events = new EventLog(bootstrap, eventsTopic);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", orchestrator1.port).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        api = GenerationGrpc.newBlockingStub(channel);
        channel2 = ManagedChannelBuilder.forAddress("127.0.0.1", orchestrator2.port).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        api2 = GenerationGrpc.newBlockingStub(channel2);
    }

    private ServiceProcess startOrchestrator(int n, String eventsFormat) throws IOException {
        Path log = Path.of(System.getProperty("build.dir", "target"), "service-logs", "orchestrator-" + n + ".log");
        return ServiceProcess.start("orchestrator", List.of(
                "-Dquarkus.log.file.enabled=true",
                "-Dquarkus.log.file.path=" + log.toAbsolutePath(),
                "-Ddiffusion.events.format=" + eventsFormat,
                "-Ddiffusion.kafka.bootstrap-servers=" + bootstrap,
                "-Ddiffusion.kafka.group-id=it-" + run,
                "-Ddiffusion.topics.jobs=" + jobsTopic,
                "-Ddiffusion.topics.events=" + eventsTopic,
                "-Ddiffusion.topics.dlq=" + dlqTopic,
                "-Ddiffusion.topics.control=" + controlTopic,
                "-Ddiffusion.topics.partitions=" + PARTITIONS,
                "-Ddiffusion.jobs.max-concurrent=2",
                "-Ddiffusion.jobs.output-dir=" + outputDir,
                "-Ddiffusion.services.text-encoder=dns:///127.0.0.1:" + text.port,
                "-Ddiffusion.services.unet=dns:///127.0.0.1:" + unet.port,
                "-Ddiffusion.services.vae=dns:///127.0.0.1:" + vae.port,
                "-Xmx256m"));
    }

    @AfterAll
    void stop() throws Exception {
        for (ManagedChannel c : Arrays.asList(channel, channel2)) {
            if (c != null) {
                c.shutdownNow();
            }
        }
        if (events != null) {
            events.close();
        }
        if (producer != null) {
            producer.close();
        }
        for (ServiceProcess p : Arrays.asList(orchestrator1, orchestrator2, text, unet, vae)) {
            if (p != null) {
                p.close();
            }
        }
        if (reference != null) {
            reference.close();
        }
        if (startedBroker) {
            new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), "stop").inheritIO().start().waitFor();
        }
    }

    // ------------------------------------------------------------------------------------ helpers

    static boolean listening(int port) {
        try (Socket s = new Socket("127.0.0.1", port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    GenerationJob.Builder job(String id, String prompt) {
        return GenerationJob.newBuilder().setJobId(id + "-" + run).setPrompt(prompt).setWidth(64).setHeight(64).setSteps(3);
    }

    void send(String key, byte[] value, boolean json) throws Exception {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(jobsTopic, key, value);
        if (json) {
            r.headers().add(Codec.CONTENT_TYPE, Codec.JSON.getBytes(StandardCharsets.UTF_8));
        }
        producer.send(r).get();
    }

    List<GeneratedImage> expected(GenerationJob job) {
        GenerationJob full = Jobs.withDefaults(job, job.getJobId());
        return reference.generate(Jobs.toRequest(full, tiny, 10_000), ProgressListener.NONE);
    }

    /**
     * The image(s) of a COMPLETED event are the in-process pipeline's (up to the rounding of shared U-Net runs, see
     * {@link SameImage}); metadata parses back; the file in the output dir holds the event's PNG bytes.
     */
    void assertSameImages(GenerationJob job, JobEvent completed) throws IOException {
        assertEquals(JobEvent.Type.COMPLETED, completed.getType(), () -> completed.toString());
        List<GeneratedImage> want = expected(job);
        assertEquals(want.size(), completed.getCompleted().getImagesCount());
        for (int i = 0; i < want.size(); i++) {
            var got = completed.getCompleted().getImages(i);
            GeneratedImage w = want.get(i);
            Png.Image decoded = Png.decode(got.getPng().toByteArray());
            SameImage.assertSame(w, got.getPng().toByteArray(), "image " + i + " of " + job.getJobId());
            if (job.getWidth() > 0) {
                assertEquals(job.getWidth() + "x" + job.getHeight(), decoded.width() + "x" + decoded.height());
            }
            assertEquals(w.seed(), got.getSeed());
            GenerationParameters params = GenerationParameters.parse(decoded.text().get("parameters"));
            assertEquals(w.parameters(), params);
            assertEquals(job.getPrompt(), params.prompt());
            assertEquals(Integer.toString(job.getSteps()), params.settings().get("Steps"));
            assertEquals(Long.toString(got.getSeed()), params.settings().get("Seed"));
            assertEquals(got.getWidth() + "x" + got.getHeight(), params.settings().get("Size"));
            assertEquals(got.getParameters(), w.parameters().format());
            assertArrayEquals(got.getPng().toByteArray(), Files.readAllBytes(Path.of(got.getLocation())),
                    "the file written to the output dir");
        }
    }

    /** QUEUED, STARTED, PROGRESS 1..n per image, then one final event; returns the final event. */
    static JobEvent assertLifecycle(List<JobEvent> log, int steps, int images) {
        List<JobEvent.Type> types = log.stream().map(JobEvent::getType).toList();
        assertEquals(JobEvent.Type.QUEUED, types.get(0), types::toString);
        assertEquals(JobEvent.Type.STARTED, types.get(1), types::toString);
        List<JobEvent> progress = log.stream().filter(e -> e.getType() == JobEvent.Type.PROGRESS).toList();
        assertEquals(steps * images, progress.size(), types::toString);
        for (int i = 0; i < progress.size(); i++) {
            assertEquals(i % steps + 1, progress.get(i).getProgress().getStep());
            assertEquals(steps, progress.get(i).getProgress().getTotalSteps());
            assertEquals(i / steps, progress.get(i).getProgress().getImageIndex());
        }
        assertEquals(1, log.stream().filter(e -> isFinal(e.getType())).count(), types::toString);
        return log.get(log.size() - 1);
    }

    static boolean isFinal(JobEvent.Type t) {
        return t == JobEvent.Type.COMPLETED || t == JobEvent.Type.FAILED || t == JobEvent.Type.CANCELLED;
    }

    // ------------------------------------------------------------------------------------ tests

    @Test
    @Order(1)
    void protobufJsonAndGrpcJobsCompleteWithThePipelinesImage() throws Exception {
        GenerationJob proto = job("proto", "a red circle").setSteps(4).setSampler("Euler a").setSeed(42).setCfgScale(7.5f)
                .setPreviewEvery(2).build();
        send(proto.getJobId(), proto.toByteArray(), false);
        String jsonId = "json-" + run;
        // 72x88: a latent of 9x11, odd sides, that the U-Net's down path rounds up and its up path matches
        send(jsonId, ("{\"jobId\":\"" + jsonId + "\",\"prompt\":\"a blue square\",\"width\":72,\"height\":88,\"steps\":3,"
                + "\"seed\":7,\"sampler\":\"DPM++ 2M Karras\"}").getBytes(StandardCharsets.UTF_8), true);
        GenerationJob json = GenerationJob.newBuilder().setJobId(jsonId).setPrompt("a blue square").setWidth(72).setHeight(88)
                .setSteps(3).setSeed(7).setSampler("DPM++ 2M Karras").build();
        // gRPC Generate: unguided (cfg 1 runs the conditional prediction only), a negative prompt, two images; DPM2,
        // two U-Net calls per step (the second at a timestep between the schedule's), one PROGRESS per step
        GenerationJob viaGrpc = job("grpc", "a green triangle").setNegativePrompt("blurry").setCfgScale(1f).setSeed(3)
                .setBatchCount(2).setSampler("DPM2").build();
        List<JobEvent> streamed = new ArrayList<>();
        Iterator<JobEvent> it = api.withDeadlineAfter(120, TimeUnit.SECONDS)
                .generate(GenerateRequest.newBuilder().setJob(viaGrpc).build());
        it.forEachRemaining(streamed::add);

        List<JobEvent> protoLog = events.awaitFinal(proto.getJobId(), Duration.ofSeconds(120));
        JobEvent protoDone = assertLifecycle(protoLog, 4, 1);
        assertSameImages(proto, protoDone);
        List<Integer> previews = protoLog.stream().filter(e -> e.getType() == JobEvent.Type.PROGRESS)
                .filter(e -> !e.getProgress().getPreviewPng().isEmpty()).map(e -> e.getProgress().getStep()).toList();
        assertEquals(List.of(2, 4), previews, "a latent preview every preview_every steps");
        Png.Image preview = Png.decode(protoLog.get(3).getProgress().getPreviewPng().toByteArray());
        assertEquals(8, preview.width(), "the preview is the latent's size: 64 px / 8");

        assertSameImages(json, assertLifecycle(events.awaitFinal(jsonId, Duration.ofSeconds(120)), 3, 1));

        JobEvent last = assertLifecycle(streamed, 3, 2);
        assertSameImages(viaGrpc, last);
        assertEquals(streamed, events.awaitFinal(viaGrpc.getJobId(), Duration.ofSeconds(10)),
                "Generate streams exactly the job's events on the topic");

        // Get and Watch on a finished job; a re-submitted id is the same job: nothing runs again
        JobStatus status = api.get(GetRequest.newBuilder().setJobId(proto.getJobId()).build());
        assertEquals(JobStatus.State.COMPLETED, status.getState());
        assertEquals(protoDone.getCompleted().getImagesList(), status.getImagesList());
        assertEquals(42, status.getJob().getSeed());
        assertEquals(status, api2.get(GetRequest.newBuilder().setJobId(proto.getJobId()).build()),
                "every orchestrator knows every job, wherever it ran");
        List<JobEvent> watched = new ArrayList<>();
        api.withDeadlineAfter(10, TimeUnit.SECONDS).watch(WatchRequest.newBuilder().setJobId(proto.getJobId()).build())
                .forEachRemaining(watched::add);
        assertEquals(List.of(protoDone), watched);
        assertEquals(proto.getJobId(), api.submit(proto).getJobId());
        send(proto.getJobId(), proto.toByteArray(), false); // delivered twice on Kafka: deduped by job id
        GenerationJob after = job("after-dup", "a circle").build();
        send(proto.getJobId(), after.toByteArray(), false); // same key: same partition, behind the duplicate
        events.awaitFinal(after.getJobId(), Duration.ofSeconds(60));
        Thread.sleep(1000);
        assertEquals(1, events.get(proto.getJobId()).stream().filter(e -> e.getType() == JobEvent.Type.COMPLETED).count(),
                "one COMPLETED per job id");
    }

    @Test
    @Order(2)
    void invalidJobsFailNamingTheFieldAndUnparseableRecordsGoToTheDeadLetterTopic() throws Exception {
        String key = "stall-" + run; // one key: all four records in one partition, in order
        byte[] garbage = {(byte) 0xff, 0x01, 0x02, 0x03, 'n', 'o', 't', ' ', 'a', ' ', 'j', 'o', 'b'};
        byte[] badJson = "{\"prompt\": \"unterminated".getBytes(StandardCharsets.UTF_8);
        send(key, garbage, false);
        send(key, badJson, true);
        GenerationJob badSize = job("bad-size", "x").setWidth(65).build();
        send(key, badSize.toByteArray(), false);
        GenerationJob badSampler = job("bad-sampler", "x").setSampler("warp drive").build();
        send(key, badSampler.toByteArray(), false);
        GenerationJob next = job("next", "the next job still runs").setSeed(11).build();
        send(key, next.toByteArray(), false);

        JobEvent failed = events.awaitFinal(badSize.getJobId(), Duration.ofSeconds(60)).get(1);
        assertEquals(JobEvent.Type.FAILED, failed.getType());
        assertEquals("width", failed.getFailed().getField());
        assertEquals("INVALID_ARGUMENT", failed.getFailed().getCode());
        assertEquals("width must be a multiple of 8 between 64 and 2048, got 65", failed.getFailed().getReason());
        JobEvent failedSampler = events.awaitFinal(badSampler.getJobId(), Duration.ofSeconds(60)).get(1);
        assertEquals("sampler", failedSampler.getFailed().getField());
        assertTrue(failedSampler.getFailed().getReason().startsWith("unknown sampler 'warp drive'"));
        assertSameImages(next, assertLifecycle(events.awaitFinal(next.getJobId(), Duration.ofSeconds(60)), 3, 1));

        List<ConsumerRecord<String, byte[]>> dlq = readAll(dlqTopic, 2, Duration.ofSeconds(30));
        assertEquals(2, dlq.size());
        assertArrayEquals(garbage, dlq.get(0).value(), "the original bytes");
        assertArrayEquals(badJson, dlq.get(1).value());
        for (ConsumerRecord<String, byte[]> r : dlq) {
            assertEquals(key, r.key());
            assertNotNull(r.headers().lastHeader("diffusion-error"));
            String error = new String(r.headers().lastHeader("diffusion-error").value(), StandardCharsets.UTF_8);
            assertTrue(error.startsWith("cannot parse a GenerationJob"), error);
        }
        assertTrue(new String(dlq.get(0).headers().lastHeader("diffusion-error").value(), StandardCharsets.UTF_8)
                .startsWith("cannot parse a GenerationJob (protobuf): "));
        assertTrue(new String(dlq.get(1).headers().lastHeader("diffusion-error").value(), StandardCharsets.UTF_8)
                .startsWith("cannot parse a GenerationJob (proto3 JSON): "));
        assertEquals(Codec.JSON, new String(dlq.get(1).headers().lastHeader(Codec.CONTENT_TYPE).value(), StandardCharsets.UTF_8));

        // the public API refuses invalid jobs up front, naming the field
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.submit(job("bad-steps", "x").setSteps(151).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("steps must be between 1 and 150, got 151", e.getStatus().getDescription());
        // a size within 64..2048 whose attention would not fit the U-Net service's memory (its Info's budget):
        // refused here, not left to kill the service (and, delivered again, the next one)
        e = assertThrows(StatusRuntimeException.class,
                () -> api.submit(job("too-big", "x").setWidth(2048).setHeight(2048).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("2048x2048 needs 64.00 GiB for attention in one U-Net call"),
                e.getStatus().getDescription());
        // a job id names one job: sent again with other settings it is refused, with the same ones it is that job
        String reused = api.submit(job("reused", "x").setSteps(2).build()).getJobId();
        assertEquals(reused, api.submit(job("reused", "x").setSteps(2).build()).getJobId());
        e = assertThrows(StatusRuntimeException.class, () -> api.submit(job("reused", "y").setSteps(2).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("job id 'reused-" + run + "' is taken by a job with other settings"),
                e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> api.get(GetRequest.newBuilder().setJobId("nope").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class, () -> api.cancel(CancelRequest.newBuilder().setJobId("nope").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    }

    @Test
    @Order(3)
    void cancelStopsARunningJobBetweenSteps() throws Exception {
        GenerationJob slow = job("cancel", "a long one").setSteps(150).setWidth(128).setHeight(128).build();
        String id = api.submit(slow).getJobId();
        assertEquals(slow.getJobId(), id);
        // read-your-writes: the job is known as soon as Submit returns (QUEUED, or already RUNNING)
        JobStatus.State submitted = api.get(GetRequest.newBuilder().setJobId(id).build()).getState();
        assertTrue(submitted == JobStatus.State.QUEUED || submitted == JobStatus.State.RUNNING, submitted::toString);
        events.awaitType(id, JobEvent.Type.PROGRESS, Duration.ofSeconds(60));
        JobStatus.State state = api.cancel(CancelRequest.newBuilder().setJobId(id).build()).getState();
        assertTrue(state == JobStatus.State.RUNNING || state == JobStatus.State.CANCELLED, state::toString);
        List<JobEvent> log = events.awaitFinal(id, Duration.ofSeconds(60));
        JobEvent last = log.get(log.size() - 1);
        assertEquals(JobEvent.Type.CANCELLED, last.getType());
        assertTrue(last.getCancelled().getStepsDone() >= 1 && last.getCancelled().getStepsDone() < 150, last::toString);
        assertFalse(log.stream().anyMatch(e -> e.getType() == JobEvent.Type.COMPLETED));
        // Get reads the orchestrator's store, which learns the final event from the events topic as this test's
        // consumer does: it may follow the event seen here by a moment
        JobStatus.State after = api.get(GetRequest.newBuilder().setJobId(id).build()).getState();
        for (long until = System.nanoTime() + 10_000_000_000L; after != JobStatus.State.CANCELLED && System.nanoTime() < until; ) {
            Thread.sleep(50);
            after = api.get(GetRequest.newBuilder().setJobId(id).build()).getState();
        }
        assertEquals(JobStatus.State.CANCELLED, after);

        // a Generate caller that hangs up cancels its job
        GenerationJob hangUp = job("hang-up", "nobody waits for me").setSteps(150).setWidth(128).setHeight(128).build();
        io.grpc.Context.CancellableContext call = io.grpc.Context.current().withCancellation();
        call.run(() -> {
            Iterator<JobEvent> it = api.generate(GenerateRequest.newBuilder().setJob(hangUp).build());
            while (it.next().getType() != JobEvent.Type.PROGRESS) {
                // QUEUED, STARTED
            }
            call.cancel(null);
        });
        List<JobEvent> hungUp = events.awaitFinal(hangUp.getJobId(), Duration.ofSeconds(60));
        assertEquals(JobEvent.Type.CANCELLED, hungUp.get(hungUp.size() - 1).getType());
    }

    @Test
    @Order(3)
    void aGenerateWhoseEnqueueFailedRunsWhenRetried() throws Exception {
        // 17 MiB of unknown fields: valid for Generate's checks, too large for the jobs topic (16 MiB): the enqueue fails
        GenerationJob good = job("phantom", "enqueued on the second try").setSeed(3).build();
        byte[] padding = new byte[17 << 20];
        GenerationJob tooBig = good.toBuilder().setUnknownFields(com.google.protobuf.UnknownFieldSet.newBuilder()
                .addField(999, com.google.protobuf.UnknownFieldSet.Field.newBuilder()
                        .addLengthDelimited(ByteString.copyFrom(padding)).build()).build()).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> {
            Iterator<JobEvent> it = api.withDeadlineAfter(60, TimeUnit.SECONDS)
                    .generate(GenerateRequest.newBuilder().setJob(tooBig).build());
            while (it.hasNext()) {
                it.next();
            }
        });
        assertFalse(e.getStatus().getCode() == Status.Code.OK);
        // the same id again, now enqueued: it must run (it was left QUEUED forever when the failed try had made a store entry)
        Iterator<JobEvent> it = api.withDeadlineAfter(120, TimeUnit.SECONDS).generate(GenerateRequest.newBuilder().setJob(good).build());
        JobEvent last = null;
        while (it.hasNext()) {
            last = it.next();
        }
        assertSameImages(good, last);
    }

    @Test
    @Order(3)
    void img2imgThroughKafkaAndGrpcEqualsThePipeline() throws Exception {
        byte[] rgb = new byte[64 * 64 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) ((i / 3) % 64 * 4 + (i % 3) * 40); // a gradient, different per channel
        }
        ByteString init = ByteString.copyFrom(Png.encodeRgb(64, 64, rgb, Map.of()));
        // over Kafka: strength 0.6 of 5 steps runs floor(3.0) = 3 steps per image; a batch of 2 (seeds 21, 22)
        GenerationJob kafka = job("i2i-kafka", "a blue square").setInitImage(init).setStrength(0.6f).setSteps(5).setSeed(21)
                .setBatchCount(2).build();
        send(kafka.getJobId(), kafka.toByteArray(), false);
        // over gRPC, without width/height (the init image's size) or strength (0.75: 3 of 4 steps), Euler a
        GenerationJob grpc = GenerationJob.newBuilder().setJobId("i2i-grpc-" + run).setPrompt("a green circle")
                .setInitImage(init).setSteps(4).setSampler("Euler a").setSeed(8).build();
        api.submit(grpc);
        assertSameImages(kafka, assertLifecycle(events.awaitFinal(kafka.getJobId(), Duration.ofSeconds(120)), 3, 2));
        JobEvent done = assertLifecycle(events.awaitFinal(grpc.getJobId(), Duration.ofSeconds(120)), 3, 1);
        assertSameImages(grpc.toBuilder().setWidth(64).setHeight(64).build(), done);
        assertEquals("0.75", GenerationParameters.parse(done.getCompleted().getImages(0).getParameters()).settings()
                .get("Denoising strength"));
        // inpainting over Kafka: the pipeline's image; right of the mask (and its blur) the init image's own pixels
        byte[] maskRgb = new byte[64 * 64 * 3];
        for (int i = 0; i < 64 * 64; i++) {
            byte v = (i % 64) < 32 ? (byte) 255 : 0;
            maskRgb[3 * i] = maskRgb[3 * i + 1] = maskRgb[3 * i + 2] = v;
        }
        GenerationJob masked = job("i2i-mask", "a red triangle").setInitImage(init).setMask(ByteString.copyFrom(
                Png.encodeRgb(64, 64, maskRgb, Map.of()))).setMaskBlur(3).setSteps(4).setSeed(5).build();
        send(masked.getJobId(), masked.toByteArray(), false);
        JobEvent inpainted = assertLifecycle(events.awaitFinal(masked.getJobId(), Duration.ofSeconds(120)), 3, 1);
        assertSameImages(masked, inpainted);
        Png.Image out = Png.decode(inpainted.getCompleted().getImages(0).getPng().toByteArray());
        for (int y = 0; y < 64; y++) {
            for (int x = 44; x < 64; x++) {
                assertEquals(rgb[(y * 64 + x) * 3], out.rgb()[(y * 64 + x) * 3], "kept pixel " + x + "," + y);
            }
        }
        assertEquals("3", GenerationParameters.parse(out.text().get("parameters")).settings().get("Mask blur"));
        // a mask without an init image is refused up front, naming it
        StatusRuntimeException noInit = assertThrows(StatusRuntimeException.class, () -> api.submit(masked.toBuilder()
                .setJobId("i2i-mask-bad-" + run).clearInitImage().build()));
        assertTrue(noInit.getStatus().getDescription().startsWith("mask is for img2img"), noInit.getStatus().getDescription());
        // a broken init image is refused up front, naming the field
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> api.submit(grpc.toBuilder()
                .setJobId("i2i-bad-" + run).setInitImage(ByteString.copyFromUtf8("not a png")).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("init_image must be a PNG or JPEG image"), e.getStatus().getDescription());
    }

    @Test
    @Order(4)
    void twoOrchestratorsShareThePartitionsAndACrashedJobRunsAgainWithTheSameImage() throws Exception {
        // jobs on both partitions: both orchestrators of the group work
        List<GenerationJob> jobs = new ArrayList<>();
        for (int i = 0; jobs.size() < 6; i++) {
            GenerationJob j = job("share" + i, "job " + i).setSeed(100 + i).build();
            if (partition(j.getJobId()) == jobs.size() % PARTITIONS) {
                jobs.add(j);
            }
        }
        for (GenerationJob j : jobs) {
            send(j.getJobId(), j.toByteArray(), false);
        }
        for (GenerationJob j : jobs) {
            assertSameImages(j, assertLifecycle(events.awaitFinal(j.getJobId(), Duration.ofSeconds(120)), 3, 1));
        }
        assertTrue(metric(orchestrator1, "diffusion_jobs_finished_total") > 0, "orchestrator 1 ran jobs");
        assertTrue(metric(orchestrator2, "diffusion_jobs_finished_total") > 0, "orchestrator 2 ran jobs");
        assertTrue(metric(orchestrator1, "diffusion_job_step_seconds_count") > 0, "step timer");

        // kill -9 the orchestrator running a job: its offset was not committed, the other one runs it again
        GenerationJob crash = job("crash", "survives a crash").setSteps(100).setWidth(128).setHeight(128).setSeed(5).build();
        send(crash.getJobId(), crash.toByteArray(), false);
        events.awaitType(crash.getJobId(), JobEvent.Type.PROGRESS, Duration.ofSeconds(60));
        ServiceProcess running = metric(orchestrator1, "diffusion_jobs_in_flight") > 0 ? orchestrator1 : orchestrator2;
        ServiceProcess survivor = running == orchestrator1 ? orchestrator2 : orchestrator1;
        assertTrue(metric(running, "diffusion_jobs_in_flight") > 0);
        ProcessHandle process = ProcessHandle.current().children()
                .filter(h -> h.info().commandLine().orElse("").contains("-Dquarkus.http.port=" + running.port + " "))
                .findFirst().orElseThrow();
        assertTrue(process.destroyForcibly());
        process.onExit().get(30, TimeUnit.SECONDS);
        List<JobEvent> log = events.awaitFinal(crash.getJobId(), Duration.ofSeconds(120));
        long started = log.stream().filter(e -> e.getType() == JobEvent.Type.STARTED).count();
        assertEquals(2, started, "started again after the crash");
        assertEquals(1, log.stream().filter(e -> isFinal(e.getType())).count());
        assertSameImages(crash, log.get(log.size() - 1));
        assertTrue(metric(survivor, "diffusion_jobs_finished_total") > 0);
    }

    @Test
    @Order(0)
    void healthMetricsReflectionAndBothEventFormats() throws Exception {
        for (ServiceProcess p : List.of(orchestrator1, orchestrator2)) {
            assertEquals(200, p.get("/q/health/ready").statusCode());
            assertTrue(p.get("/q/health/ready").body().contains("\"orchestrator\""));
            assertTrue(p.get("/q/metrics").body().contains("diffusion_jobs_in_flight"));
            assertTrue(p.get("/q/metrics").body().contains("diffusion_jobs_partitions_assigned"));
        }
        assertTrue(grpcServices(channel).contains("diffusion.v1.Generation"));
        // the group shares the 2 partitions: one each
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (metric(orchestrator1, "diffusion_jobs_partitions_assigned") != 1
                || metric(orchestrator2, "diffusion_jobs_partitions_assigned") != 1) {
            assertTrue(System.nanoTime() < end, "partitions not shared within 60 s");
            Thread.sleep(200);
        }
        // a job on each partition: each orchestrator writes events in its own format
        for (int p = 0; p < PARTITIONS; p++) {
            GenerationJob j = null;
            for (int i = 0; j == null; i++) {
                String id = "format" + p + "-" + i;
                if (partition(id + "-" + run) == p) {
                    j = job(id, "x").setSteps(1).build();
                }
            }
            send(j.getJobId(), j.toByteArray(), false);
            events.awaitFinal(j.getJobId(), Duration.ofSeconds(60));
        }
        List<String> types = readAll(eventsTopic, 1, Duration.ofSeconds(10)).stream()
                .map(r -> new String(r.headers().lastHeader(Codec.CONTENT_TYPE).value(), StandardCharsets.UTF_8))
                .distinct().sorted().toList();
        assertEquals(List.of(Codec.JSON, Codec.PROTOBUF), types);
    }

    static List<String> grpcServices(ManagedChannel channel) throws Exception {
        java.util.concurrent.CompletableFuture<List<String>> names = new java.util.concurrent.CompletableFuture<>();
        var requests = io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(
                new io.grpc.stub.StreamObserver<io.grpc.reflection.v1.ServerReflectionResponse>() {
                    @Override
                    public void onNext(io.grpc.reflection.v1.ServerReflectionResponse r) {
                        names.complete(r.getListServicesResponse().getServiceList().stream()
                                .map(io.grpc.reflection.v1.ServiceResponse::getName).toList());
                    }

                    @Override
                    public void onError(Throwable t) {
                        names.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {}
                });
        requests.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("*").build());
        requests.onCompleted();
        return names.get(20, TimeUnit.SECONDS);
    }

    int partition(String key) {
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % PARTITIONS;
    }

    static double metric(ServiceProcess p, String name) throws Exception {
        String body = p.get("/q/metrics").body();
        double sum = 0;
        Matcher m = Pattern.compile("(?m)^" + name + "(\\{[^}]*\\})? ([0-9.eE+-]+)$").matcher(body);
        while (m.find()) {
            sum += Double.parseDouble(m.group(2));
        }
        return sum;
    }

    List<ConsumerRecord<String, byte[]>> readAll(String topic, int atLeast, Duration timeout) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            long end = System.nanoTime() + timeout.toNanos();
            while (out.size() < atLeast && System.nanoTime() < end) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        out.sort((a, b) -> Long.compare(a.offset(), b.offset()));
        return out;
    }

    /** Every event on the events topic, by job id, read by a background consumer. */
    static final class EventLog implements AutoCloseable {
        private final Map<String, List<JobEvent>> byJob = new HashMap<>();
        private final KafkaConsumer<String, byte[]> consumer;
        private final Thread thread;
        private volatile boolean running = true;

        EventLog(String bootstrap, String topic) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"); // as every reader of final events must
            consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
            List<TopicPartition> tps = consumer.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            thread = new Thread(() -> {
                while (running) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                        try {
                            JobEvent e = Codec.parseEvent(r.value(), r.headers() == null ? new RecordHeaders() : r.headers());
                            synchronized (this) {
                                byJob.computeIfAbsent(e.getJobId(), k -> new ArrayList<>()).add(e);
                                notifyAll();
                            }
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }
                }
                consumer.close();
            }, "it-events");
            thread.start();
        }

        synchronized List<JobEvent> get(String id) {
            return List.copyOf(byJob.getOrDefault(id, List.of()));
        }

        synchronized List<JobEvent> awaitFinal(String id, Duration timeout) throws InterruptedException {
            return await(id, timeout, e -> isFinal(e.getType()));
        }

        synchronized List<JobEvent> awaitType(String id, JobEvent.Type type, Duration timeout) throws InterruptedException {
            return await(id, timeout, e -> e.getType() == type);
        }

        private List<JobEvent> await(String id, Duration timeout, java.util.function.Predicate<JobEvent> until)
                throws InterruptedException {
            long end = System.nanoTime() + timeout.toNanos();
            while (byJob.getOrDefault(id, List.of()).stream().noneMatch(until)) {
                long left = (end - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    throw new AssertionError("job " + id + ": no such event within " + timeout + "; events: "
                            + byJob.getOrDefault(id, List.of()).stream().map(JobEvent::getType).toList());
                }
                wait(left);
            }
            return List.copyOf(byJob.get(id));
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join(5000);
        }
    }
}
