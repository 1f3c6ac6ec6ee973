package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.orchestrator.Jobs;
import dev.diffusion.orchestrator.ModelSpec;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.GenerateRequest;
import dev.diffusion.proto.v1.GenerationGrpc;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.GetRequest;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.ModelInfoRequest;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * TLS on every gRPC link and a bearer token on the public API, for real: a self-signed certificate made here with
 * the JDK's keytool, the three tiny-random services serving TLS only, an orchestrator that reaches them over TLS and
 * serves its API over TLS with a token. Each way is tried both ways: with and without TLS, with, without and with a
 * wrong token.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SecurityIT {
    static final String TOKEN = "s3cret-token-for-the-test";
    final String run = "sec-" + Long.toString(System.currentTimeMillis(), 36);
    final Path dir = Path.of(System.getProperty("build.dir", "target")).toAbsolutePath().resolve(run);
    final int kafkaPort = Integer.parseInt(System.getenv().getOrDefault("KAFKA_PORT", "9092"));
    final Path root = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    Path keyStore;
    Path caPem;
    boolean startedBroker;
    final List<ServiceProcess> processes = new ArrayList<>();
    int orchestratorPort;
    int unetPort;
    HttpClient https;

    @BeforeAll
    void start() throws Exception {
        Files.createDirectories(dir);
        keyStore = dir.resolve("server.p12");
        caPem = dir.resolve("server.pem");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        exec(keytool, "-genkeypair", "-alias", "sd", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
                "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-keystore", keyStore.toString(),
                "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit");
        exec(keytool, "-exportcert", "-rfc", "-alias", "sd", "-keystore", keyStore.toString(), "-storepass", "changeit",
                "-file", caPem.toString());
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keyStore)) {
            ks.load(in, "changeit".toCharArray());
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        https = HttpClient.newBuilder().sslContext(ssl).connectTimeout(Duration.ofSeconds(5)).build();

        if (!OrchestratorIT.listening(kafkaPort)) {
            assertEquals(0, new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), "start").inheritIO().start().waitFor());
            startedBroker = true;
        }
        int[] ports = new int[3];
        String[] modules = {"text-encoder-service", "unet-service", "vae-service"};
        for (int i = 0; i < 3; i++) {
            ports[i] = freePort();
            processes.add(ServiceProcess.start(modules[i], ports[i], tls(ports[i])));
        }
        unetPort = ports[1];
        for (int i = 0; i < 3; i++) {
            awaitReady(ports[i]);
        }
        orchestratorPort = freePort();
        List<String> props = new ArrayList<>(tls(orchestratorPort));
        props.addAll(List.of("-Ddiffusion.api.token=" + TOKEN,
                "-Ddiffusion.services.tls-trust-certificates=" + caPem,
                "-Ddiffusion.services.text-encoder=dns:///localhost:" + ports[0],
                "-Ddiffusion.services.unet=dns:///localhost:" + ports[1],
                "-Ddiffusion.services.vae=dns:///localhost:" + ports[2],
                "-Ddiffusion.kafka.bootstrap-servers=127.0.0.1:" + kafkaPort,
                "-Ddiffusion.kafka.group-id=" + run,
                "-Ddiffusion.topics.jobs=" + run + ".jobs", "-Ddiffusion.topics.events=" + run + ".events",
                "-Ddiffusion.topics.dlq=" + run + ".jobs.dlq", "-Ddiffusion.topics.control=" + run + ".control",
                "-Ddiffusion.topics.partitions=1", "-Xmx256m"));
        processes.add(ServiceProcess.start("orchestrator", orchestratorPort, props));
        awaitReady(orchestratorPort);
    }

    /** TLS only, on the service's one port (no plaintext listener). */
    List<String> tls(int port) {
        return List.of("-Dquarkus.tls.key-store.p12.path=" + keyStore, "-Dquarkus.tls.key-store.p12.password=changeit",
                "-Dquarkus.http.ssl-port=" + port, "-Dquarkus.http.insecure-requests=disabled");
    }

    static void exec(String... command) throws Exception {
        Process p = new ProcessBuilder(command).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", command));
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    void awaitReady(int port) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        String last = "";
        while (System.nanoTime() < end) {
            try {
                HttpResponse<String> r = https.send(HttpRequest.newBuilder(URI.create("https://localhost:" + port + "/q/health/ready"))
                        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
                last = r.body();
            } catch (java.io.IOException notYet) {
                last = notYet.toString();
            }
            Thread.sleep(300);
        }
        throw new AssertionError("port " + port + " not ready over TLS: " + last);
    }

    @AfterAll
    void stop() throws Exception {
        for (ServiceProcess p : processes) {
            p.close();
        }
        if (startedBroker) {
            new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), "stop").inheritIO().start().waitFor();
        }
    }

    ManagedChannel channel(int port, boolean tls, String token) throws Exception {
        ChannelCredentials c = tls ? TlsChannelCredentials.newBuilder().trustManager(caPem.toFile()).build()
                : InsecureChannelCredentials.create();
        var b = Grpc.newChannelBuilder("localhost:" + port, c);
        if (token != null) {
            Metadata m = new Metadata();
            m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
            b.intercept(MetadataUtils.newAttachHeadersInterceptor(m));
        }
        return b.build();
    }

    @Test
    void theApiOverTlsWithTheTokenRunsAJobOverTlsServiceLinks() throws Exception {
        ManagedChannel ch = channel(orchestratorPort, true, TOKEN);
        try {
            GenerationJob job = GenerationJob.newBuilder().setJobId(run + "-ok").setPrompt("a red circle").setWidth(64)
                    .setHeight(64).setSteps(3).setSeed(9).build();
            Iterator<JobEvent> it = GenerationGrpc.newBlockingStub(ch).withDeadlineAfter(120, TimeUnit.SECONDS)
                    .generate(GenerateRequest.newBuilder().setJob(job).build());
            JobEvent last = null;
            while (it.hasNext()) {
                last = it.next();
            }
            assertEquals(JobEvent.Type.COMPLETED, last.getType(), String.valueOf(last));
            try (StableDiffusionPipeline reference = StableDiffusionPipeline.load("tiny-random", null, Precision.FP32)) {
                List<GeneratedImage> want = reference.generate(Jobs.toRequest(Jobs.withDefaults(job, job.getJobId()),
                        ModelSpec.open("tiny-random"), 10_000), ProgressListener.NONE);
                assertArrayEquals(want.get(0).png(), last.getCompleted().getImages(0).getPng().toByteArray());
            }
        } finally {
            ch.shutdownNow();
        }
    }

    @Test
    void noTokenOrAWrongTokenIsUnauthenticated() throws Exception {
        for (String token : new String[] {null, "wrong-token"}) {
            ManagedChannel ch = channel(orchestratorPort, true, token);
            try {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> GenerationGrpc.newBlockingStub(ch)
                        .withDeadlineAfter(20, TimeUnit.SECONDS).get(GetRequest.newBuilder().setJobId("x").build()));
                assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode(), String.valueOf(e.getStatus()));
            } finally {
                ch.shutdownNow();
            }
        }
        // the right token gets past the check: NOT_FOUND is the API's own answer
        ManagedChannel ch = channel(orchestratorPort, true, TOKEN);
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> GenerationGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(20, TimeUnit.SECONDS).get(GetRequest.newBuilder().setJobId("x").build()));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        } finally {
            ch.shutdownNow();
        }
    }

    @Test
    void plaintextIsRefusedByTheApiAndByTheModelServices() throws Exception {
        for (int port : new int[] {orchestratorPort, unetPort}) {
            ManagedChannel ch = channel(port, false, TOKEN);
            try {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> DenoiserGrpc.newBlockingStub(ch)
                        .withDeadlineAfter(10, TimeUnit.SECONDS).info(ModelInfoRequest.getDefaultInstance()));
                assertTrue(e.getStatus().getCode() == Status.Code.UNAVAILABLE || e.getStatus().getCode() == Status.Code.INTERNAL,
                        String.valueOf(e.getStatus()));
            } finally {
                ch.shutdownNow();
            }
        }
        // the same call over TLS reaches the U-Net service
        ManagedChannel ch = channel(unetPort, true, null);
        try {
            assertTrue(DenoiserGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .info(ModelInfoRequest.getDefaultInstance()).isInitialized());
        } finally {
            ch.shutdownNow();
        }
    }
}
