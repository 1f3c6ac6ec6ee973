package dev.diffusion.client.cli;

import dev.diffusion.core.cli.Args;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import dev.diffusion.client.DiffusionClient;
import dev.diffusion.client.KafkaEvents;
import dev.diffusion.client.KafkaJobSubmitter;
import dev.diffusion.core.cli.GenerationOptions;
import dev.diffusion.core.cli.UsageException;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.proto.v1.CancelResponse;
import dev.diffusion.proto.v1.GeneratedImage;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import dev.diffusion.proto.v1.SubmitResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;
import java.util.function.Consumer;

/** {@code ./sd submit | watch | cancel | get}: the orchestrator over gRPC (or Kafka for submit), through {@link DiffusionClient}. */
final class Remote {
    static final String HELP = """
            usage: ./sd submit --prompt TEXT [generation options] [--wait [--out FILE.png]] [--json] [--via grpc|kafka]
                              [--job-id ID] [--no-check] [--quiet] [--timeout SECONDS]
              queues a job on the suite and prints its id; --wait follows it (progress bar on stderr) and writes the
              PNG(s) (--out, default output.png; <stem>-<i>.png for a batch). Generation options as for ./sd generate:
              --prompt --negative-prompt --width --height --steps --sampler --scheduler --cfg-scale --seed --rng
              --batch-count --clip-skip --comma-padding-backtrack --pad-cond-uncond --init-image --strength --mask
              --mask-blur --mask-invert, checked the same way before anything is sent
              (--no-check sends them as given and lets the orchestrator judge). --via kafka puts a GenerationJob
              record on the jobs topic (--kafka-json: as JSON) and, with --wait, follows the events topic.
            usage: ./sd watch JOB [--json] [--out FILE.png] [--quiet] [--timeout SECONDS]   follow a job to its end
            usage: ./sd get JOB [--json] [--out FILE.png]               its state (and images once COMPLETED)
            usage: ./sd cancel JOB [--wait] [--json]                    stop it (--wait: until it has stopped)
              --json: one JSON object per line (proto3 JSON mapping of JobEvent / JobStatus / SubmitResponse / CancelResponse)
              --orchestrator HOST:PORT (default $SD_ORCHESTRATOR, else the address ./sd up recorded, else 127.0.0.1:8080)
              --bootstrap-servers HOST:PORT (Kafka; default $SD_KAFKA, else ./sd up's, else 127.0.0.1:9092)
              --token TOKEN (default $SD_TOKEN): the orchestrator's bearer token (diffusion.api.token), when it has one
              --tls-ca FILE.pem (default $SD_TLS_CA): use TLS, checking the orchestrator's certificate against FILE
              exit codes: 0 done, 1 job FAILED or rejected, 2 bad usage, 3 orchestrator/Kafka unreachable,
                          4 job CANCELLED, 5 no such job, 6 --timeout passed first (the job goes on)
            """;

    static final Set<String> GENERATION_FLAGS = GenerationOptions.FLAGS;
    static final Set<String> CONNECTION_FLAGS = Set.of("--orchestrator", "--bootstrap-servers", "--token", "--tls-ca");
    /** ./sd generate flags that do not apply to a job on the suite: said so, not silently dropped. */
    static final Set<String> LOCAL_ONLY = Set.of("--model", "--tokenizer", "--precision", "--threads", "--lora-dir");

    private static final JsonFormat.Printer JSON = JsonFormat.printer().omittingInsignificantWhitespace();

    private final Properties state;
    private final PrintStream out;
    private final PrintStream err;
    private final boolean tty;

    Remote(Properties state, PrintStream out, PrintStream err, boolean tty) {
        this.state = state;
        this.out = out;
        this.err = err;
        this.tty = tty;
    }

    private String orchestrator(Args a) {
        return a.string("--orchestrator", firstNonBlank(System.getenv("SD_ORCHESTRATOR"), state.getProperty("orchestrator"), "127.0.0.1:8080"));
    }

    /** The orchestrator's client: --token / $SD_TOKEN (bearer token), --tls-ca / $SD_TLS_CA (PEM: TLS, checked against it). */
    private DiffusionClient connect(Args a) {
        String token = a.string("--token", System.getenv("SD_TOKEN"));
        String ca = a.string("--tls-ca", System.getenv("SD_TLS_CA"));
        Path trust = ca == null || ca.isBlank() ? null : Path.of(ca);
        if (trust != null && !Files.isRegularFile(trust)) {
            throw new UsageException("--tls-ca: " + ca + " is not a file");
        }
        return DiffusionClient.connect(orchestrator(a), DiffusionClient.DEFAULT_DEADLINE, 5, trust, token);
    }

    private String bootstrap(Args a) {
        return a.string("--bootstrap-servers", firstNonBlank(System.getenv("SD_KAFKA"), state.getProperty("kafka.bootstrap"), "127.0.0.1:9092"));
    }

    private static String firstNonBlank(String... values) {
        for (String v : values) {
            if (v != null && !v.isBlank()) {
                return v;
            }
        }
        return null;
    }

    private static Set<String> union(Set<String> a, Set<String> b, String... more) {
        Set<String> s = new HashSet<>(a);
        s.addAll(b);
        s.addAll(List.of(more));
        return s;
    }

    // ------------------------------------------------------------------------------------------------ submit

    int submit(String[] argv) throws Exception {
        Set<String> values = union(union(GENERATION_FLAGS, CONNECTION_FLAGS), LOCAL_ONLY, "--via", "--job-id", "--timeout");
        Args a = new Args(argv, values, union(GenerationOptions.SWITCHES, Set.of("--wait", "--json", "--no-check", "--quiet",
                "--kafka-json")));
        if (!a.positional().isEmpty()) {
            throw new UsageException("unexpected argument '" + a.positional().get(0) + "' (values follow their flag, e.g. --prompt \"a cat\")");
        }
        for (String f : LOCAL_ONLY) {
            if (a.has(f)) {
                throw new UsageException(f + " applies to ./sd generate (one JVM); the suite's model, precision and LoRA folder"
                        + " are set by ./sd up (<lora:name:weight> tags in --prompt name the suite's LoRAs)");
            }
        }
        String via = a.string("--via", "grpc").toLowerCase(Locale.ROOT);
        if (!via.equals("grpc") && !via.equals("kafka")) {
            throw new UsageException("--via must be grpc or kafka, got '" + a.string("--via", "") + "'");
        }
        if (a.has("--kafka-json") && !via.equals("kafka")) {
            throw new UsageException("--kafka-json needs --via kafka");
        }
        if (a.has("--out") && !a.has("--wait")) {
            throw new UsageException("--out needs --wait (or use ./sd watch JOB --out FILE.png)");
        }
        boolean wait = a.has("--wait");
        boolean json = a.has("--json");
        if (a.has("--timeout") && !wait) {
            throw new UsageException("--timeout needs --wait");
        }
        Duration timeout = timeout(a);
        Path outFile;
        GenerationJob.Builder job;
        if (a.has("--no-check")) {
            job = unchecked(a);
            outFile = Path.of(a.string("--out", "output.png"));
        } else {
            GenerationOptions o = GenerationOptions.parse(a.only(union(GENERATION_FLAGS, GenerationOptions.SWITCHES)));
            job = checked(o.request(), a);
            outFile = o.out();
        }
        if (wait) {
            dev.diffusion.core.cli.GenerationOptions.checkWritable("--out", outFile); // before the job runs, not after
        }
        if (a.has("--job-id")) {
            job.setJobId(a.string("--job-id", ""));
        }
        GenerationJob withId = DiffusionClient.withId(job.build());
        String id = withId.getJobId();
        Consumer<JobEvent> onEvent = eventPrinter(id, json, a.has("--quiet"));

        if (via.equals("kafka")) {
            String bootstrap = bootstrap(a);
            KafkaEvents events = null;
            try {
                if (wait) {
                    events = KafkaEvents.open(bootstrap, state.getProperty("topics.events", "diffusion.events"), Duration.ofSeconds(10));
                }
                try (KafkaJobSubmitter k = new KafkaJobSubmitter(bootstrap, state.getProperty("topics.jobs", "diffusion.jobs"))) {
                    k.submit(withId, a.has("--kafka-json"));
                }
                if (!wait) {
                    printSubmitted(id, json);
                    return Exit.OK;
                }
                JobEvent last = events.follow(id, onEvent, timeout == null ? Duration.ofDays(365) : timeout);
                if (last == null) {
                    throw gaveUp(id, timeout);
                }
                return finish(id, last, outFile, json);
            } catch (KafkaJobSubmitter.KafkaUnreachableException e) {
                throw new Exit.Failure(Exit.UNREACHABLE, "cannot reach Kafka at " + bootstrap + " (" + e.getMessage()
                        + ") — run ./sd up, or scripts/kafka.sh start");
            } catch (IllegalArgumentException e) { // the job itself (too large for a record), as the orchestrator rejects one
                throw new Exit.Failure(Exit.FAILED, "job rejected: " + e.getMessage());
            } finally {
                if (events != null) {
                    events.close();
                }
            }
        }
        String address = orchestrator(a);
        try (DiffusionClient client = connect(a)) {
            client.submit(withId);
            if (!wait) {
                printSubmitted(id, json);
                return Exit.OK;
            }
            if (!json) {
                err.println("sd: submitted " + id);
            }
            return finish(id, client.watch(id, onEvent, timeout), outFile, json);
        } catch (StatusRuntimeException e) {
            throw timeout != null && e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED ? gaveUp(id, timeout) : grpcFailure(e, address, id);
        }
    }

    private static Duration timeout(Args a) {
        return a.has("--timeout") ? Duration.ofSeconds(a.integer("--timeout", 0, 1, Integer.MAX_VALUE)) : null;
    }

    private static Exit.Failure gaveUp(String id, Duration timeout) {
        return new Exit.Failure(Exit.TIMED_OUT, "gave up waiting for job " + id + " after " + timeout.toSeconds()
                + " s; it goes on (./sd watch " + id + ")");
    }

    private void printSubmitted(String id, boolean json) throws InvalidProtocolBufferException {
        out.println(json ? JSON.print(SubmitResponse.newBuilder().setJobId(id)) : id);
    }

    /**
     * The job from checked options: every field explicit, as ./sd generate would run it, except a size not given
     * (0: the orchestrator uses the served model's native size, as generate does with its model).
     */
    private static GenerationJob.Builder checked(GenerationRequest r, Args a) throws IOException {
        boolean fromImage = r.initImage() != null;
        GenerationJob.Builder b = GenerationJob.newBuilder()
                .setPrompt(r.prompt()).setNegativePrompt(r.negativePrompt())
                .setWidth(a.has("--width") || fromImage ? r.width() : 0)
                .setHeight(a.has("--height") || fromImage ? r.height() : 0).setSteps(r.steps())
                .setSampler(r.sampler()).setScheduler(r.scheduler() == null ? "" : r.scheduler().toLowerCase(Locale.ROOT))
                .setCfgScale((float) r.cfgScale()).setSeed(r.seed()).setBatchCount(r.batchCount()).setClipSkip(r.clipSkip())
                .setCommaPaddingBacktrack(r.commaBacktrack()).setPadCondUncond(r.padCondUncond())
                .setRng(a.string("--rng", "philox").toLowerCase(Locale.ROOT));
        if (r.initImage() != null) {
            b.setInitImage(ByteString.copyFrom(Files.readAllBytes(Path.of(a.string("--init-image", "")))));
            b.setStrength((float) r.strength());
        }
        if (r.inpaint() != null) {
            b.setMask(ByteString.copyFrom(Files.readAllBytes(Path.of(a.string("--mask", ""))))).setMaskBlur(r.inpaint().blur())
                    .setMaskInvert(r.inpaint().invert());
        }
        return b;
    }

    /** --no-check: the values as typed (numbers must still be numbers), for the orchestrator to judge. */
    private static GenerationJob.Builder unchecked(Args a) throws IOException {
        GenerationJob.Builder b = GenerationJob.newBuilder()
                .setPrompt(a.string("--prompt", "")).setNegativePrompt(a.string("--negative-prompt", ""))
                .setWidth((int) a.longValue("--width", 0)).setHeight((int) a.longValue("--height", 0))
                .setSteps((int) a.longValue("--steps", 0)).setSampler(a.string("--sampler", ""))
                .setScheduler(a.string("--scheduler", "")).setBatchCount((int) a.longValue("--batch-count", 0))
                .setClipSkip((int) a.longValue("--clip-skip", 0)).setRng(a.string("--rng", ""))
                .setCommaPaddingBacktrack((int) a.longValue("--comma-padding-backtrack", 0))
                .setPadCondUncond(a.has("--pad-cond-uncond"));
        if (a.has("--cfg-scale")) {
            b.setCfgScale((float) a.anyDouble("--cfg-scale", 7));
        }
        b.setSeed(a.longValue("--seed", 42));
        if (a.has("--init-image")) {
            b.setInitImage(ByteString.copyFrom(Files.readAllBytes(Path.of(a.string("--init-image", "")))));
        }
        if (a.has("--strength")) {
            b.setStrength((float) a.anyDouble("--strength", 0.75));
        }
        if (a.has("--mask")) {
            b.setMask(ByteString.copyFrom(Files.readAllBytes(Path.of(a.string("--mask", "")))));
        }
        if (a.has("--mask-blur")) {
            b.setMaskBlur((int) a.longValue("--mask-blur", 0));
        }
        b.setMaskInvert(a.has("--mask-invert"));
        return b;
    }

    // ------------------------------------------------------------------------------------------------ watch, get, cancel

    private String jobArg(Args a, String command) {
        if (a.positional().size() != 1) {
            throw new UsageException(a.positional().isEmpty() ? "./sd " + command + " needs a job id (./sd " + command + " JOB)"
                    : "./sd " + command + " takes one job id, got " + a.positional().size() + " arguments");
        }
        return a.positional().get(0);
    }

    int watch(String[] argv) throws Exception {
        Args a = new Args(argv, union(CONNECTION_FLAGS, Set.of("--out", "--timeout")), Set.of("--json", "--quiet"));
        String id = jobArg(a, "watch");
        Path outFile = a.has("--out") ? checkOut(a.string("--out", null)) : null;
        Duration timeout = timeout(a);
        String address = orchestrator(a);
        try (DiffusionClient client = connect(a)) {
            JobEvent last = client.watch(id, eventPrinter(id, a.has("--json"), a.has("--quiet")), timeout);
            return finish(id, last, outFile, a.has("--json"));
        } catch (StatusRuntimeException e) {
            throw timeout != null && e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED ? gaveUp(id, timeout) : grpcFailure(e, address, id);
        }
    }

    int get(String[] argv) throws Exception {
        Args a = new Args(argv, union(CONNECTION_FLAGS, Set.of("--out")), Set.of("--json"));
        String id = jobArg(a, "get");
        Path outFile = a.has("--out") ? checkOut(a.string("--out", null)) : null;
        String address = orchestrator(a);
        try (DiffusionClient client = connect(a)) {
            JobStatus s = client.get(id);
            if (a.has("--json")) {
                out.println(JSON.print(s));
            } else {
                out.println(describe(s));
            }
            if (outFile != null && s.getState() == JobStatus.State.COMPLETED) {
                write(s.getImagesList(), outFile, a.has("--json"));
            } else if (outFile != null) {
                boolean ended = s.getState() == JobStatus.State.FAILED || s.getState() == JobStatus.State.CANCELLED;
                err.println("sd: " + id + " is " + s.getState() + ": no images to write" + (ended ? "" : " yet"));
            }
            // as watch: the exit code tells how the job ended (0 while it has not)
            return switch (s.getState()) {
                case FAILED -> Exit.FAILED;
                case CANCELLED -> Exit.CANCELLED;
                default -> Exit.OK;
            };
        } catch (StatusRuntimeException e) {
            throw grpcFailure(e, address, id);
        }
    }

    int cancel(String[] argv) throws Exception {
        Args a = new Args(argv, CONNECTION_FLAGS, Set.of("--json", "--wait", "--quiet"));
        String id = jobArg(a, "cancel");
        String address = orchestrator(a);
        try (DiffusionClient client = connect(a)) {
            CancelResponse r = client.cancel(id);
            if (a.has("--json")) {
                out.println(JSON.print(r));
            } else {
                out.println(id + " " + r.getState());
            }
            if (a.has("--wait")) {
                JobEvent last = client.watch(id, e -> { });
                if (a.has("--json")) {
                    out.println(JSON.print(last));
                } else {
                    out.println(id + " " + last.getType());
                }
            }
            return Exit.OK;
        } catch (StatusRuntimeException e) {
            throw grpcFailure(e, address, id);
        }
    }

    // ------------------------------------------------------------------------------------------------ shared

    private Consumer<JobEvent> eventPrinter(String id, boolean json, boolean quiet) {
        if (json) {
            return e -> {
                try {
                    out.println(JSON.print(e));
                    out.flush();
                } catch (InvalidProtocolBufferException x) {
                    throw new IllegalStateException(x);
                }
            };
        }
        if (quiet) {
            return e -> { };
        }
        ProgressBar bar = new ProgressBar(err, tty, id);
        return bar::on;
    }

    /** Exit code of a final event; writes the images of a COMPLETED one. */
    private int finish(String id, JobEvent last, Path outFile, boolean json) throws IOException {
        if (last == null) {
            throw new Exit.Failure(Exit.FAILED, "no final event for " + id + " (gave up waiting)");
        }
        return switch (last.getType()) {
            case COMPLETED -> {
                if (outFile != null) {
                    write(last.getCompleted().getImagesList(), outFile, json);
                }
                yield Exit.OK;
            }
            case FAILED -> {
                String field = last.getFailed().getField().isEmpty() ? "" : " [" + last.getFailed().getField() + "]";
                err.println("sd: job " + id + " FAILED: " + last.getFailed().getReason() + field);
                yield Exit.FAILED;
            }
            case CANCELLED -> {
                err.println("sd: job " + id + " CANCELLED" + (last.getCancelled().getReason().isEmpty() ? "" : ": " + last.getCancelled().getReason()));
                yield Exit.CANCELLED;
            }
            default -> throw new Exit.Failure(Exit.FAILED, "unexpected final event " + last.getType());
        };
    }

    private void write(List<GeneratedImage> images, Path outFile, boolean json) throws IOException {
        PrintStream report = json ? err : out;
        for (GeneratedImage img : images) {
            Path file = images.size() == 1 ? outFile : numbered(outFile, img.getIndex());
            if (!img.getPng().isEmpty()) {
                Files.write(file, img.getPng().toByteArray());
            } else if (!img.getLocation().isEmpty() && Files.isReadable(Path.of(img.getLocation()))) {
                Files.copy(Path.of(img.getLocation()), file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } else {
                report.println("image " + img.getIndex() + " is at " + img.getLocation() + " (not readable here)  (seed " + img.getSeed() + ")");
                continue;
            }
            report.println(file + "  (seed " + img.getSeed() + ")");
        }
    }

    static Path numbered(Path out, int index) {
        String name = out.getFileName().toString();
        String stem = name.toLowerCase(Locale.ROOT).endsWith(".png") ? name.substring(0, name.length() - 4) : name;
        return out.resolveSibling(stem + "-" + index + ".png");
    }

    private static Path checkOut(String value) {
        Path p = Path.of(value);
        if (!p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png")) {
            throw new UsageException("--out must name a .png file, got '" + value + "'");
        }
        Path parent = p.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new UsageException("--out: folder " + parent + " does not exist");
        }
        return p;
    }

    static String describe(JobStatus s) {
        StringBuilder b = new StringBuilder(s.getJobId()).append("  ").append(s.getState());
        JobEvent e = s.getLastEvent();
        if (e.hasProgress()) {
            b.append(String.format(Locale.ROOT, "  step %d/%d", e.getProgress().getStep(), e.getProgress().getTotalSteps()));
            if (e.getProgress().getImageCount() > 1) {
                b.append(String.format(Locale.ROOT, " image %d/%d", e.getProgress().getImageIndex() + 1, e.getProgress().getImageCount()));
            }
        } else if (e.hasFailed()) {
            b.append("  ").append(e.getFailed().getReason());
        } else if (e.hasCancelled()) {
            b.append("  after ").append(e.getCancelled().getStepsDone()).append(" steps");
        }
        for (GeneratedImage img : s.getImagesList()) {
            b.append(String.format(Locale.ROOT, "%n  image %d  %dx%d  seed %d  %d bytes", img.getIndex(), img.getWidth(),
                    img.getHeight(), img.getSeed(), img.getPng().size()));
        }
        GenerationJob j = s.getJob();
        if (!j.getPrompt().isEmpty()) {
            b.append(String.format(Locale.ROOT, "%n  prompt \"%s\"  %dx%d  %d steps  %s  seed %d", j.getPrompt(), j.getWidth(),
                    j.getHeight(), j.getSteps(), j.getSampler(), j.getSeed()));
        }
        return b.toString();
    }

    private static Exit.Failure grpcFailure(StatusRuntimeException e, String address, String id) {
        Status s = e.getStatus();
        String desc = s.getDescription() == null ? s.getCode().toString() : s.getDescription();
        return switch (s.getCode()) {
            case UNAVAILABLE, DEADLINE_EXCEEDED -> new Exit.Failure(Exit.UNREACHABLE,
                    "cannot reach the orchestrator at " + address + " (" + s.getCode() + ": " + desc + ") — run ./sd up");
            case NOT_FOUND -> new Exit.Failure(Exit.NOT_FOUND, "no job with id '" + id + "' at " + address);
            case INVALID_ARGUMENT -> new Exit.Failure(Exit.FAILED, "job rejected by the orchestrator: " + desc);
            case UNAUTHENTICATED -> new Exit.Failure(Exit.USAGE, "the orchestrator at " + address + " refused the call ("
                    + desc + "): pass its token with --token or $SD_TOKEN");
            default -> new Exit.Failure(Exit.FAILED, s.getCode() + ": " + desc);
        };
    }
}
