package dev.diffusion.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.client.DiffusionClient;
import dev.diffusion.core.image.Png;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The images the build writes ({@code <module>/target/jib-image.tar}, {@code -Pimages}) run for real under podman:
 * Kafka and the four services as containers on one podman network, reaching each other by name; every service on a
 * read-only root filesystem without even a writable /tmp, as user 10001, the bundled demo model mounted read-only at
 * /models/shapes. A job submitted with {@code ./sd submit} gives the pixels {@code ./sd generate} gives in one JVM; a
 * job during which the U-Net container is SIGKILLed and started again completes, with the same pixels as generate.
 * Prints each container's memory after the jobs (podman stats), for the Kubernetes resource requests.
 *
 * <p>podman runs every container with the runc runtime and the two ulimits this machine needs, from a containers.conf
 * the test writes and names by CONTAINERS_CONF. Everything it creates (containers, network, the loaded images) is
 * removed afterwards, also when a test fails.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ImagesIT {
    static final List<String> SERVICES = List.of("text-encoder", "unet", "vae");
    static final Map<String, Integer> PORTS = Map.of("text-encoder", 8081, "unet", 8082, "vae", 8083, "orchestrator", 8080);
    static final Duration READY_TIMEOUT = Duration.ofSeconds(240);

    final String run = Long.toString(System.currentTimeMillis(), 36);
    final Path root = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    final Path work = Path.of(System.getProperty("build.dir", "target")).toAbsolutePath().resolve("images-it-" + run);
    final String version = System.getProperty("project.version", "0.1.0-SNAPSHOT");
    final String network = "sdit-" + run;
    final Map<String, String> images = new LinkedHashMap<>();      // service -> loaded image name
    final Map<String, String> containers = new LinkedHashMap<>();  // role -> container name
    final Map<String, Integer> hostPorts = new LinkedHashMap<>();  // service -> published 127.0.0.1 port
    final long started = System.nanoTime();
    Path containersConf;
    boolean networkCreated;

    record Result(int rc, String out, String err) {
        @Override
        public String toString() {
            return "exit " + rc + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    Result exec(Duration timeout, List<String> cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile());
        pb.environment().put("CONTAINERS_CONF", containersConf.toString());
        pb.environment().remove("SD_ORCHESTRATOR");
        Path o = Files.createTempFile(work, "out", ".txt");
        Path e = Files.createTempFile(work, "err", ".txt");
        Process p = pb.redirectOutput(o.toFile()).redirectError(e.toFile()).start();
        if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish in " + timeout.toSeconds() + " s\n" + Files.readString(e));
        }
        Result r = new Result(p.exitValue(), Files.readString(o), Files.readString(e));
        Files.delete(o);
        Files.delete(e);
        return r;
    }

    Result podman(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("podman"));
        cmd.addAll(Arrays.asList(args));
        return exec(Duration.ofSeconds(300), cmd);
    }

    /** podman, which must succeed; returns its standard output. */
    String podmanOk(String... args) throws Exception {
        Result r = podman(args);
        assertEquals(0, r.rc(), "podman " + String.join(" ", args) + "\n" + r);
        return r.out();
    }

    Result sd(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(root.resolve("sd").toString()));
        cmd.addAll(Arrays.asList(args));
        Result r = exec(Duration.ofSeconds(300), cmd);
        System.out.println("$ ./sd " + String.join(" ", args) + "\n" + r);
        return r;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @BeforeAll
    void startContainers() throws Exception {
        Files.createDirectories(work);
        // runc (crun fails on this machine's hybrid cgroups) and the ulimits Kafka and the JVMs need, for every podman call
        containersConf = work.resolve("containers.conf");
        Files.writeString(containersConf, """
                [containers]
                default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

                [engine]
                runtime = "runc"
                """);
        for (String service : List.of("text-encoder", "unet", "vae", "orchestrator")) {
            String module = service.equals("orchestrator") ? service : service + "-service";
            Path tar = root.resolve(module).resolve("target/jib-image.tar");
            assertTrue(Files.isRegularFile(tar), tar + " is missing: build the images first (./mvnw -B -DskipTests -Pimages package)");
            String loaded = podmanOk("load", "-q", "-i", tar.toString()).strip();
            // "Loaded image: docker.io/diffusion/unet-service:0.1.0-SNAPSHOT" (podman may add a registry)
            String name = loaded.substring(loaded.lastIndexOf(' ') + 1);
            assertTrue(name.endsWith("diffusion/" + module + ":" + version), loaded);
            images.put(service, name);
        }
        podmanOk("network", "create", network);
        networkCreated = true;

        startKafka();
        // the bundled demo model, mounted read-only under another folder name (the services name a model by its folder)
        List<String> model = List.of("-e", "DIFFUSION_MODEL_PATH=/models/shapes", "-v", root.resolve("models/demo") + ":/models/shapes:ro");
        for (String service : SERVICES) {
            int port = freePort();
            hostPorts.put(service, port);
            runService(service, port, model);
        }
        int port = freePort();
        hostPorts.put("orchestrator", port);
        List<String> orchestrator = new ArrayList<>(model);
        orchestrator.addAll(List.of(
                "-e", "DIFFUSION_KAFKA_BOOTSTRAP_SERVERS=kafka:9092",
                "-e", "DIFFUSION_KAFKA_GROUP_ID=images-it-" + run,
                "-e", "DIFFUSION_SERVICES_TEXT_ENCODER=dns:///text-encoder:8081",
                "-e", "DIFFUSION_SERVICES_UNET=dns:///unet:8082",
                "-e", "DIFFUSION_SERVICES_VAE=dns:///vae:8083",
                // the orchestrator's HTTP APIs take multipart uploads (OpenAI edits): Quarkus REST keeps them in
                // /tmp/uploads and creates that folder at start, so its /tmp is a small tmpfs (an emptyDir on k8s)
                "--tmpfs", "/tmp:rw,size=64m"));
        runService("orchestrator", port, orchestrator);
        for (String service : hostPorts.keySet()) {
            awaitReady(service);
        }
        System.out.printf("ImagesIT: Kafka and 4 service containers ready in %.0f s%n", (System.nanoTime() - started) / 1e9);
    }

    /**
     * Kafka (KRaft, the jars scripts/kafka.sh runs) in a container of the orchestrator's image (it is a JRE image),
     * reached by the others as kafka:9092.
     */
    void startKafka() throws Exception {
        Path classpath = work.resolve("kafka.classpath");
        Result cp = exec(Duration.ofSeconds(300), List.of(root.resolve("mvnw").toString(), "-B", "-q", "-f",
                root.resolve("scripts/kafka/pom.xml").toString(), "dependency:build-classpath", "-Dmdep.includeScope=runtime",
                "-Dmdep.outputFile=" + classpath));
        assertEquals(0, cp.rc(), "the broker's class path\n" + cp);
        Path libs = Files.createDirectories(work.resolve("kafka/libs"));
        for (String jar : Files.readString(classpath).strip().split(":")) {
            Files.copy(Path.of(jar), libs.resolve(Path.of(jar).getFileName()));
        }
        Files.writeString(work.resolve("kafka/server.properties"), """
                process.roles=broker,controller
                node.id=1
                controller.quorum.voters=1@127.0.0.1:9093
                listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093
                advertised.listeners=PLAINTEXT://kafka:9092
                controller.listener.names=CONTROLLER
                inter.broker.listener.name=PLAINTEXT
                listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
                log.dirs=/tmp/kafka-data
                num.partitions=1
                offsets.topic.replication.factor=1
                offsets.topic.num.partitions=4
                transaction.state.log.replication.factor=1
                transaction.state.log.min.isr=1
                transaction.state.log.num.partitions=4
                share.coordinator.state.topic.replication.factor=1
                share.coordinator.state.topic.min.isr=1
                group.initial.rebalance.delay.ms=0
                auto.create.topics.enable=true
                message.max.bytes=16777216
                """);
        Files.writeString(work.resolve("kafka/log4j2.properties"), """
                status = warn
                appender.console.type = Console
                appender.console.name = STDOUT
                appender.console.layout.type = PatternLayout
                appender.console.layout.pattern = [%d] %p %m (%c)%n
                rootLogger.level = WARN
                rootLogger.appenderRef.console.ref = STDOUT
                logger.kafka.name = kafka
                logger.kafka.level = INFO
                """);
        String java = "java -Xmx512m -XX:+UseSerialGC -Dlog4j2.configurationFile=/kafka/log4j2.properties -cp '/kafka/libs/*'";
        String name = network + "-kafka";
        containers.put("kafka", name);
        podmanOk("run", "-d", "--name", name, "--network", network, "--network-alias", "kafka",
                "-v", work.resolve("kafka") + ":/kafka:ro", "--entrypoint", "sh", images.get("orchestrator"), "-c",
                java + " kafka.tools.StorageTool format -t $(" + java + " kafka.tools.StorageTool random-uuid) "
                        + "-c /kafka/server.properties && exec " + java + " kafka.Kafka /kafka/server.properties");
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (!podman("logs", name).out().contains("Kafka Server started")) {
            assertTrue(System.nanoTime() < deadline, "Kafka did not start\n" + podman("logs", name));
            assertTrue(running(name), "the Kafka container exited\n" + podman("logs", name));
            Thread.sleep(1000);
        }
    }

    /**
     * One service container: read-only root filesystem and no tmpfs either (nothing is extracted or written at start),
     * its gRPC/HTTP port published on 127.0.0.1 for the test.
     */
    void runService(String service, int hostPort, List<String> extra) throws Exception {
        String name = network + "-" + service;
        containers.put(service, name);
        List<String> args = new ArrayList<>(List.of("run", "-d", "--name", name, "--network", network,
                "--network-alias", service, "--read-only", "--read-only-tmpfs=false",
                "-p", "127.0.0.1:" + hostPort + ":" + PORTS.get(service)));
        args.addAll(extra);
        args.add(images.get(service));
        podmanOk(args.toArray(String[]::new));
    }

    boolean running(String container) throws Exception {
        return podman("inspect", "--format", "{{.State.Running}}", container).out().strip().equals("true");
    }

    void awaitReady(String service) throws Exception {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        URI ready = URI.create("http://127.0.0.1:" + hostPorts.get(service) + "/q/health/ready");
        while (true) {
            try {
                HttpURLConnection c = (HttpURLConnection) ready.toURL().openConnection();
                c.setConnectTimeout(2000);
                c.setReadTimeout(5000);
                if (c.getResponseCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            String name = containers.get(service);
            assertTrue(running(name), service + " container exited\n" + podman("logs", name));
            assertTrue(System.nanoTime() < deadline, service + " not ready in " + READY_TIMEOUT.toSeconds() + " s\n" + podman("logs", name));
            Thread.sleep(1000);
        }
    }

    @AfterAll
    void removeEverything() throws Exception {
        if (containersConf == null) {
            return;
        }
        for (String name : containers.values()) {
            Result r = podman("rm", "-f", "-t", "0", name);
            if (r.rc() != 0) {
                System.err.println("ImagesIT: could not remove container " + name + "\n" + r);
            }
        }
        if (networkCreated) {
            podman("network", "rm", "-f", network);
        }
        for (String image : images.values()) {
            podman("rmi", "-f", image);
        }
        System.out.printf("ImagesIT: %.0f s in all%n", (System.nanoTime() - started) / 1e9);
    }

    @Test
    @Order(1)
    void servicesRunAsNonRootFromPreExtractedNativesOnAReadOnlyRoot() throws Exception {
        for (String service : SERVICES) {
            String name = containers.get(service);
            assertEquals("10001", podmanOk("exec", name, "id", "-u").strip(), service + " runs as user 10001");
            assertEquals("true", podmanOk("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name).strip());
            Result write = podman("exec", name, "touch", "/tmp/x");
            assertTrue(write.rc() != 0 && write.err().contains("Read-only file system"), "nothing is writable: " + write);
            String logs = podmanOk("logs", name);
            assertTrue(logs.contains("TensorFlow natives loaded from /app/natives (pre-extracted"), service + " logs:\n" + logs);
            assertTrue(logs.contains(" of shapes, fp32"), service + " serves the mounted model:\n" + logs);
            assertTrue(logs.contains("TensorFlow placed it on /device:CPU:0"), service + " logs its device:\n" + logs);
        }
    }

    static final String[] FLAGS = {"--prompt", "a red circle on the left on a white background", "--negative-prompt", "blue",
            "--width", "64", "--height", "64", "--steps", "6", "--sampler", "Euler a", "--cfg-scale", "6", "--seed", "77"};

    @Test
    @Order(2)
    void aSubmittedJobGivesThePixelsOfGenerate() throws Exception {
        List<String> submit = new ArrayList<>(List.of("submit", "--orchestrator", "127.0.0.1:" + hostPorts.get("orchestrator")));
        submit.addAll(List.of(FLAGS));
        submit.addAll(List.of("--wait", "--timeout", "240", "--out", "container.png", "--quiet"));
        Result r = sd(submit.toArray(String[]::new));
        assertEquals(0, r.rc(), r.toString());

        List<String> generate = new ArrayList<>(List.of("generate"));
        generate.addAll(List.of(FLAGS));
        generate.addAll(List.of("--out", "local.png", "--quiet"));
        Result g = sd(generate.toArray(String[]::new));
        assertEquals(0, g.rc(), g.toString());

        Png.Image container = Png.decode(Files.readAllBytes(work.resolve("container.png")));
        Png.Image local = Png.decode(Files.readAllBytes(work.resolve("local.png")));
        assertEquals(64, container.width());
        assertArrayEquals(local.rgb(), container.rgb(), "the containers' image differs from ./sd generate's");
        // the same settings; the model is named by its folder: demo here, shapes in the containers
        assertEquals(local.text().get("parameters").replace("Model: demo", "Model: shapes"), container.text().get("parameters"));
    }

    @Test
    @Order(3)
    void aJobCompletesThroughAUnetContainerKilledAndStartedAgain() throws Exception {
        String unet = containers.get("unet");
        String[] flags = {"--prompt", "a green square at the top on a black background", "--width", "256", "--height", "256",
                "--steps", "40", "--sampler", "DPM++ 2M", "--seed", "5"};
        GenerationJob job = GenerationJob.newBuilder().setPrompt(flags[1]).setWidth(256).setHeight(256).setSteps(40)
                .setSampler("DPM++ 2M").setSeed(5).build();
        AtomicBoolean killed = new AtomicBoolean();
        AtomicBoolean finishedBeforeKill = new AtomicBoolean();
        AtomicInteger stepAtKill = new AtomicInteger();
        CompletableFuture<Result> restart = new CompletableFuture<>();
        JobEvent last;
        long t0 = System.nanoTime();
        try (DiffusionClient client = DiffusionClient.connect("127.0.0.1:" + hostPorts.get("orchestrator"), Duration.ofSeconds(30), 20)) {
            String id = client.submit(DiffusionClient.withId(job));
            last = client.watch(id, e -> {
                if (e.hasProgress() && e.getProgress().getStep() >= 2 && killed.compareAndSet(false, true)) {
                    stepAtKill.set(e.getProgress().getStep());
                    CompletableFuture.runAsync(() -> {
                        try {
                            Result kill = podman("kill", "--signal", "KILL", unet);
                            finishedBeforeKill.set(client.get(id).getState() != JobStatus.State.RUNNING);
                            System.out.printf("ImagesIT: killed the U-Net container at step %d/40 (%s)%n", stepAtKill.get(), kill.rc());
                            restart.complete(podman("start", unet));
                        } catch (Exception ex) {
                            restart.completeExceptionally(ex);
                        }
                    });
                }
            }, Duration.ofSeconds(400));
        }
        System.out.printf("ImagesIT: the job with the U-Net killed and restarted took %.0f s%n", (System.nanoTime() - t0) / 1e9);
        assertTrue(killed.get(), "the U-Net container was killed during the job");
        assertEquals(0, restart.get(60, TimeUnit.SECONDS).rc(), "podman start of the U-Net container");
        assertFalse(finishedBeforeKill.get(), "the job was still running when the U-Net container died");
        assertEquals(JobEvent.Type.COMPLETED, last.getType(), last.toString());

        List<String> generate = new ArrayList<>(List.of("generate"));
        generate.addAll(List.of(flags));
        generate.addAll(List.of("--out", "restart-local.png", "--quiet"));
        Result g = sd(generate.toArray(String[]::new));
        assertEquals(0, g.rc(), g.toString());
        Png.Image local = Png.decode(Files.readAllBytes(work.resolve("restart-local.png")));
        Png.Image remote = Png.decode(last.getCompleted().getImages(0).getPng().toByteArray());
        assertArrayEquals(local.rgb(), remote.rgb(), "a job that outlived its U-Net gives the same pixels");
    }

    @Test
    @Order(4)
    void aDamagedNativesFolderIsRefusedNamingTheFile() throws Exception {
        // a natives folder with a truncated libjnitensorflow.so and nothing else, mounted over the image's
        Path natives = Files.createDirectories(work.resolve("bad-natives"));
        Files.write(natives.resolve("libjnitensorflow.so"), new byte[10]);
        String name = network + "-bad-natives";
        containers.put("bad-natives", name);
        podmanOk("run", "-d", "--name", name, "--network", network, "--read-only", "--read-only-tmpfs=false",
                "-v", natives + ":/app/natives:ro", "-e", "DIFFUSION_MODEL_PATH=/models/shapes",
                "-v", root.resolve("models/demo") + ":/models/shapes:ro", images.get("unet"));
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        String logs;
        while (!(logs = podman("logs", name).out() + podman("logs", name).err()).contains("loading the unet failed")) {
            assertTrue(System.nanoTime() < deadline, "no load failure logged\n" + logs);
            Thread.sleep(1000);
        }
        assertTrue(logs.contains("the native libraries in /app/natives (java.library.path) do not match"), logs);
        assertTrue(logs.contains("libjnitensorflow.so has 10 bytes, the jar's"), logs);
        assertTrue(logs.contains("libtensorflow_cc.so.2 is missing"), logs);
        podmanOk("rm", "-f", "-t", "0", name);
        containers.remove("bad-natives");
    }

    @Test
    @Order(5)
    void printsEachContainersMemory() throws Exception {
        List<String> names = new ArrayList<>(containers.values());
        List<String> args = new ArrayList<>(List.of("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}"));
        args.addAll(names);
        String stats = podmanOk(args.toArray(String[]::new));
        System.out.println("ImagesIT: memory of each container after the jobs (podman stats)\n" + stats);
        for (String name : names) {
            assertTrue(stats.contains(name), stats);
        }
    }
}
