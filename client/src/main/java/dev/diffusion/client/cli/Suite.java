package dev.diffusion.client.cli;

import dev.diffusion.core.cli.Args;
import dev.diffusion.core.cli.UsageException;
import dev.diffusion.core.nn.Precision;
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
import java.util.stream.Collectors;

/**
 * {@code ./sd up | down | status}: Kafka and the four services as background processes of this machine. Everything
 * lives in one run directory (default {@code <repo>/run}): {@code <service>.pid}, {@code <service>.log},
 * {@code suite.properties} (the settings: model, precision, ports, Kafka, topics, ...), {@code kafka/} when up started
 * the broker. {@code up} on a partly running suite starts only the missing parts, with the recorded settings.
 * {@code down} stops exactly the recorded pids (after checking each is still the service it started), never by name.
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
                           [--lora-dir DIR] [--unet-replicas N] [--attention-slice-mb N]
              starts Kafka (scripts/kafka.sh; a broker already answering on the port is reused and left running) and
              text-encoder (N+1), unet (N+2), vae (N+3), orchestrator (N) in the background, waits until each
              /q/health/ready is UP. --port-base defaults to $SD_PORT_BASE or 8080, --kafka-port to $KAFKA_PORT or
              9092, --topics to diffusion (topics PREFIX.jobs, PREFIX.events, PREFIX.jobs.dlq), --timeout to 300;
              --events-format json makes diffusion.events readable with kcat; --heap sets each service's -Xmx.
              --lora-dir DIR: the folder the text-encoder and U-Net services find jobs' LoRAs in (<lora:name:w>, loras).
              --unet-replicas N (1..64, default 1): copies of the U-Net in its service, the cores shared between them and
              each call's batch split over them; for small models on few cores (the demo model), N x its weight memory.
              --attention-slice-mb N (default 0 = whole): the U-Net and VAE services compute attention N MiB of scores at a
              time, so that large images fit (SD 1.5 at 1024x1024 needs 16 GiB in one piece; 512 fits it in ~7 GiB).
              Builds the services first when their jars are missing. Logs and pids: $SD_RUN_DIR (default run/).
              Run again while the suite recorded there is partly up, it starts only what is not running (Kafka too,
              when nothing answers on its port) with the recorded settings, and leaves the rest alone; a flag that
              differs from the recorded setting is refused (exit 2): ./sd down first to change it.
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

    /**
     * What the suite runs with, recorded in suite.properties by the {@code up} that started it, so that a later
     * {@code up} restarts a missing part the same way. Model and tokenizer paths are absolute (the services run in
     * the repository root).
     */
    record Settings(String model, String tokenizer, String precision, int portBase, int kafkaPort, String topics,
                    String eventsFormat, String heap, String loraDir, int unetReplicas, int attentionSliceMb) {
        /** Each setting under the flag of ./sd up that sets it ("" when not set). */
        Map<String, String> byFlag() {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("--model", model);
            m.put("--tokenizer", tokenizer == null ? "" : tokenizer);
            m.put("--precision", precision);
            m.put("--port-base", Integer.toString(portBase));
            m.put("--kafka-port", Integer.toString(kafkaPort));
            m.put("--topics", topics);
            m.put("--events-format", eventsFormat);
            m.put("--heap", heap == null ? "" : heap);
            m.put("--lora-dir", loraDir == null ? "" : loraDir);
            m.put("--unet-replicas", Integer.toString(unetReplicas));
            m.put("--attention-slice-mb", Integer.toString(attentionSliceMb));
            return m;
        }

        void record(Properties p) {
            p.setProperty("model", model);
            if (tokenizer != null) {
                p.setProperty("tokenizer", tokenizer);
            }
            p.setProperty("precision", precision);
            p.setProperty("port.base", Integer.toString(portBase));
            p.setProperty("kafka.port", Integer.toString(kafkaPort));
            p.setProperty("kafka.bootstrap", "127.0.0.1:" + kafkaPort);
            p.setProperty("topics", topics);
            p.setProperty("topics.jobs", topics + ".jobs");
            p.setProperty("topics.events", topics + ".events");
            p.setProperty("topics.dlq", topics + ".jobs.dlq");
            p.setProperty("events.format", eventsFormat);
            if (heap != null) {
                p.setProperty("heap", heap);
            }
            if (loraDir != null) {
                p.setProperty("lora.dir", loraDir);
            }
            p.setProperty("unet.replicas", Integer.toString(unetReplicas));
            p.setProperty("attention.slice-mb", Integer.toString(attentionSliceMb));
            p.setProperty("orchestrator", "127.0.0.1:" + portBase);
            for (Service s : SERVICES) {
                p.setProperty("port." + s.name(), Integer.toString(portBase + s.offset()));
            }
        }

        /** The recorded settings (a suite.properties of before precision etc. were recorded: their defaults). */
        static Settings recorded(Properties p) {
            String topics = p.getProperty("topics", p.getProperty("topics.jobs", "diffusion.jobs").replaceFirst("\\.jobs$", ""));
            return new Settings(p.getProperty("model", ModelNames.DEMO), p.getProperty("tokenizer"),
                    p.getProperty("precision", "fp32"),
                    Integer.parseInt(p.getProperty("port.base", p.getProperty("port.orchestrator", "8080"))),
                    Integer.parseInt(p.getProperty("kafka.port", "9092")), topics,
                    p.getProperty("events.format", "protobuf"), p.getProperty("heap"), p.getProperty("lora.dir"),
                    Integer.parseInt(p.getProperty("unet.replicas", "1")),
                    Integer.parseInt(p.getProperty("attention.slice-mb", "0")));
        }
    }

    int up(String[] argv) throws Exception {
        Args a = new Args(argv, Set.of("--model", "--tokenizer", "--precision", "--port-base", "--kafka-port",
                "--topics", "--timeout", "--heap", "--events-format", "--lora-dir", "--unet-replicas", "--attention-slice-mb"),
                Set.of());
        if (!a.positional().isEmpty()) {
            throw new UsageException("unexpected argument '" + a.positional().get(0) + "' (see ./sd help)");
        }
        String model = a.string("--model", ModelNames.DEMO); // tiny-random names the built-in random model
        if (!ModelNames.exists(model)) {
            throw new UsageException("--model: " + model + " does not exist");
        }
        if (!model.equals(ModelNames.DEMO) && !model.equals(ModelNames.TINY_RANDOM)) {
            model = Path.of(model).toAbsolutePath().normalize().toString();
        }
        String tokenizer = a.string("--tokenizer", null);
        if (tokenizer != null) {
            if (!Files.exists(Path.of(tokenizer))) {
                throw new UsageException("--tokenizer: " + tokenizer + " does not exist");
            }
            tokenizer = Path.of(tokenizer).toAbsolutePath().normalize().toString();
        }
        String precision;
        try {
            precision = Precision.parse(a.string("--precision", "fp32")).name().toLowerCase(java.util.Locale.ROOT);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--" + e.getMessage());
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
        if (heap != null && !heap.matches("[1-9][0-9]{0,6}[kKmMgG]?")) {
            throw new UsageException("--heap must be a Java heap size such as 512m or 2g, got '" + heap + "'");
        }
        String loraDir = a.string("--lora-dir", null);
        if (loraDir != null) {
            if (!Files.isDirectory(Path.of(loraDir))) {
                throw new UsageException("--lora-dir: " + loraDir + " is not a folder");
            }
            loraDir = Path.of(loraDir).toAbsolutePath().normalize().toString();
        }
        int unetReplicas = a.integer("--unet-replicas", 1, 1, 64);
        int sliceMb = a.integer("--attention-slice-mb", 0, 0, 1 << 20);
        Settings wanted = new Settings(model, tokenizer, precision, base, kafkaPort, topics, eventsFormat, heap, loraDir,
                unetReplicas, sliceMb);
        // what this command asked for (a flag, or the environment variable standing in for it), flag -> how
        Map<String, String> asked = new LinkedHashMap<>();
        for (String flag : wanted.byFlag().keySet()) {
            if (a.has(flag)) {
                asked.put(flag, "");
            }
        }
        if (!a.has("--port-base") && System.getenv("SD_PORT_BASE") != null && !System.getenv("SD_PORT_BASE").isBlank()) {
            asked.put("--port-base", " (from $SD_PORT_BASE)");
        }
        if (!a.has("--kafka-port") && System.getenv("KAFKA_PORT") != null && !System.getenv("KAFKA_PORT").isBlank()) {
            asked.put("--kafka-port", " (from $KAFKA_PORT)");
        }

        // a suite recorded here with something of it still running: start only what is not running, as recorded
        Properties st = state();
        List<Service> alive = new ArrayList<>();
        for (Service s : SERVICES) {
            if (running(s).isPresent()) {
                alive.add(s);
            }
        }
        if (!st.isEmpty()) {
            Settings recorded = Settings.recorded(st);
            boolean ourKafkaUp = Boolean.parseBoolean(st.getProperty("kafka.started")) && listening(recorded.kafkaPort());
            if (!alive.isEmpty() || ourKafkaUp) {
                refuseChanges(recorded, wanted, asked);
                return resume(st, recorded, alive, timeout);
            }
        }
        if (!alive.isEmpty()) { // pid files without suite.properties: not a suite this command can complete
            throw new Exit.Failure(Exit.FAILED, "the suite is partly up (" + names(alive) + " running from " + relative(runDir)
                    + ") but " + relative(stateFile()) + " is missing: run ./sd down first");
        }
        for (Service s : SERVICES) {
            checkPortFree(s, base);
        }
        Files.createDirectories(runDir);
        buildMissing(SERVICES);

        // Kafka
        String bootstrap = "127.0.0.1:" + kafkaPort;
        boolean startedKafka = false;
        Path kafkaDir = runDir.resolve("kafka");
        if (listening(kafkaPort)) {
            err.println("sd: reusing the Kafka broker already answering on " + bootstrap + " (./sd down leaves it running)");
        } else {
            startKafka(kafkaPort, kafkaDir);
            startedKafka = true;
        }

        st = new Properties();
        wanted.record(st);
        st.setProperty("kafka.started", Boolean.toString(startedKafka));
        st.setProperty("kafka.dir", kafkaDir.toString());
        saveState(st);

        long t0 = System.nanoTime();
        Map<Service, Process> started = launch(SERVICES, wanted);
        Map<Service, Long> pids = awaitReady(started, Map.of(), wanted, timeout, t0);
        out.printf("suite up in %.1f s (model %s); logs and pids in %s%n", (System.nanoTime() - t0) / 1e9, model, relative(runDir));
        printSummary(pids, wanted, startedKafka ? "(started by ./sd up)" : "(already running; ./sd down leaves it)");
        return Exit.OK;
    }

    /** Refuses (exit 2) a flag of this command that differs from the running suite's recorded setting. */
    private void refuseChanges(Settings recorded, Settings wanted, Map<String, String> asked) {
        for (Map.Entry<String, String> e : asked.entrySet()) {
            String flag = e.getKey();
            String want = wanted.byFlag().get(flag);
            String have = recorded.byFlag().get(flag);
            if (!want.equals(have)) {
                throw new UsageException(flag + " " + want + e.getValue() + " differs from the suite running from "
                        + relative(runDir) + " (" + flag + " " + (have.isEmpty() ? "not set" : have) + ", recorded in "
                        + relative(stateFile()) + "): ./sd up starts only what is not running, with the recorded settings; "
                        + "./sd down first to change them");
            }
        }
    }

    /** Starts whatever of the recorded suite is not running (Kafka too, when nothing answers on its port). */
    private int resume(Properties st, Settings cfg, List<Service> alive, int timeout) throws Exception {
        Map<Service, Long> running = new LinkedHashMap<>();
        for (Service s : alive) {
            running.put(s, running(s).orElseThrow().pid());
        }
        List<Service> missing = SERVICES.stream().filter(s -> !running.containsKey(s)).toList();
        boolean kafkaDown = !listening(cfg.kafkaPort());
        if (missing.isEmpty() && !kafkaDown) {
            err.println("sd: the suite is already up (./sd down stops it)");
            return status(new String[0]);
        }
        for (Service s : missing) {
            checkPortFree(s, cfg.portBase());
        }
        buildMissing(missing);
        if (kafkaDown) {
            Path kafkaDir = Path.of(st.getProperty("kafka.dir", runDir.resolve("kafka").toString()));
            startKafka(cfg.kafkaPort(), kafkaDir);
            st.setProperty("kafka.started", "true"); // ./sd down stops it now
            st.setProperty("kafka.dir", kafkaDir.toString());
            saveState(st);
        }
        if (!missing.isEmpty()) {
            err.println("sd: starting " + names(missing) + " (not running); " + (running.isEmpty() ? "no other service was running"
                    : running.keySet().stream().map(s -> s.name() + " (pid " + running.get(s) + ")").collect(Collectors.joining(", "))
                    + " already running") + "; the settings recorded in " + relative(stateFile()));
        }
        long t0 = System.nanoTime();
        Map<Service, Process> started = launch(missing, cfg);
        Map<Service, Long> pids = awaitReady(started, running, cfg, timeout, t0);
        out.printf("suite up in %.1f s (model %s; started %s); logs and pids in %s%n", (System.nanoTime() - t0) / 1e9,
                cfg.model(), missing.isEmpty() ? "kafka" : names(missing) + (kafkaDown ? ", kafka" : ""), relative(runDir));
        printSummary(pids, cfg, Boolean.parseBoolean(st.getProperty("kafka.started")) ? "(started by ./sd up)"
                : "(already running; ./sd down leaves it)");
        return Exit.OK;
    }

    private static String names(List<Service> services) {
        return services.stream().map(Service::name).collect(Collectors.joining(", "));
    }

    private void checkPortFree(Service s, int base) {
        int port = base + s.offset();
        if (listening(port)) {
            throw new Exit.Failure(Exit.FAILED, "port " + port + " (" + s.name() + ") is in use by another process: stop it, "
                    + "or pick other ports with ./sd up --port-base N (services on N..N+3)");
        }
    }

    /** Builds the jars of {@code services} that are missing. */
    private void buildMissing(List<Service> services) throws IOException, InterruptedException {
        List<String> missing = new ArrayList<>();
        for (Service s : services) {
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
    }

    private void startKafka(int kafkaPort, Path kafkaDir) throws IOException, InterruptedException {
        String bootstrap = "127.0.0.1:" + kafkaPort;
        err.println("sd: starting Kafka on " + bootstrap + " (scripts/kafka.sh, data in " + relative(kafkaDir) + ") ...");
        int rc = shell("scripts/kafka.sh start 1>&2", Map.of("KAFKA_PORT", Integer.toString(kafkaPort), "KAFKA_DIR", kafkaDir.toString()));
        if (rc != 0) {
            throw new Exit.Failure(Exit.FAILED, "Kafka did not start on " + bootstrap + "; see " + relative(kafkaDir.resolve("logs")));
        }
    }

    /**
     * Starts {@code services} with {@code cfg}, each pid recorded at once. The model services need not wait for one
     * another: each checks and loads TensorFlow's native libraries under a lock in JavaCPP's cache
     * (dev.diffusion.core.nn.TensorFlowNatives), so the first extracts them and the others wait for it.
     */
    private Map<Service, Process> launch(List<Service> services, Settings cfg) throws IOException {
        Map<Service, Process> started = new LinkedHashMap<>();
        int base = cfg.portBase();
        for (Service s : services) {
            List<String> props = new ArrayList<>(List.of("-Dquarkus.http.port=" + (base + s.offset()), "-Dquarkus.http.host=127.0.0.1",
                    "-Ddiffusion.model.path=" + cfg.model()));
            if (!s.name().equals("orchestrator")) {
                props.add("-Ddiffusion.precision=" + cfg.precision());
                if (cfg.tokenizer() != null && s.name().equals("text-encoder")) {
                    props.add("-Ddiffusion.model.tokenizer=" + cfg.tokenizer());
                }
                if (cfg.loraDir() != null && !s.name().equals("vae")) {
                    props.add("-Ddiffusion.lora.dir=" + cfg.loraDir());
                }
                if (s.name().equals("unet") && cfg.unetReplicas() > 1) { // scripts/run-service.sh gives it own pools
                    props.add("-Ddiffusion.unet.replicas=" + cfg.unetReplicas());
                }
                if (cfg.attentionSliceMb() > 0 && !s.name().equals("text-encoder")) {
                    props.add("-Ddiffusion.attention.slice-mb=" + cfg.attentionSliceMb());
                }
            } else {
                if (cfg.tokenizer() != null) { // so that prompts over the token limit are refused when submitted
                    props.add("-Ddiffusion.model.tokenizer=" + cfg.tokenizer());
                }
                String topics = cfg.topics();
                props.addAll(List.of("-Ddiffusion.kafka.bootstrap-servers=127.0.0.1:" + cfg.kafkaPort(),
                        "-Ddiffusion.topics.jobs=" + topics + ".jobs", "-Ddiffusion.topics.events=" + topics + ".events",
                        "-Ddiffusion.topics.dlq=" + topics + ".jobs.dlq", "-Ddiffusion.topics.control=" + topics + ".control",
                        "-Ddiffusion.events.format=" + cfg.eventsFormat(),
                        "-Ddiffusion.services.text-encoder=dns:///127.0.0.1:" + (base + 1),
                        "-Ddiffusion.services.unet=dns:///127.0.0.1:" + (base + 2),
                        "-Ddiffusion.services.vae=dns:///127.0.0.1:" + (base + 3)));
                if (!topics.equals("diffusion")) {
                    props.add("-Ddiffusion.kafka.group-id=" + topics + "-orchestrator");
                }
            }
            Process p = launch(s, props, cfg.heap());
            Files.writeString(pidFile(s), p.pid() + "\n");
            started.put(s, p);
        }
        return started;
    }

    /**
     * Waits until every service is ready: those {@code started} now and those {@code running} before. When one of
     * those started now exits or the time runs out, stops what this command started (a first up: the whole suite)
     * and fails. Returns every service's pid.
     */
    private Map<Service, Long> awaitReady(Map<Service, Process> started, Map<Service, Long> running, Settings cfg, int timeout,
                                          long t0) throws Exception {
        int base = cfg.portBase();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeout);
        Map<Service, Long> ready = new LinkedHashMap<>();
        while (true) {
            for (Service s : SERVICES) {
                if (ready.containsKey(s)) {
                    continue;
                }
                Process p = started.get(s);
                if (p != null && !p.isAlive()) {
                    stopStarted(started, running);
                    throw new Exit.Failure(Exit.FAILED, s.name() + " exited during startup (exit code " + p.exitValue()
                            + "); see " + relative(logFile(s)) + tail(logFile(s)));
                }
                if (ready(base + s.offset())) {
                    ready.put(s, p != null ? p.pid() : running.get(s));
                    if (p != null) {
                        err.printf("sd: %-12s ready on 127.0.0.1:%d (%.1f s)%n", s.name(), base + s.offset(), (System.nanoTime() - t0) / 1e9);
                    }
                }
            }
            if (ready.size() == SERVICES.size()) {
                break;
            }
            if (System.nanoTime() > deadline) {
                List<String> late = new ArrayList<>();
                for (Service s : SERVICES) {
                    if (!ready.containsKey(s)) {
                        late.add(s.name() + " (port " + (base + s.offset()) + ", log " + relative(logFile(s)) + ")");
                    }
                }
                stopStarted(started, running);
                throw new Exit.Failure(Exit.FAILED, "not ready after " + timeout + " s: " + String.join(", ", late)
                        + " — read the log; a big model may need ./sd up --timeout 900");
            }
            Thread.sleep(250);
        }
        Map<Service, Long> pids = new LinkedHashMap<>();
        for (Service s : SERVICES) {
            pids.put(s, ready.get(s));
        }
        return pids;
    }

    /** After a failed start: a first up stops the whole suite; a restart stops only what it started. */
    private void stopStarted(Map<Service, Process> started, Map<Service, Long> running) throws Exception {
        if (running.isEmpty()) {
            stopAll(false);
            return;
        }
        for (Map.Entry<Service, Process> e : started.entrySet()) {
            e.getValue().toHandle().destroy();
        }
        for (Map.Entry<Service, Process> e : started.entrySet()) {
            if (!e.getValue().waitFor(20, TimeUnit.SECONDS)) {
                e.getValue().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            Files.deleteIfExists(pidFile(e.getKey()));
        }
    }

    private void printSummary(Map<Service, Long> pids, Settings cfg, String kafkaNote) {
        for (Service s : SERVICES) {
            out.printf("  %-12s 127.0.0.1:%-5d pid %-7d %s%n", s.name(), cfg.portBase() + s.offset(), pids.get(s), s.api());
        }
        out.printf("  %-12s %s %s%n", "kafka", "127.0.0.1:" + cfg.kafkaPort(), kafkaNote);
        out.println("next: ./sd submit --prompt \"a photo of a cat\" --wait --out cat.png   |   ./sd status   |   ./sd down");
        out.printf("      or in a browser: http://127.0.0.1:%d/ (A1111 /sdapi/v1 and OpenAI /v1/images on that port too)%n", cfg.portBase());
    }

    private static int envInt(String name, int def) {
        String v = System.getenv(name);
        if (v == null || v.isBlank()) {
            return def;
        }
        try {
            return dev.diffusion.core.cli.PlainNumbers.parseInt(v);
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
            // no weights here, but the same JVM flags (and heap) as scripts/run-service.sh gives the model services: HTTP
            // img2img bodies (up to 64 MB of base64) and their images are decoded on its heap
            cmd.addAll(List.of(javaBin(), "-Xmx" + (heap != null ? heap : "1g"), "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0",
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
