package dev.diffusion.client.cli;

import dev.diffusion.client.DiffusionClient;
import dev.diffusion.client.KafkaEvents;
import dev.diffusion.client.KafkaJobSubmitter;
import dev.diffusion.core.cli.Args;
import dev.diffusion.core.cli.UsageException;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.EncodeTextRequest;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.ModelInfo;
import dev.diffusion.proto.v1.ModelInfoRequest;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.Tensor;
import dev.diffusion.proto.v1.TextEncoderGrpc;
import dev.diffusion.proto.v1.VaeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ./sd bench-suite}: the throughput figures of the running suite ({@code ./sd up}), each a ratio of two runs made
 * side by side in this command — N jobs at once against the same N one after another (images per minute; cross-job
 * batching and overlap), the suite against {@code ./sd generate} in one process for the same job (per image, steady
 * state), and a Predict call's round trip against the U-Net run it carries (loopback overhead). Prints; asserts nothing.
 */
final class SuiteBench {
    static final String HELP = """
            usage: ./sd bench-suite [--jobs 8] [--width 256] [--height 256] [--steps 30] [--prompt TEXT] [--sampler euler]
                                    [--predict-calls 40] [--generate-images 3] [--no-generate] [--timeout SECONDS]
              against the suite ./sd up started (its model): warms up with --jobs jobs at once, then times the same
              --jobs jobs one after another and all at once (through Kafka: records in, final events out), then
              --predict-calls Predict calls straight to the U-Net service (client latency against the service's own
              run time), then ./sd generate --batch-count (1 + --generate-images) with the suite's model in one process
              (its first image is the warm-up). Prints each figure and its ratio.
            """;

    private static final Set<String> VALUE_FLAGS = Set.of("--jobs", "--width", "--height", "--steps", "--prompt", "--sampler",
            "--predict-calls", "--generate-images", "--timeout", "--cfg-scale");
    private static final Pattern IMAGE_LINE = Pattern.compile("^sd: image (\\d+)/(\\d+) in ([0-9.]+) s$");

    private final Path root;
    private final Properties state;
    private final PrintStream out;
    private final PrintStream err;

    SuiteBench(Path root, Properties state, PrintStream out, PrintStream err) {
        this.root = root;
        this.state = state;
        this.out = out;
        this.err = err;
    }

    int run(String[] argv) throws Exception {
        Args a = new Args(argv, VALUE_FLAGS, Set.of("--no-generate"));
        int jobs = a.integer("--jobs", 8, 1, 64);
        int width = a.integer("--width", 256, 64, 2048);
        int height = a.integer("--height", 256, 64, 2048);
        int steps = a.integer("--steps", 30, 1, 150);
        int predictCalls = a.integer("--predict-calls", 40, 0, 10000);
        int generateImages = a.integer("--generate-images", 3, 1, 100);
        double cfg = Double.parseDouble(a.string("--cfg-scale", "7"));
        String prompt = a.string("--prompt", "a red circle on the left on a white background");
        String sampler = a.string("--sampler", "euler");
        Duration timeout = Duration.ofSeconds(a.integer("--timeout", 3600, 1, 86400));
        if (state.getProperty("orchestrator") == null) {
            throw new UsageException("no suite recorded in the run directory: start it with ./sd up first");
        }
        String bootstrap = state.getProperty("kafka.bootstrap");
        String model = state.getProperty("model");
        GenerationJob template = GenerationJob.newBuilder().setPrompt(prompt).setWidth(width).setHeight(height)
                .setSteps(steps).setSampler(sampler).setCfgScale((float) cfg).build();
        out.printf("bench-suite: model %s (%s), %dx%d, %d steps, %s, %d jobs; suite at %s, Kafka %s%n", model,
                state.getProperty("precision", "fp32"), width, height, steps, sampler, jobs, state.getProperty("orchestrator"),
                bootstrap);

        try (KafkaJobSubmitter kafka = new KafkaJobSubmitter(bootstrap, state.getProperty("topics.jobs"));
             KafkaEvents events = KafkaEvents.open(bootstrap, state.getProperty("topics.events"), Duration.ofSeconds(15))) {
            double warm = timeJobs(kafka, events, template, jobs, true, timeout);
            out.printf("warm-up          %d jobs at once: %.1f s%n", jobs, warm);
            double sequential = timeJobs(kafka, events, template, jobs, false, timeout);
            double concurrent = timeJobs(kafka, events, template, jobs, true, timeout);
            out.printf("one after another %d jobs: %.2f s = %.1f images/min (%.3f s per image)%n", jobs, sequential,
                    60 * jobs / sequential, sequential / jobs);
            out.printf("all at once       %d jobs: %.2f s = %.1f images/min%n", jobs, concurrent, 60 * jobs / concurrent);
            out.printf("RATIO concurrent/sequential throughput: %.2fx%n", sequential / concurrent);
            if (predictCalls > 0) {
                predictOverhead(template, predictCalls);
            }
            if (!a.has("--no-generate")) {
                double inProcess = generatePerImage(template, generateImages);
                out.printf("./sd generate    %.3f s per image (mean of %d after a warm-up image, one process)%n", inProcess,
                        generateImages);
                out.printf("RATIO suite/in-process time per image (jobs one after another): %.3fx%n",
                        sequential / jobs / inProcess);
            }
        }
        return Exit.OK;
    }

    /** Sends {@code n} jobs (seeds 1..n) through Kafka, all at once or each after the previous ended; wall seconds. */
    private double timeJobs(KafkaJobSubmitter kafka, KafkaEvents events, GenerationJob template, int n, boolean atOnce,
                            Duration timeout) {
        long t0 = System.nanoTime();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            GenerationJob job = template.toBuilder().setJobId("bench-" + UUID.randomUUID()).setSeed(1 + i).build();
            ids.add(kafka.submit(job, false));
            if (!atOnce) {
                await(events, List.of(ids.get(i)), timeout);
            }
        }
        if (atOnce) {
            await(events, ids, timeout);
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    private static void await(KafkaEvents events, List<String> ids, Duration timeout) {
        Map<String, JobEvent> done = events.awaitAll(ids, (id, e) -> { }, timeout);
        if (done.size() < ids.size()) {
            throw new Exit.Failure(Exit.TIMED_OUT, (ids.size() - done.size()) + " of " + ids.size() + " jobs did not end within "
                    + timeout.toSeconds() + " s");
        }
        for (JobEvent e : done.values()) {
            if (e.getType() != JobEvent.Type.COMPLETED) {
                throw new Exit.Failure(Exit.FAILED, "job " + e.getJobId() + " ended " + e.getType() + ": " + e);
            }
        }
    }

    /**
     * Predict calls with a CFG pair at the job's latent size, one after another, straight to the U-Net service: the
     * client's mean latency against the service's mean run time (its {@code diffusion_run_seconds}) over the same calls.
     */
    private void predictOverhead(GenerationJob template, int calls) throws Exception {
        int base = Integer.parseInt(state.getProperty("port.base", "8080"));
        ManagedChannel text = channel(base + 1);
        ManagedChannel unetChannel = channel(base + 2);
        ManagedChannel vae = channel(base + 3);
        try {
            ModelInfo vaeInfo = VaeGrpc.newBlockingStub(vae).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .info(ModelInfoRequest.getDefaultInstance());
            DenoiserGrpc.DenoiserBlockingStub unet = DenoiserGrpc.newBlockingStub(unetChannel);
            ModelInfo unetInfo = unet.withDeadlineAfter(30, TimeUnit.SECONDS).info(ModelInfoRequest.getDefaultInstance());
            Tensor context = TextEncoderGrpc.newBlockingStub(text).withDeadlineAfter(60, TimeUnit.SECONDS)
                    .encode(EncodeTextRequest.newBuilder().addPrompts("").addPrompts(template.getPrompt()).build()).getHiddenStates();
            int lh = template.getHeight() / vaeInfo.getVaeDownscale();
            int lw = template.getWidth() / vaeInfo.getVaeDownscale();
            int c = unetInfo.getLatentChannels();
            float[] latents = new float[2 * lh * lw * c];
            java.util.Random r = new java.util.Random(1);
            for (int i = 0; i < latents.length; i++) {
                latents[i] = (float) r.nextGaussian();
            }
            PredictRequest request = PredictRequest.newBuilder().setLatents(Tensors.float32(latents, 2, lh, lw, c))
                    .addTimesteps(500).addTimesteps(500).setContext(context).build();
            for (int i = 0; i < 10; i++) {
                unet.withDeadlineAfter(120, TimeUnit.SECONDS).predict(request);
            }
            // Info: this client's first calls (cold code on both sides: what a short loop measures), then warm ones
            long[] cold = timeCalls(40, () -> unet.withDeadlineAfter(30, TimeUnit.SECONDS).info(ModelInfoRequest.getDefaultInstance()));
            timeCalls(1000, () -> unet.withDeadlineAfter(30, TimeUnit.SECONDS).info(ModelInfoRequest.getDefaultInstance()));
            long[] warm = timeCalls(Math.max(calls, 500), () -> unet.withDeadlineAfter(30, TimeUnit.SECONDS)
                    .info(ModelInfoRequest.getDefaultInstance()));
            out.printf("Info             (no network run): median %.2f ms over %d calls after 1,040 warm-up calls; the first 40"
                    + " calls of this client %.2f ms each%n", median(warm), warm.length, mean(cold));
            // the same bytes refused after parsing and checking (a timestep out of range): the wire and the stack, hot
            PredictRequest refused = request.toBuilder().setTimesteps(1, 1e6f).build();
            long[] hot = timeCalls(Math.max(calls, 200), () -> {
                try {
                    unet.withDeadlineAfter(30, TimeUnit.SECONDS).predict(refused);
                } catch (io.grpc.StatusRuntimeException e) {
                    if (e.getStatus().getCode() != io.grpc.Status.Code.INVALID_ARGUMENT) {
                        throw e;
                    }
                }
            });
            out.printf("Predict refused  the same request, refused after its checks (no run), back to back: median %.2f ms%n",
                    median(hot));
            double[] before = serviceSeconds(base + 2);
            long[] predict = timeCalls(calls, () -> unet.withDeadlineAfter(120, TimeUnit.SECONDS).predict(request));
            double clientMs = mean(predict);
            double[] after = serviceSeconds(base + 2);
            double runMs = (after[0] - before[0]) * 1000 / (after[1] - before[1]);
            double handlerMs = (after[2] - before[2]) * 1000 / (after[3] - before[3]);
            double serverMs = (after[4] - before[4]) * 1000 / (after[5] - before[5]);
            out.printf("Predict          %d calls of 2 x %dx%dx%d latents (%,d request bytes): client %.2f ms, gRPC server %.2f ms,"
                    + " service handler %.2f ms, U-Net run %.2f ms%n", calls, lh, lw, c, request.getSerializedSize(), clientMs,
                    serverMs, handlerMs, runMs);
            if (after[5] > before[5]) { // the service's Micrometer gRPC metrics on (quarkus.micrometer.binder.grpc-server.enabled)
                out.printf("  client and wire %.2f ms (client - gRPC server), server's gRPC stack %.2f ms (gRPC server - handler),"
                        + " checks and copies %.2f ms (handler - run)%n", clientMs - serverMs, serverMs - handlerMs, handlerMs - runMs);
            }
            out.printf("OVERHEAD per Predict round trip on loopback: %.2f ms (%.3fx the run)%n", clientMs - runMs, clientMs / runMs);
        } finally {
            for (ManagedChannel ch : List.of(text, unetChannel, vae)) {
                ch.shutdownNow();
            }
        }
    }

    /** Runs {@code call} n times, one after another; each call's nanoseconds. */
    private static long[] timeCalls(int n, Runnable call) {
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            call.run();
            t[i] = System.nanoTime() - t0;
        }
        return t;
    }

    private static double median(long[] nanos) {
        long[] s = nanos.clone();
        java.util.Arrays.sort(s);
        return s[s.length / 2] / 1e6;
    }

    private static double mean(long[] nanos) {
        return java.util.Arrays.stream(nanos).average().orElse(0) / 1e6;
    }

    private static ManagedChannel channel(int port) {
        return ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().maxInboundMessageSize(256 << 20).build();
    }

    /**
     * The U-Net service's {@code diffusion_run_seconds} sum and count, its {@code diffusion_request_seconds} sum and
     * count of successful Predict calls (from the handler's start to its reply), and the gRPC server's own
     * {@code grpc_server_processing_duration_seconds} sum and count of them (Micrometer's gRPC interceptor: from the
     * call's headers to its close, the server's whole share of a call).
     */
    private static double[] serviceSeconds(int port) throws IOException, InterruptedException {
        HttpResponse<String> m = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + port + "/q/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        double[] v = new double[6];
        for (String line : m.body().split("\n")) {
            if (line.startsWith("grpc_server_processing_duration_seconds_") && line.contains("method=\"Predict\"")
                    && line.contains("statusCode=\"OK\"")) {
                double x = Double.parseDouble(line.substring(line.indexOf('}') + 1).trim().split("\\s+")[0]);
                if (line.startsWith("grpc_server_processing_duration_seconds_sum{")) {
                    v[4] += x;
                } else if (line.startsWith("grpc_server_processing_duration_seconds_count{")) {
                    v[5] += x;
                }
                continue;
            }
            if (!line.startsWith("diffusion_") || line.indexOf('}') < 0) {
                continue;
            }
            // the value follows the labels (an exemplar, "# {...} value time", may follow it when tracing is on)
            double x = Double.parseDouble(line.substring(line.indexOf('}') + 1).trim().split("\\s+")[0]);
            boolean predict = line.contains("method=\"Predict\"") && line.contains("outcome=\"ok\"");
            if (line.startsWith("diffusion_run_seconds_sum{")) {
                v[0] += x;
            } else if (line.startsWith("diffusion_run_seconds_count{")) {
                v[1] += x;
            } else if (line.startsWith("diffusion_request_seconds_sum{") && predict) {
                v[2] += x;
            } else if (line.startsWith("diffusion_request_seconds_count{") && predict) {
                v[3] += x;
            }
        }
        return v;
    }

    /** ./sd generate of the same job with the suite's model, 1 + n images in one process: the mean of the last n. */
    private double generatePerImage(GenerationJob template, int n) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("sd-bench-suite");
        List<String> cmd = new ArrayList<>(List.of(root.resolve("sd").toString(), "generate", "--quiet",
                "--model", state.getProperty("model"), "--precision", state.getProperty("precision", "fp32"),
                "--prompt", template.getPrompt(), "--width", Integer.toString(template.getWidth()),
                "--height", Integer.toString(template.getHeight()), "--steps", Integer.toString(template.getSteps()),
                "--sampler", template.getSampler(), "--cfg-scale", Float.toString(template.getCfgScale()), "--seed", "1",
                "--batch-count", Integer.toString(n + 1), "--out", dir.resolve("bench.png").toString()));
        if (state.getProperty("tokenizer") != null) {
            cmd.addAll(List.of("--tokenizer", state.getProperty("tokenizer")));
        }
        if (Integer.parseInt(state.getProperty("unet.replicas", "1")) > 1) { // the same U-Net as the suite's
            cmd.addAll(List.of("--unet-replicas", state.getProperty("unet.replicas")));
        }
        Process p = new ProcessBuilder(cmd).directory(root.toFile()).redirectErrorStream(true).start();
        List<Double> seconds = new ArrayList<>();
        StringBuilder log = new StringBuilder();
        try (var reader = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()))) {
            for (String line; (line = reader.readLine()) != null; ) {
                log.append(line).append('\n');
                Matcher m = IMAGE_LINE.matcher(line.trim());
                if (m.matches() && Integer.parseInt(m.group(1)) > 1) {
                    seconds.add(Double.parseDouble(m.group(3)));
                }
            }
        }
        int rc = p.waitFor();
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
        }
        Files.deleteIfExists(dir);
        if (rc != 0 || seconds.size() != n) {
            throw new Exit.Failure(Exit.FAILED, "./sd generate failed (exit " + rc + "):\n" + log);
        }
        return seconds.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }
}
