package dev.diffusion.e2e;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A model service started for real: {@code java -jar <module>/target/quarkus-app/quarkus-run.jar} on a loopback port. */
final class ServiceProcess implements AutoCloseable {
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final String name;
    /** The loopback address it listens on (127.0.0.1, or another, as replicas behind one name do in ScaleOutIT). */
    final String host;
    final int port;
    final Path log;
    final long startNanos;
    private final Process process;
    long readyMillis = -1;

    private ServiceProcess(String name, String host, int port, Path log, Process process, long startNanos) {
        this.name = name;
        this.host = host;
        this.port = port;
        this.log = log;
        this.process = process;
        this.startNanos = startNanos;
    }

    /** Starts {@code module}'s fast-jar with a small heap and the JavaCPP memory guard off, as scripts/run-service.sh does. */
    static ServiceProcess start(String module, List<String> extraProperties) throws IOException {
        return start(module, freePort(), extraProperties);
    }

    /** As {@link #start(String, List)} on a given port (a service started again where its clients look for it). */
    static ServiceProcess start(String module, int port, List<String> extraProperties) throws IOException {
        Path logDir = Path.of(System.getProperty("build.dir", "target")).resolve("service-logs");
        return start(module, "127.0.0.1", port, extraProperties, logDir.resolve(module + "-" + port + ".log"));
    }

    /** As {@link #start(String, int, List)}, listening on loopback address {@code host} only. */
    static ServiceProcess start(String module, String host, int port, List<String> extraProperties) throws IOException {
        Path logDir = Path.of(System.getProperty("build.dir", "target")).resolve("service-logs");
        return start(module, host, port, extraProperties, logDir.resolve(module + "-" + host + "-" + port + ".log"));
    }

    /** As {@link #start(String, List)}, with its output in {@code log}; {@code extraProperties} may hold JVM flags too. */
    static ServiceProcess start(String module, List<String> extraProperties, Path log) throws IOException {
        return start(module, "127.0.0.1", freePort(), extraProperties, log);
    }

    private static ServiceProcess start(String module, String host, int port, List<String> extraProperties, Path log)
            throws IOException {
        Path jar = jar(module);
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing: build the services first (./mvnw -B verify builds them)");
        }
        Files.createDirectories(log.getParent());
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0",
                "-Dquarkus.http.port=" + port, "-Dquarkus.http.host=" + host,
                // the tests compare against the built-in tiny random model in process (the default is the demo model)
                "-Ddiffusion.model.path=tiny-random"));
        command.addAll(extraProperties);
        command.addAll(List.of("-jar", jar.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new ServiceProcess(module, host, port, log, p, System.nanoTime());
    }

    /**
     * Starts a service the way an operator does, through {@code scripts/run-service.sh} ({@code name}: text-encoder,
     * unet or vae), on a free loopback port, with {@code environment} changes (a null value removes the variable).
     */
    static ServiceProcess startScript(String name, List<String> properties, java.util.Map<String, String> environment)
            throws IOException {
        int port = freePort();
        Path root = Path.of(System.getProperty("repo.root", ".."));
        Path log = Path.of(System.getProperty("build.dir", "target")).resolve("service-logs").resolve(name + "-script-" + port + ".log");
        Files.createDirectories(log.getParent());
        List<String> command = new ArrayList<>(List.of(root.resolve("scripts/run-service.sh").toString(), name,
                "-Dquarkus.http.port=" + port, "-Dquarkus.http.host=127.0.0.1"));
        command.addAll(properties);
        ProcessBuilder pb = new ProcessBuilder(command).directory(root.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().put("SERVICE_HEAP", "512m");
        environment.forEach((k, v) -> {
            if (v == null) {
                pb.environment().remove(k);
            } else {
                pb.environment().put(k, v);
            }
        });
        return new ServiceProcess(name, "127.0.0.1", port, log, pb.start(), System.nanoTime());
    }

    /** {@code module}'s built fast-jar. */
    static Path jar(String module) {
        return Path.of(System.getProperty("repo.root", "..")).resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
    }

    /** Waits until {@code /q/health/ready} answers 200 (the model is loaded); returns the time from start. */
    long awaitReady(Duration timeout) throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name + " exited with " + process.exitValue() + ":\n" + Files.readString(log));
            }
            try {
                if (get("/q/health/ready").statusCode() == 200) {
                    readyMillis = (System.nanoTime() - startNanos) / 1_000_000;
                    return readyMillis;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException(name + " not ready after " + timeout + ":\n" + Files.readString(log));
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + path)).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    boolean alive() {
        return process.isAlive();
    }

    long pid() {
        return process.pid();
    }

    /** SIGKILL, as a crash or the kernel's OOM killer ends a process: no shutdown hook runs. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
