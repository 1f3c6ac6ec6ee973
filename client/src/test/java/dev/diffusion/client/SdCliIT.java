package dev.diffusion.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.JsonFormat;
import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code ./sd} as a user runs it: real processes, against the stack of {@code ./sd up} (Kafka reused when one
 * answers on $KAFKA_PORT/9092, else started and stopped by up/down; the bundled demo model (the default); free ports; topics of its own;
 * its own run directory through $SD_RUN_DIR). Checks exit codes, output files, JSON lines, and that down leaves no
 * process behind.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SdCliIT {
    final String run = Long.toString(System.currentTimeMillis(), 36);
    final Path root = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    final Path work = Path.of(System.getProperty("build.dir", "target")).toAbsolutePath().resolve("sd-it-" + run);
    final Path runDir = work.resolve("run");
    final int kafkaPort = Integer.parseInt(System.getenv().getOrDefault("KAFKA_PORT", "9092"));
    int base;
    boolean down;

    record Result(int rc, String out, String err) {
        @Override
        public String toString() {
            return "exit " + rc + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    Result sd(String... args) throws Exception {
        return sdIn(runDir, args);
    }

    Result sdIn(Path runDirectory, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(root.resolve("sd").toString()));
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile());
        Map<String, String> env = pb.environment();
        env.put("SD_RUN_DIR", runDirectory.toString());
        env.put("KAFKA_PORT", Integer.toString(kafkaPort));
        env.remove("SD_ORCHESTRATOR");
        env.remove("SD_KAFKA");
        env.remove("SD_PORT_BASE");
        Path o = Files.createTempFile(work, "out", ".txt");
        Path e = Files.createTempFile(work, "err", ".txt");
        Process p = pb.redirectOutput(o.toFile()).redirectError(e.toFile()).start();
        if (!p.waitFor(240, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("./sd " + String.join(" ", args) + " did not finish in 240 s\n" + Files.readString(e));
        }
        Result r = new Result(p.exitValue(), Files.readString(o), Files.readString(e));
        System.out.println("$ ./sd " + String.join(" ", args) + "\n" + r);
        return r;
    }

    static boolean free(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    List<Long> recordedPids() throws IOException {
        List<Long> pids = new ArrayList<>();
        for (String name : List.of("text-encoder", "unet", "vae", "orchestrator")) {
            pids.add(Long.parseLong(Files.readString(runDir.resolve(name + ".pid")).trim()));
        }
        Path kafkaPid = runDir.resolve("kafka/kafka.pid");
        if (Files.isRegularFile(kafkaPid)) {
            pids.add(Long.parseLong(Files.readString(kafkaPid).trim()));
        }
        return pids;
    }

    @BeforeAll
    void up() throws Exception {
        Files.createDirectories(work);
        do {
            base = ThreadLocalRandom.current().nextInt(20_000, 40_000);
        } while (!(free(base) && free(base + 1) && free(base + 2) && free(base + 3)));
        writeDemoLora(work.resolve("loras").resolve("shapes.safetensors"));
        long t0 = System.nanoTime();
        Result r = sd("up", "--port-base", Integer.toString(base), "--kafka-port", Integer.toString(kafkaPort),
                "--topics", "sdit-" + run, "--timeout", "180", "--lora-dir", work.resolve("loras").toString());
        assertEquals(0, r.rc(), r.toString());
        assertTrue(r.out().contains("orchestrator 127.0.0.1:" + base), r.out());
        assertTrue(r.out().contains("unet         127.0.0.1:" + (base + 2)), r.out());
        System.out.printf("./sd up: %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    }

    @AfterAll
    void cleanup() throws Exception {
        if (!down) {
            sd("down");
        }
    }

    @Test
    @Order(1)
    void statusShowsEveryServiceReadyWithItsRecordedPid() throws Exception {
        Result r = sd("status");
        assertEquals(0, r.rc(), r.toString());
        List<Long> pids = recordedPids();
        String[] names = {"text-encoder", "unet", "vae", "orchestrator"};
        int[] ports = {base + 1, base + 2, base + 3, base};
        for (int i = 0; i < 4; i++) {
            String name = names[i];
            String line = r.out().lines().filter(l -> l.startsWith(name + " ")).findFirst().orElseThrow();
            assertTrue(line.matches(names[i] + "\\s+" + pids.get(i) + "\\s+" + ports[i] + "\\s+ready"), line);
        }
        assertTrue(r.out().contains("kafka"), r.out());

        Result again = sd("up", "--port-base", Integer.toString(base)); // the same run directory: nothing to do
        assertEquals(0, again.rc(), again.toString());
        assertTrue(again.err().contains("already up"), again.err());
        assertEquals(pids, recordedPids());

        Result clash = sdIn(work.resolve("other-run"), "up", "--port-base", Integer.toString(base - 1)); // text-encoder on our orchestrator's port
        assertEquals(1, clash.rc(), clash.toString());
        assertTrue(clash.err().startsWith("sd: port " + base + " (text-encoder) is in use by another process"), clash.err());
        assertFalse(Files.exists(work.resolve("other-run/unet.pid")), "nothing started");
    }

    @Test
    @Order(2)
    void submitWaitWritesThePngOfTheSubmittedValuesSameBytesAsGenerate() throws Exception {
        String[] flags = {"--prompt", "a lighthouse at dusk", "--negative-prompt", "fog", "--width", "64", "--height", "96",
                "--steps", "4", "--sampler", "Euler a", "--cfg-scale", "5.5", "--seed", "1234", "--clip-skip", "2"};
        List<String> submit = new ArrayList<>(List.of("submit"));
        submit.addAll(List.of(flags));
        submit.addAll(List.of("--wait", "--out", "remote.png"));
        Result r = sd(submit.toArray(String[]::new));
        assertEquals(0, r.rc(), r.toString());
        assertEquals("remote.png  (seed 1234)", r.out().strip());
        assertTrue(r.err().contains("4/4") && r.err().contains("it/s") && r.err().contains("ETA"), r.err());

        byte[] png = Files.readAllBytes(work.resolve("remote.png"));
        Png.Image img = Png.decode(png);
        assertEquals(64, img.width());
        assertEquals(96, img.height());
        GenerationParameters p = GenerationParameters.parse(img.text().get("parameters"));
        assertEquals("a lighthouse at dusk", p.prompt());
        assertEquals("fog", p.negativePrompt());
        assertEquals("4", p.settings().get("Steps"));
        assertEquals("Euler a", p.settings().get("Sampler"));
        assertEquals("5.5", p.settings().get("CFG scale"));
        assertEquals("1234", p.settings().get("Seed"));
        assertEquals("64x96", p.settings().get("Size"));
        assertEquals("2", p.settings().get("Clip skip"));

        // the same flags in one JVM (./sd generate; both default to the bundled demo model): the very same PNG
        List<String> local = new ArrayList<>(List.of("generate"));
        local.addAll(List.of(flags));
        local.addAll(List.of("--out", "local.png", "--quiet"));
        Result g = sd(local.toArray(String[]::new));
        assertEquals(0, g.rc(), g.toString());
        assertArrayEquals(Files.readAllBytes(work.resolve("local.png")), png, "./sd submit and ./sd generate differ");
    }

    /**
     * A kohya LoRA for the demo model (its mid-block cross-attention value and a text-encoder MLP), written as a
     * safetensors file by hand: this module has no TensorFlow and no weights code.
     */
    static void writeDemoLora(Path file) throws IOException {
        Files.createDirectories(file.getParent());
        java.util.Random r = new java.util.Random(3);
        String unet = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_v";
        String te = "lora_te_text_model_encoder_layers_1_mlp_fc2";
        Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
        shapes.put(unet + ".lora_up.weight", new long[] {64, 4});
        shapes.put(unet + ".lora_down.weight", new long[] {4, 64});
        shapes.put(te + ".lora_up.weight", new long[] {64, 4});
        shapes.put(te + ".lora_down.weight", new long[] {4, 128});
        StringBuilder header = new StringBuilder("{");
        java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            int n = (int) (e.getValue()[0] * e.getValue()[1]);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * n).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                b.putFloat((float) (r.nextGaussian() * 0.3));
            }
            header.append(header.length() > 1 ? "," : "").append('"').append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":[")
                    .append(e.getValue()[0]).append(',').append(e.getValue()[1]).append("],\"data_offsets\":[")
                    .append(data.size()).append(',').append(data.size() + 4 * n).append("]}");
            data.write(b.array());
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer len = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(h.length);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write(len.array());
        out.write(h);
        out.write(data.toByteArray());
        Files.write(file, out.toByteArray());
    }

    @Test
    @Order(10)
    void aLoraJobWithWeightsAndALongPromptIsTheSamePngAsGenerate() throws Exception {
        // a LoRA tag, A1111 weights, BREAK and two chunks against a one-chunk negative prompt: the uncond and cond
        // predictions run at their own lengths, in both paths
        String prompt = "a (red:1.3) circle <lora:shapes:0.9> on the [left] BREAK " + "on a white background, ".repeat(16);
        String[] flags = {"--prompt", prompt, "--negative-prompt", "blurry", "--steps", "3", "--seed", "77"};
        List<String> submit = new ArrayList<>(List.of("submit"));
        submit.addAll(List.of(flags));
        submit.addAll(List.of("--wait", "--quiet", "--out", "lora-remote.png"));
        Result r = sd(submit.toArray(String[]::new));
        assertEquals(0, r.rc(), r.toString());
        List<String> local = new ArrayList<>(List.of("generate"));
        local.addAll(List.of(flags));
        local.addAll(List.of("--lora-dir", work.resolve("loras").toString(), "--out", "lora-local.png", "--quiet"));
        Result g = sd(local.toArray(String[]::new));
        assertEquals(0, g.rc(), g.toString());
        byte[] png = Files.readAllBytes(work.resolve("lora-remote.png"));
        assertArrayEquals(Files.readAllBytes(work.resolve("lora-local.png")), png, "a LoRA job: ./sd submit and ./sd generate differ");
        GenerationParameters p = GenerationParameters.parse(Png.decode(png).text().get("parameters"));
        assertEquals(prompt, p.prompt());
        assertTrue(p.settings().get("Lora hashes").matches("shapes: [0-9a-f]{12}"), p.settings().toString());
        // a name that is not in the folder: the job FAILS naming the field
        Result missing = sd("submit", "--prompt", "x <lora:nope:1>", "--steps", "1", "--wait", "--quiet", "--out", "x.png");
        assertEquals(1, missing.rc(), missing.toString());
        assertTrue(missing.err().contains("no LoRA named nope"), missing.err());
    }

    @Test
    @Order(11)
    void a1111PromptOptionsReachTheEngineInBothPaths() throws Exception {
        // a 3-chunk prompt (BREAK, then ~80 tokens with commas) against a 1-chunk negative prompt: --pad-cond-uncond
        // pads the negative prompt with 2 empty chunks and --comma-padding-backtrack 20 moves words between chunks;
        // ./sd submit and ./sd generate give the same bytes with them, and not the bytes of the image without them
        String prompt = "a red circle BREAK " + "on a white background, ".repeat(16);
        String[] flags = {"--prompt", prompt, "--negative-prompt", "blurry", "--steps", "2", "--seed", "5"};
        String[] options = {"--pad-cond-uncond", "--comma-padding-backtrack", "20"};
        List<String> submit = new ArrayList<>(List.of("submit"));
        submit.addAll(List.of(flags));
        submit.addAll(List.of(options));
        submit.addAll(List.of("--wait", "--quiet", "--out", "padded-remote.png"));
        Result r = sd(submit.toArray(String[]::new));
        assertEquals(0, r.rc(), r.toString());
        List<String> local = new ArrayList<>(List.of("generate"));
        local.addAll(List.of(flags));
        local.addAll(List.of(options));
        local.addAll(List.of("--out", "padded-local.png", "--quiet"));
        assertEquals(0, sd(local.toArray(String[]::new)).rc());
        List<String> plain = new ArrayList<>(List.of("generate"));
        plain.addAll(List.of(flags));
        plain.addAll(List.of("--out", "unpadded-local.png", "--quiet"));
        assertEquals(0, sd(plain.toArray(String[]::new)).rc());
        byte[] png = Files.readAllBytes(work.resolve("padded-remote.png"));
        assertArrayEquals(Files.readAllBytes(work.resolve("padded-local.png")), png, "--pad-cond-uncond: submit and generate differ");
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(work.resolve("unpadded-local.png")), png));
        assertEquals("True", GenerationParameters.parse(Png.decode(png).text().get("parameters")).settings().get("Pad conds"));
        // a malformed weight fails before anything runs, naming the field, as A1111 fails it
        Result bad = sd("submit", "--prompt", "a (cat:1.2.3)", "--steps", "1", "--wait", "--quiet", "--out", "bad.png");
        assertEquals(1, bad.rc(), bad.toString());
        assertTrue(bad.err().contains("prompt: the weight in ':1.2.3)' is not a number"), bad.err());
    }

    @Test
    @Order(3)
    void batchWritesNumberedFilesWithConsecutiveSeeds() throws Exception {
        Result r = sd("submit", "--prompt", "two boats", "--width", "64", "--height", "64", "--steps", "2", "--seed", "10",
                "--batch-count", "2", "--wait", "--out", "batch.png", "--quiet");
        assertEquals(0, r.rc(), r.toString());
        assertEquals(List.of("batch-0.png  (seed 10)", "batch-1.png  (seed 11)"), r.out().lines().toList());
        for (int i = 0; i < 2; i++) {
            Png.Image img = Png.decode(Files.readAllBytes(work.resolve("batch-" + i + ".png")));
            assertEquals(Long.toString(10 + i), GenerationParameters.parse(img.text().get("parameters")).settings().get("Seed"));
        }
    }

    @Test
    @Order(4)
    void jsonEventsParseAsJobEventsInOrderAndGetReportsTheResult() throws Exception {
        Result r = sd("submit", "--prompt", "json", "--width", "64", "--height", "64", "--steps", "3", "--seed", "5",
                "--job-id", "json-" + run, "--wait", "--json", "--out", "json.png");
        assertEquals(0, r.rc(), r.toString());
        List<JobEvent> events = new ArrayList<>();
        for (String line : r.out().lines().toList()) {
            JobEvent.Builder b = JobEvent.newBuilder();
            JsonFormat.parser().merge(line, b);
            events.add(b.build());
            assertEquals("json-" + run, b.getJobId());
        }
        JobEvent last = events.get(events.size() - 1);
        assertEquals(JobEvent.Type.COMPLETED, last.getType());
        List<Integer> steps = events.stream().filter(JobEvent::hasProgress).map(e -> e.getProgress().getStep()).toList();
        assertEquals(List.of(1, 2, 3), steps, "PROGRESS events of a 3-step job");
        assertArrayEquals(last.getCompleted().getImages(0).getPng().toByteArray(), Files.readAllBytes(work.resolve("json.png")));

        Result w = sd("watch", "json-" + run, "--json"); // a finished job: its final event, once
        assertEquals(0, w.rc(), w.toString());
        JobEvent.Builder again = JobEvent.newBuilder();
        JsonFormat.parser().merge(w.out().strip(), again);
        assertEquals(last, again.build());

        Result g = sd("get", "json-" + run, "--json");
        assertEquals(0, g.rc(), g.toString());
        JobStatus.Builder s = JobStatus.newBuilder();
        JsonFormat.parser().merge(g.out().strip(), s);
        assertEquals(JobStatus.State.COMPLETED, s.getState());
        assertEquals(5, s.getJob().getSeed());
        assertEquals(3, s.getJob().getSteps());
    }

    @Test
    @Order(5)
    void badUsageExitsTwoNamingTheFlag() throws Exception {
        Result steps = sd("submit", "--prompt", "x", "--steps", "0");
        assertEquals(2, steps.rc(), steps.toString());
        assertEquals("sd: --steps must be between 1 and 150, got 0", steps.err().strip());
        Result typo = sd("submit", "--prompt", "x", "--widht", "64");
        assertEquals(2, typo.rc(), typo.toString());
        assertTrue(typo.err().contains("unknown option --widht"), typo.err());
        Result sampler = sd("submit", "--prompt", "x", "--sampler", "bogus");
        assertEquals(2, sampler.rc(), sampler.toString());
        assertTrue(sampler.err().startsWith("sd: --sampler: unknown sampler 'bogus'"), sampler.err());
        Result noId = sd("watch");
        assertEquals(2, noId.rc(), noId.toString());
        assertTrue(noId.err().contains("needs a job id"), noId.err());
        Result via = sd("submit", "--prompt", "x", "--via", "carrier-pigeon");
        assertEquals(2, via.rc(), via.toString());
        assertTrue(via.err().contains("--via must be grpc or kafka"), via.err());
    }

    @Test
    @Order(6)
    void unreachableOrchestratorExitsThree() throws Exception {
        int port = freePort();
        Result r = sd("submit", "--prompt", "x", "--width", "64", "--height", "64", "--orchestrator", "127.0.0.1:" + port);
        assertEquals(3, r.rc(), r.toString());
        assertTrue(r.err().startsWith("sd: cannot reach the orchestrator at 127.0.0.1:" + port + " (UNAVAILABLE"), r.err());
        assertTrue(r.err().strip().endsWith("— run ./sd up"), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
    }

    @Test
    @Order(7)
    void failedJobsExitOneWithTheReason() throws Exception {
        // an unknown sampler over Kafka, past the client's checks: the orchestrator fails the job
        Result k = sd("submit", "--via", "kafka", "--no-check", "--prompt", "x", "--sampler", "bogus", "--width", "64",
                "--height", "64", "--steps", "2", "--job-id", "bogus-" + run, "--wait");
        assertEquals(1, k.rc(), k.toString());
        assertTrue(k.err().contains("sd: job bogus-" + run + " FAILED: unknown sampler 'bogus'"), k.err());
        assertTrue(k.err().strip().endsWith("[sampler]"), k.err());
        // width 100 over gRPC: rejected by the orchestrator's validation
        Result w = sd("submit", "--no-check", "--prompt", "x", "--width", "100", "--height", "64", "--steps", "2", "--wait");
        assertEquals(1, w.rc(), w.toString());
        assertTrue(w.err().startsWith("sd: job rejected by the orchestrator: width"), w.err());
        assertTrue(w.err().contains("100"), w.err());
        Result unknown = sd("get", "no-such-job-" + run);
        assertEquals(5, unknown.rc(), unknown.toString());
        assertEquals("sd: no job with id 'no-such-job-" + run + "' at 127.0.0.1:" + base, unknown.err().strip());
    }

    @Test
    @Order(8)
    void kafkaJsonSubmitCompletes() throws Exception {
        Result r = sd("submit", "--via", "kafka", "--kafka-json", "--prompt", "over kafka", "--width", "64", "--height", "64",
                "--steps", "2", "--seed", "77", "--wait", "--out", "kafka.png", "--quiet");
        assertEquals(0, r.rc(), r.toString());
        Png.Image img = Png.decode(Files.readAllBytes(work.resolve("kafka.png")));
        GenerationParameters p = GenerationParameters.parse(img.text().get("parameters"));
        assertEquals("over kafka", p.prompt());
        assertEquals("77", p.settings().get("Seed"));
    }

    @Test
    @Order(9)
    void cancelEndsALongJobCancelled() throws Exception {
        Result s = sd("submit", "--prompt", "a long one", "--width", "512", "--height", "512", "--steps", "150", "--batch-count", "4");
        assertEquals(0, s.rc(), s.toString());
        String id = s.out().strip();
        Result t = sd("watch", id, "--timeout", "2", "--quiet");
        assertEquals(6, t.rc(), t.toString());
        assertEquals("sd: gave up waiting for job " + id + " after 2 s; it goes on (./sd watch " + id + ")", t.err().strip());
        Result c = sd("cancel", id, "--wait");
        assertEquals(0, c.rc(), c.toString());
        assertEquals(id + " CANCELLED", c.out().lines().reduce((a, b) -> b).orElseThrow());
        Result w = sd("watch", id);
        assertEquals(4, w.rc(), w.toString());
        assertTrue(w.err().contains("sd: job " + id + " CANCELLED"), w.err());
        Result g = sd("get", id, "--json");
        JobStatus.Builder st = JobStatus.newBuilder();
        JsonFormat.parser().merge(g.out().strip(), st);
        assertEquals(JobStatus.State.CANCELLED, st.getState());
        assertTrue(st.getLastEvent().getCancelled().getStepsDone() < 150, st.toString());
    }

    @Test
    @Order(50)
    void upAgainRestartsExactlyTheKilledServiceWithTheRecordedSettings() throws Exception {
        List<Long> before = recordedPids();
        ProcessHandle unet = ProcessHandle.of(before.get(1)).orElseThrow();
        unet.destroyForcibly(); // SIGKILL: no shutdown hook, the pid file stays behind
        unet.onExit().get(30, TimeUnit.SECONDS);
        Result st = sd("status");
        assertEquals(1, st.rc(), st.toString());
        assertTrue(st.out().lines().anyMatch(l -> l.matches("unet\\s+-\\s+" + (base + 2) + "\\s+not running.*")), st.out());

        // another setting than the running suite's: refused, naming the flag; nothing started
        Result changed = sd("up", "--precision", "bf16");
        assertEquals(2, changed.rc(), changed.toString());
        assertTrue(changed.err().startsWith("sd: --precision bf16 differs from the suite running from "), changed.err());
        assertTrue(changed.err().contains("(--precision fp32, recorded in "), changed.err());
        assertFalse(ProcessHandle.of(before.get(1)).map(ProcessHandle::isAlive).orElse(false));
        Result replicas = sd("up", "--unet-replicas", "2");
        assertEquals(2, replicas.rc(), replicas.toString());
        assertTrue(replicas.err().contains("--unet-replicas 2 differs") && replicas.err().contains("(--unet-replicas 1, recorded in "),
                replicas.err());
        Result tooMany = sd("up", "--unet-replicas", "65");
        assertEquals(2, tooMany.rc(), tooMany.toString());
        assertEquals("sd: --unet-replicas must be between 1 and 64, got 65", tooMany.err().strip());

        Result again = sd("up"); // no flags: the recorded ports, topics and model
        assertEquals(0, again.rc(), again.toString());
        assertTrue(again.err().contains("sd: starting unet (not running); text-encoder (pid " + before.get(0) + "), vae (pid "
                + before.get(2) + "), orchestrator (pid " + before.get(3) + ") already running"), again.err());
        List<Long> after = recordedPids();
        assertEquals(before.get(0), after.get(0), "text-encoder untouched");
        assertEquals(before.get(2), after.get(2), "vae untouched");
        assertEquals(before.get(3), after.get(3), "orchestrator untouched");
        assertEquals(before.subList(4, before.size()), after.subList(4, after.size()), "Kafka untouched");
        assertTrue(after.get(1) != before.get(1).longValue() && ProcessHandle.of(after.get(1)).map(ProcessHandle::isAlive).orElse(false),
                "a new unet: " + after);
        assertTrue(again.out().contains("unet         127.0.0.1:" + (base + 2) + " pid " + after.get(1)), again.out());
        assertEquals(0, sd("status").rc());

        // and the restarted unet serves the suite's jobs
        Result job = sd("submit", "--prompt", "after the restart", "--width", "64", "--height", "64", "--steps", "2", "--wait",
                "--out", "restarted.png", "--quiet");
        assertEquals(0, job.rc(), job.toString());
    }

    @Test
    @Order(100)
    void downStopsEveryRecordedProcess() throws Exception {
        List<Long> pids = recordedPids();
        Result r = sd("down");
        down = true;
        assertEquals(0, r.rc(), r.toString());
        for (long pid : pids) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still alive after down");
        }
        for (String name : List.of("text-encoder", "unet", "vae", "orchestrator")) {
            assertFalse(Files.exists(runDir.resolve(name + ".pid")), name + ".pid left behind");
            assertTrue(Files.exists(runDir.resolve(name + ".log")), name + ".log kept");
        }
        Result st = sd("status");
        assertEquals(1, st.rc(), st.toString());
        assertTrue(st.out().contains("not running"), st.out());
    }
}
