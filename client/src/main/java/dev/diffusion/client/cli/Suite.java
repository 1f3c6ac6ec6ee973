package dev.diffusion.client.cli;

import dev.diffusion.core.cli.Args;
import dev.diffusion.core.cli.UsageException;
import dev.diffusion.core.pipeline.ModelNames;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./sd up | down | status}: Kafka and the four services as background processes of this machine. Everything
 * lives in one run directory (default {@code <repo>/run}): {@code <service>.pid}, {@code <service>.log},
 * {@code suite.properties} (ports, Kafka, topics), {@code kafka/} when up started the broker. {@code down} stops
 * exactly the recorded pids (after checking each is still the service it started), never by name.
 */
final class Suite {
    record Service(String name, String module, int offset, String api) {
        Path jar(Path root) {
            return root.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
        }
    }

    static final List<Service> SERVICES = List.of(
            new Service("text-encoder", "text-encoder-service", 1, "diffusion.v1.TextEncoder"),
            new Service("unet", "unet-service", 2, "diffusion.v1.Denoiser"),
            new Service("vae", "vae-service", 3, "diffusion.v1.Vae"),
            new Service("orchestrator", "orchestrator", 0, "diffusion.v1.Generation (the public API)"));

    static final String HELP = """
            usage: ./sd up [--model PATH] [--tokenizer PATH] [--precision fp32|bf16] [--port-base N] [--kafka-port N]
                           [--topics PREFIX] [--timeout SECONDS] [--events-format protobuf|json] [--heap SIZE]
              starts Kafka (scripts/kafka.sh; a broker already answering on the port is reused and left running) and
              text-encoder (N+1), unet (N+2), vae (N+3), orchestrator (N) in the background, waits until each
              /q/health/ready is UP. --port-base defaults to $SD_PORT_BASE or 8080, --kafka-port to $KAFKA_PORT or
              9092, --topics to diffusion (topics PREFIX.jobs, PREFIX.events, PREFIX.jobs.dlq), --timeout to 300;
              --events-format json makes diffusion.events readable with kcat; --heap sets each service's -Xmx.
              Builds the services first when their jars are missing. Logs and pids: $SD_RUN_DIR (default run/).
            usage: ./sd down      stops what ./sd up started (the recorded pids; Kafka only if up started it)
            usage: ./sd status    pid, port and readiness of each service (exit 0 when all are ready, 1 otherwise)
            """;

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final Path root;
    private final Path runDir;
    private final PrintStream out;
    private final PrintStream err;

    Suite(Path root, Path runDir, PrintStream out, PrintStream err) {
        this.root = root;
        this.runDir = runDir;
        this.out = out;
        this.err = err;
    }

    Path stateFile() {
        return runDir.resolve("suite.properties");
    }

    Properties state() {
        Properties p = new Properties();
        Path f = stateFile();
        if (Files.isRegularFile(f)) {
            try (InputStream in = Files.newInputStream(f)) {
                p.load(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return p;
    }

    private void saveState(Properties p) throws IOException {
        Files.createDirectories(runDir);
        try (OutputStream o = Files.newOutputStream(stateFile())) {
            p.store(o, "written by ./sd up; read by ./sd down/status/submit/watch/get/cancel");
        }
    }

    Path pidFile(Service s) {
        return runDir.resolve(s.name() + ".pid");
    }

    Path logFile(Service s) {
        return runDir.resolve(s.name() + ".log");
    }

    String relative(Path p) {
        Path cwd = Path.of("").toAbsolutePath();
        Path abs = p.toAbsolutePath().normalize();
        return abs.startsWith(cwd) ? cwd.relativize(abs).toString() : abs.toString();
    }

    /** The recorded pid of s if that process is alive and still runs s's jar. */
    Optional<ProcessHandle> running(Service s) {
        Path f = pidFile(s);
        if (!Files.isRegularFile(f)) {
            return Optional.empty();
        }
        long pid;
        try {
            pid = Long.parseLong(Files.readString(f).trim());
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).filter(h -> isService(commandLine(h.pid()), s));
    }

    /** The command line is s's jar (or run-service.sh for s, in the instant before it execs java). */
    static boolean isService(String commandLine, Service s) {
        return commandLine.contains("/" + s.module() + "/target/quarkus-app/quarkus-run.jar")
                || commandLine.contains("run-service.sh " + s.name() + " ");
    }

    static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return ProcessHandle.of(pid).flatMap(h -> h.info().commandLine()).orElse("");
        }
    }

    static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static boolean ready(int port) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready"))
                    .timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------------ up

    int up(String[] argv) throws Exception {
        Args a = new Args(argv, Set.of("--model", "--tokenizer", "--precision", "--port-base", "--kafka-port",
                "--topics", "--timeout", "--heap", "--events-format"), Set.of());
        if (!a.positional().isEmpty()) {
            throw new UsageException("unexpected argument '" + a.positional().get(0) + "' (see ./sd help)");
        }
        String model = a.string("--model", ModelNames.DEMO); // tiny-random names the built-in random model
        if (!ModelNames.exists(model)) {
            throw new UsageException("--model: " + model + " does not exist");
        }
        String tokenizer = a.string("--tokenizer", null);
        if (tokenizer != null && !Files.exists(Path.of(tokenizer))) {
            throw new UsageException("--tokenizer: " + tokenizer + " does not exist");
        }
        String precision = a.string("--precision", "fp32");
        if (!precision.equals("fp32") && !precision.equals("bf16")) {
            throw new UsageException("--precision must be fp32 or bf16, got '" + precision + "'");
        }
        int base = a.integer("--port-base", envInt("SD_PORT_BASE", 8080), 1024, 65532);
        int kafkaPort = a.integer("--kafka-port", envInt("KAFKA_PORT", 9092), 1024, 65534);
        String topics = a.string("--topics", "diffusion");
        if (!topics.matches("[A-Za-z0-9._-]+")) {
            throw new UsageException("--topics must be letters, digits, '.', '_' or '-', got '" + topics + "'");
        }
        int timeout = a.integer("--timeout", 300, 1, 86_400);
        String eventsFormat = a.string("--events-format", "protobuf");
        if (!eventsFormat.equals("protobuf") && !eventsFormat.equals("json")) {
            throw new UsageException("--events-format must be protobuf or json, got '" + eventsFormat + "'");
        }
        String heap = a.string("--heap", null);

        // already (partly) up?
        List<String> alive = new ArrayList<>();
        for (Service s : SERVICES) {
            running(s).ifPresent(h -> alive.add(s.name()));
        }
        if (alive.size() == SERVICES.size()) {
            err.println("sd: the suite is already up (./sd down stops it)");
            return status(new String[0]);
        }
        if (!alive.isEmpty()) {
            throw new Exit.Failure(Exit.FAILED, "the suite is partly up (" + String.join(", ", alive)
                    + " running from " + relative(runDir) + "): run ./sd down first");
        }
        for (Service s : SERVICES) {
            int port = base + s.offset();
            if (listening(port)) {
                throw new Exit.Failure(Exit.FAILED, "port " + port + " (" + s.name() + ") is in use by another process: stop it, "
                        + "or pick other ports with ./sd up --port-base N (services on N..N+3)");
            }
        }
        Files.createDirectories(runDir);

        // build what is missing
        List<String> missing = new ArrayList<>();
        for (Service s : SERVICES) {
            if (!Files.isRegularFile(s.jar(root))) {
                missing.add(s.module());
            }
        }
        if (!missing.isEmpty()) {
            err.println("sd: building " + String.join(", ", missing) + " (first run; ./mvnw -B -q -DskipTests package) ...");
            int rc = shell("./mvnw -B -q -DskipTests package -pl " + String.join(",", missing) + " -am 1>&2", Map.of());
            if (rc != 0) {
                throw new Exit.Failure(Exit.FAILED, "the build failed (exit " + rc + "); run ./mvnw -B -DskipTests package to see why");
            }
        }

        // Kafka
        String bootstrap = "127.0.0.1:" + kafkaPort;
        boolean startedKafka = false;
        Path kafkaDir = runDir.resolve("kafka");
        if (listening(kafkaPort)) {
            err.println("sd: reusing the Kafka broker already answering on " + bootstrap + " (./sd down leaves it running)");
        } else {
            err.println("sd: starting Kafka on " + bootstrap + " (scripts/kafka.sh, data in " + relative(kafkaDir) + ") ...");
            int rc = shell("scripts/kafka.sh start 1>&2", Map.of("KAFKA_PORT", Integer.toString(kafkaPort), "KAFKA_DIR", kafkaDir.toString()));
            if (rc != 0) {
                throw new Exit.Failure(Exit.FAILED, "Kafka did not start on " + bootstrap + "; see " + relative(kafkaDir.resolve("logs")));
            }
            startedKafka = true;
        }

        Properties st = new Properties();
        st.setProperty("kafka.bootstrap", bootstrap);
        st.setProperty("kafka.started", Boolean.toString(startedKafka));
        st.setProperty("kafka.port", Integer.toString(kafkaPort));
        st.setProperty("kafka.dir", kafkaDir.toString());
        st.setProperty("topics.jobs", topics + ".jobs");
        st.setProperty("topics.events", topics + ".events");
        st.setProperty("topics.dlq", topics + ".jobs.dlq");
        st.setProperty("model", model);
        st.setProperty("orchestrator", "127.0.0.1:" + base);
        for (Service s : SERVICES) {
            st.setProperty("port." + s.name(), Integer.toString(base + s.offset()));
        }
        saveState(st);

        // the services
        long t0 = System.nanoTime();
        Map<Service, Process> started = new LinkedHashMap<>();
        for (Service s : SERVICES) {
            List<String> props = new ArrayList<>(List.of("-Dquarkus.http.port=" + (base + s.offset()), "-Dquarkus.http.host=127.0.0.1",
                    "-Ddiffusion.model.path=" + model));
            if (!s.name().equals("orchestrator")) {
                props.add("-Ddiffusion.precision=" + precision);
                if (tokenizer != null && s.name().equals("text-encoder")) {
                    props.add("-Ddiffusion.model.tokenizer=" + tokenizer);
                }
            } else {
                props.addAll(List.of("-Ddiffusion.kafka.bootstrap-servers=" + bootstrap,
                        "-Ddiffusion.topics.jobs=" + topics + ".jobs", "-Ddiffusion.topics.events=" + topics + ".events",
                        "-Ddiffusion.topics.dlq=" + topics + ".jobs.dlq", "-Ddiffusion.topics.control=" + topics + ".control",
                        "-Ddiffusion.events.format=" + eventsFormat,
                        "-Ddiffusion.services.text-encoder=dns:///127.0.0.1:" + (base + 1),
                        "-Ddiffusion.services.unet=dns:///127.0.0.1:" + (base + 2),
                        "-Ddiffusion.services.vae=dns:///127.0.0.1:" + (base + 3)));
                if (!topics.equals("diffusion")) {
                    props.add("-Ddiffusion.kafka.group-id=" + topics + "-orchestrator");
                }
            }
            Process p = launch(s, props, heap);
            Files.writeString(pidFile(s), p.pid() + "\n");
            started.put(s, p);
        }

        // wait until every one is ready
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeout);
        Map<Service, Boolean> isReady = new LinkedHashMap<>();
        while (isReady.size() < SERVICES.size()) {
            for (Map.Entry<Service, Process> e : started.entrySet()) {
                Service s = e.getKey();
                if (isReady.containsKey(s)) {
                    continue;
                }
                if (!e.getValue().isAlive()) {
                    stopAll(false);
                    throw new Exit.Failure(Exit.FAILED, s.name() + " exited during startup (exit code " + e.getValue().exitValue()
                            + "); see " + relative(logFile(s)) + tail(logFile(s)));
                }
                if (ready(base + s.offset())) {
                    isReady.put(s, true);
                    err.printf("sd: %-12s ready on 127.0.0.1:%d (%.1f s)%n", s.name(), base + s.offset(), (System.nanoTime() - t0) / 1e9);
                }
            }
            if (isReady.size() == SERVICES.size()) {
                break;
            }
            if (System.nanoTime() > deadline) {
                List<String> late = new ArrayList<>();
                for (Service s : SERVICES) {
                    if (!isReady.containsKey(s)) {
                        late.add(s.name() + " (port " + (base + s.offset()) + ", log " + relative(logFile(s)) + ")");
                    }
                }
                stopAll(false);
                throw new Exit.Failure(Exit.FAILED, "not ready after " + timeout + " s: " + String.join(", ", late)
                        + " — read the log; a big model may need ./sd up --timeout 900");
            }
            Thread.sleep(250);
        }
        out.printf("suite up in %.1f s (model %s); logs and pids in %s%n", (System.nanoTime() - t0) / 1e9, model, relative(runDir));
        for (Service s : SERVICES) {
            out.printf("  %-12s 127.0.0.1:%-5d pid %-7d %s%n", s.name(), base + s.offset(), started.get(s).pid(), s.api());
        }
        out.printf("  %-12s %s %s%n", "kafka", bootstrap, startedKafka ? "(started by ./sd up)" : "(already running; ./sd down leaves it)");
        out.println("next: ./sd submit --prompt \"a photo of a cat\" --wait --out cat.png   |   ./sd status   |   ./sd down");
        return Exit.OK;
    }

    private static int envInt(String name, int def) {
        String v = System.getenv(name);
        if (v == null || v.isBlank()) {
            return def;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("$" + name + " must be a whole number, got '" + v + "'");
        }
    }

    /** Starts s in its own session (so a Ctrl-C meant for a later command does not reach it), output to its log. */
    private Process launch(Service s, List<String> props, String heap) throws IOException {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            cmd.add("/usr/bin/setsid");
        }
        ProcessBuilder pb = new ProcessBuilder();
        if (s.name().equals("orchestrator")) {
            // no weights here, but the same JVM flags as scripts/run-service.sh gives the model services
            cmd.addAll(List.of(javaBin(), "-Xmx" + (heap != null ? heap : "512m"), "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0",
                    "-Dorg.bytedeco.javacpp.maxBytes=0", "-XX:+ExitOnOutOfMemoryError"));
            cmd.addAll(props);
            cmd.addAll(List.of("-jar", s.jar(root).toString()));
        } else {
            cmd.add(root.resolve("scripts/run-service.sh").toString());
            cmd.add(s.name());
            cmd.addAll(props);
            if (heap != null) {
                pb.environment().put("SERVICE_HEAP", heap);
            }
        }
        pb.command(cmd).directory(root.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.to(logFile(s).toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        return pb.start();
    }

    private static String javaBin() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private int shell(String command, Map<String, String> env) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", command).directory(root.toFile()).inheritIO();
        pb.environment().putAll(env);
        return pb.start().waitFor();
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            List<String> last = lines.subList(Math.max(0, lines.size() - 15), lines.size());
            return last.isEmpty() ? "" : "; its last lines:\n    " + String.join("\n    ", last);
        } catch (IOException | UncheckedIOException e) {
            return "";
        }
    }

    // ------------------------------------------------------------------------------------------------ down

    int down(String[] argv) throws Exception {
        Args a = new Args(argv, Set.of(), Set.of());
        if (!a.positional().isEmpty()) {
            throw new UsageException("unexpected argument '" + a.positional().get(0) + "' (./sd down takes none)");
        }
        if (!Files.isRegularFile(stateFile()) && SERVICES.stream().noneMatch(s -> Files.exists(pidFile(s)))) {
            out.println("nothing to stop (no suite recorded in " + relative(runDir) + ")");
            return Exit.OK;
        }
        stopAll(true);
        return Exit.OK;
    }

    private void stopAll(boolean verbose) throws Exception {
        // the orchestrator first: it stops taking jobs before the model services go away
        List<Service> order = new ArrayList<>(SERVICES);
        order.sort((x, y) -> Boolean.compare(!x.name().equals("orchestrator"), !y.name().equals("orchestrator")));
        Map<Service, ProcessHandle> stopping = new LinkedHashMap<>();
        for (Service s : order) {
            Optional<ProcessHandle> h = running(s);
            if (h.isPresent()) {
                h.get().destroy();
                stopping.put(s, h.get());
            } else if (verbose && Files.exists(pidFile(s))) {
                out.printf("%-12s not running%n", s.name());
            }
        }
        for (Map.Entry<Service, ProcessHandle> e : stopping.entrySet()) {
            ProcessHandle h = e.getValue();
            try {
                h.onExit().get(20, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException t) {
                h.destroyForcibly();
                h.onExit().get(10, TimeUnit.SECONDS);
            }
            if (verbose) {
                out.printf("%-12s stopped (pid %d)%n", e.getKey().name(), h.pid());
            }
        }
        for (Service s : SERVICES) {
            Files.deleteIfExists(pidFile(s));
        }
        Properties st = state();
        if (Boolean.parseBoolean(st.getProperty("kafka.started"))) {
            int rc = shell("scripts/kafka.sh stop 1>&2", Map.of("KAFKA_DIR", st.getProperty("kafka.dir"),
                    "KAFKA_PORT", st.getProperty("kafka.port", "9092")));
            if (verbose) {
                out.printf("%-12s %s%n", "kafka", rc == 0 ? "stopped" : "stop failed (scripts/kafka.sh exit " + rc + ")");
            }
        } else if (verbose && st.getProperty("kafka.bootstrap") != null) {
            out.printf("%-12s left running on %s (./sd up did not start it)%n", "kafka", st.getProperty("kafka.bootstrap"));
        }
        Files.deleteIfExists(stateFile());
    }

    // ------------------------------------------------------------------------------------------------ status

    int status(String[] argv) {
        Args a = new Args(argv, Set.of(), Set.of());
        if (!a.positional().isEmpty()) {
            throw new UsageException("unexpected argument '" + a.positional().get(0) + "' (./sd status takes none)");
        }
        Properties st = state();
        if (st.isEmpty()) {
            out.println("the suite is not running (no " + relative(stateFile()) + "; ./sd up starts it)");
            return Exit.FAILED;
        }
        boolean allReady = true;
        out.printf("%-12s %-8s %-6s %s%n", "SERVICE", "PID", "PORT", "STATE");
        for (Service s : SERVICES) {
            int port = Integer.parseInt(st.getProperty("port." + s.name(), "0"));
            Optional<ProcessHandle> h = running(s);
            String state;
            if (h.isEmpty()) {
                state = "not running (log " + relative(logFile(s)) + ")";
                allReady = false;
            } else if (ready(port)) {
                state = "ready";
            } else {
                state = "not ready (log " + relative(logFile(s)) + ")";
                allReady = false;
            }
            out.printf("%-12s %-8s %-6d %s%n", s.name(), h.map(p -> Long.toString(p.pid())).orElse("-"), port, state);
        }
        int kafkaPort = Integer.parseInt(st.getProperty("kafka.port", "9092"));
        boolean kafkaUp = listening(kafkaPort);
        allReady &= kafkaUp;
        out.printf("%-12s %-8s %-6d %s%s%n", "kafka", "-", kafkaPort, kafkaUp ? "running" : "not answering",
                Boolean.parseBoolean(st.getProperty("kafka.started")) ? " (started by ./sd up)" : " (not started by ./sd up)");
        out.println("model " + st.getProperty("model") + "; topics " + st.getProperty("topics.jobs") + ", "
                + st.getProperty("topics.events") + "; run dir " + relative(runDir));
        return allReady ? Exit.OK : Exit.FAILED;
    }
}
