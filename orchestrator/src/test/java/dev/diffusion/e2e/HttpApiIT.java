package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.diffusion.core.image.Png;
import dev.diffusion.proto.v1.GenerateRequest;
import dev.diffusion.proto.v1.GenerationGrpc;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.GetRequest;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The HTTP APIs for real, through clients nobody here wrote: the broker, the three tiny-random services and an
 * orchestrator with a bearer token as processes; the official {@code openai} npm package (pinned in
 * src/test/js/package-lock.json, installed with {@code npm ci} into target/) generating and editing images; A1111's
 * endpoints called exactly as its API documents them; the web page in headless Chromium driven by Playwright. Every
 * image is compared byte for byte with the gRPC API's image for the same settings (the same job path, so the same PNG).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpApiIT {
    static final String TOKEN = "http-api-test-token";
    static final ObjectMapper JSON = new ObjectMapper();
    final String run = "http-" + Long.toString(System.currentTimeMillis(), 36);
    final Path root = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    final Path build = Path.of(System.getProperty("build.dir", "target")).toAbsolutePath();
    final int kafkaPort = Integer.parseInt(System.getenv().getOrDefault("KAFKA_PORT", "9092"));
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    boolean startedBroker;
    final List<ServiceProcess> processes = new ArrayList<>();
    ServiceProcess orchestrator;
    ManagedChannel channel;
    GenerationGrpc.GenerationBlockingStub grpc;
    String base;

    @BeforeAll
    void start() throws Exception {
        if (!OrchestratorIT.listening(kafkaPort)) {
            Process p = new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), "start").inheritIO().start();
            assertEquals(0, p.waitFor(), "scripts/kafka.sh start");
            startedBroker = true;
        }
        ServiceProcess text = started(ServiceProcess.start("text-encoder-service", List.of()));
        ServiceProcess unet = started(ServiceProcess.start("unet-service", List.of()));
        ServiceProcess vae = started(ServiceProcess.start("vae-service", List.of()));
        for (ServiceProcess p : List.of(text, unet, vae)) {
            p.awaitReady(Duration.ofSeconds(180));
        }
        orchestrator = started(ServiceProcess.start("orchestrator", List.of(
                "-Ddiffusion.api.token=" + TOKEN,
                "-Ddiffusion.kafka.bootstrap-servers=127.0.0.1:" + kafkaPort,
                "-Ddiffusion.kafka.group-id=" + run,
                "-Ddiffusion.topics.jobs=" + run + ".jobs",
                "-Ddiffusion.topics.events=" + run + ".events",
                "-Ddiffusion.topics.dlq=" + run + ".jobs.dlq",
                "-Ddiffusion.topics.control=" + run + ".control",
                "-Ddiffusion.topics.partitions=2",
                "-Ddiffusion.services.text-encoder=dns:///127.0.0.1:" + text.port,
                "-Ddiffusion.services.unet=dns:///127.0.0.1:" + unet.port,
                "-Ddiffusion.services.vae=dns:///127.0.0.1:" + vae.port,
                "-Xmx256m")));
        orchestrator.awaitReady(Duration.ofSeconds(120));
        base = "http://127.0.0.1:" + orchestrator.port;
        Metadata auth = new Metadata();
        auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", orchestrator.port).usePlaintext().maxInboundMessageSize(64 << 20).build();
        grpc = GenerationGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
    }

    private ServiceProcess started(ServiceProcess p) {
        processes.add(p);
        return p;
    }

    @AfterAll
    void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow();
        }
        for (ServiceProcess p : processes) {
            p.close();
        }
        if (startedBroker) {
            new ProcessBuilder(root.resolve("scripts/kafka.sh").toString(), "stop").inheritIO().start().waitFor();
        }
    }

    // ------------------------------------------------------------------------------------ helpers

    /** The images of the same job through the gRPC API (Generate: the job path of ./sd submit). */
    List<byte[]> viaGrpc(GenerationJob job) {
        JobEvent last = null;
        for (Iterator<JobEvent> it = grpc.withDeadlineAfter(120, TimeUnit.SECONDS)
                .generate(GenerateRequest.newBuilder().setJob(job).build()); it.hasNext(); ) {
            last = it.next();
        }
        assertNotNull(last);
        assertEquals(JobEvent.Type.COMPLETED, last.getType(), last.toString());
        return last.getCompleted().getImagesList().stream().map(i -> i.getPng().toByteArray()).toList();
    }

    HttpResponse<String> post(String path, String body, boolean withToken) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(180))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (withToken) {
            b.header("Authorization", "Bearer " + TOKEN);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A multipart/form-data POST of text fields and, when {@code png} is not null, an {@code image} file part. */
    HttpResponse<String> postForm(String path, java.util.Map<String, String> fields, byte[] png)
            throws IOException, InterruptedException {
        return postForm(path, fields, png, null);
    }

    /** With a {@code mask} file part too, where not null. */
    HttpResponse<String> postForm(String path, java.util.Map<String, String> fields, byte[] png, byte[] mask)
            throws IOException, InterruptedException {
        String boundary = "----it" + System.nanoTime();
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        for (var f : fields.entrySet()) {
            body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.getKey() + "\"\r\n\r\n"
                    + f.getValue() + "\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        if (png != null) {
            body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"in.png\"\r\n"
                    + "Content-Type: image/png\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            body.writeBytes(png);
            body.writeBytes("\r\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        if (mask != null) {
            body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"mask\"; filename=\"mask.png\"\r\n"
                    + "Content-Type: image/png\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            body.writeBytes(mask);
            body.writeBytes("\r\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        body.writeBytes(("--" + boundary + "--\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(180))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary).header("Authorization", "Bearer " + TOKEN)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Any method, with the token; {@code body} null = none. */
    HttpResponse<String> send(String method, String path, String contentType, String body)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + TOKEN)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + TOKEN).build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body());
    }

    /** A JSON object of name, value pairs, in order. */
    static String body(Object... nameValue) throws IOException {
        Map<Object, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < nameValue.length; i += 2) {
            m.put(nameValue[i], nameValue[i + 1]);
        }
        return JSON.writeValueAsString(m);
    }

    /** The npm project of src/test/js installed (npm ci, exact versions from its lock file) under target/. */
    Path npmProject() throws Exception {
        Path src = root.resolve("orchestrator/src/test/js");
        Path dir = build.resolve("http-clients-js");
        Files.createDirectories(dir);
        boolean lockChanged = !Files.exists(dir.resolve("package-lock.json"))
                || Files.mismatch(src.resolve("package-lock.json"), dir.resolve("package-lock.json")) != -1
                || !Files.isDirectory(dir.resolve("node_modules"));
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        if (lockChanged) {
            Process p = new ProcessBuilder("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund").directory(dir.toFile())
                    .inheritIO().start();
            assertEquals(0, p.waitFor(), "npm ci in " + dir);
        }
        return dir;
    }

    /** Runs a node script of the npm project; its stdout lines are JSON objects, returned by their "kind". */
    Map<String, JsonNode> node(String script, Map<String, String> env) throws Exception {
        Path dir = npmProject();
        ProcessBuilder pb = new ProcessBuilder("node", script).directory(dir.toFile());
        pb.environment().putAll(env);
        Path log = build.resolve("service-logs").resolve(script + ".stderr");
        Files.createDirectories(log.getParent());
        pb.redirectError(log.toFile());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), script + " did not end");
        assertEquals(0, p.exitValue(), script + " failed:\n" + out + Files.readString(log));
        Map<String, JsonNode> byKind = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            if (line.startsWith("{")) {
                JsonNode n = JSON.readTree(line);
                byKind.put(n.get("kind").asText(), n);
            }
        }
        return byKind;
    }

    static byte[] b64(JsonNode n) {
        return Base64.getDecoder().decode(n.asText());
    }

    GenerationJob.Builder job(String prompt) {
        return GenerationJob.newBuilder().setPrompt(prompt).setWidth(64).setHeight(64);
    }

    // ------------------------------------------------------------------------------------ OpenAI

    @Test
    void theOfficialOpenAiClientGeneratesAndEditsImages() throws Exception {
        byte[] init = viaGrpc(job("an init image").setSteps(2).setSeed(5).build()).get(0);
        Path initPng = build.resolve(run + "-init.png");
        Files.write(initPng, init);
        Map<String, JsonNode> out = node("openai-client.mjs", Map.of("OPENAI_BASE_URL", base + "/v1", "OPENAI_API_KEY", TOKEN,
                "MODEL", "tiny-random", "INIT_PNG", initPng.toString()));

        assertEquals("[\"tiny-random\"]", out.get("models").get("ids").toString());

        // n=2, b64_json, our settings in the "sd" extension: the same two PNGs as the gRPC job with those settings
        JsonNode generated = out.get("b64_json");
        List<byte[]> expected = viaGrpc(job("a red circle on the left").setNegativePrompt("blue").setSteps(3)
                .setSampler("Euler a").setSeed(1234).setBatchCount(2).build());
        assertEquals(2, generated.get("images").size());
        for (int i = 0; i < 2; i++) {
            assertArrayEquals(expected.get(i), b64(generated.get("images").get(i)), "image " + i);
        }
        assertEquals("[1234,1235]", generated.get("sd").get("seeds").toString());
        assertTrue(Math.abs(generated.get("created").asLong() - System.currentTimeMillis() / 1000) < 600);

        // response_format defaults to url, as OpenAI's; the URL serves the PNG
        JsonNode fetched = out.get("url").get("fetched").get(0);
        assertEquals(200, fetched.get("status").asInt());
        assertEquals("image/png", fetched.get("type").asText());
        assertArrayEquals(viaGrpc(job("a green square").setSteps(2).setSeed(7).build()).get(0), b64(fetched.get("b64")));

        // edits = img2img of the uploaded PNG (multipart), strength from sd.strength
        assertArrayEquals(viaGrpc(job("a blue triangle").setSteps(4).setSeed(99).setStrength(0.5f)
                .setInitImage(ByteString.copyFrom(init)).build()).get(0), b64(out.get("edit").get("images").get(0)));

        // errors in OpenAI's shape, thrown by the client as its own error classes, naming the parameter
        JsonNode badSize = out.get("bad-size");
        assertEquals(400, badSize.get("status").asInt(), badSize.toString());
        assertEquals("size", badSize.get("param").asText());
        assertEquals("BadRequestError", badSize.get("name").asText());
        assertTrue(badSize.get("message").asText().contains("multiple of 8"), badSize.toString());
        assertEquals("style", out.get("style").get("param").asText());
        JsonNode wrongKey = out.get("wrong-key");
        assertEquals(401, wrongKey.get("status").asInt(), wrongKey.toString());
        assertEquals("AuthenticationError", wrongKey.get("name").asText());
        assertEquals("invalid_api_key", wrongKey.get("code").asText());
    }

    @Test
    void a1111ListingsAndTheEditErrorsThatNoResourceWrites() throws Exception {
        assertEquals("[]", send("GET", "/sdapi/v1/loras", null, null).body());
        assertEquals("None", json(send("GET", "/sdapi/v1/upscalers", null, null)).get(0).get("name").asText());
        assertEquals("{}", json(send("GET", "/sdapi/v1/embeddings", null, null)).get("loaded").toString());
        assertEquals(200, send("POST", "/sdapi/v1/refresh-checkpoints", null, null).statusCode());
        // a multipart body cut short: OpenAI's error object, 400, not a text page
        HttpResponse<String> cut = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/images/edits"))
                .header("Authorization", "Bearer " + TOKEN).header("Content-Type", "multipart/form-data; boundary=XYZ")
                .POST(HttpRequest.BodyPublishers.ofString("--XYZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx\r\n"
                        + "--XYZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png"
                        + "\r\n\r\nnotpng")).build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(cut.statusCode() == 400, cut.statusCode() + " " + cut.body());
        assertTrue(json(cut).get("error").get("message").asText().length() > 0, cut.body());
        // a job id over 256 characters, or blank, is refused naming force_task_id
        HttpResponse<String> longId = post("/sdapi/v1/txt2img", body("prompt", "x", "force_task_id", "i".repeat(257)), true);
        assertEquals(422, longId.statusCode(), longId.body());
        assertEquals("[\"body\",\"force_task_id\"]", json(longId).get("detail").get(0).get("loc").toString());
        assertTrue(json(longId).get("detail").get(0).get("msg").asText().startsWith("force_task_id is 257 characters"),
                longId.body());
        // the page's API: a wrong field is named in words, a job id given is kept
        HttpResponse<String> wrongType = send("POST", "/api/jobs", "application/json", "{\"prompt\": \"x\", \"steps\": \"abc\"}");
        assertEquals(400, wrongType.statusCode());
        assertEquals("steps", json(wrongType).get("field").asText(), wrongType.body());
        assertEquals("bogus", json(send("POST", "/api/jobs", "application/json", "{\"bogus\": 1}")).get("field").asText());
        String pageId = "page-" + System.nanoTime();
        HttpResponse<String> kept = send("POST", "/api/jobs", "application/json", "{\"prompt\": \"x\", \"steps\": 2,"
                + " \"width\": 64, \"height\": 64, \"jobId\": \"" + pageId + "\"}");
        assertEquals(pageId, json(kept).get("job_id").asText(), kept.body());
        // a message in the API's own name of the field
        HttpResponse<String> batch = post("/sdapi/v1/txt2img", body("prompt", "x", "batch_size", 8, "n_iter", 100), true);
        assertEquals(422, batch.statusCode(), batch.body());
        assertTrue(json(batch).get("detail").get(0).get("msg").asText().startsWith("batch_size"), batch.body());
    }

    @Test
    void imageUrlsAreSignedAndAJobIdAloneOpensNothing() throws Exception {
        HttpResponse<String> r = post("/v1/images/generations", "{\"prompt\": \"a red square\", \"size\": \"64x64\","
                + " \"sd\": {\"steps\": 2, \"seed\": 3}}", true);
        assertEquals(200, r.statusCode(), r.body());
        String url = json(r).get("data").get(0).get("url").asText();
        assertTrue(url.contains("?sig="), url);
        HttpResponse<byte[]> signed = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, signed.statusCode());
        String bare = url.substring(0, url.indexOf('?'));
        HttpResponse<String> unsigned = http.send(HttpRequest.newBuilder(URI.create(bare)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, unsigned.statusCode(), unsigned.body());
        assertEquals("invalid_api_key", json(unsigned).get("error").get("code").asText());
        // behind a proxy: the URL is the one the client used
        HttpResponse<String> proxied = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/images/generations"))
                .header("Authorization", "Bearer " + TOKEN).header("Content-Type", "application/json")
                .header("X-Forwarded-Proto", "https").header("X-Forwarded-Host", "images.example.com")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"a red square\", \"size\": \"64x64\","
                        + " \"sd\": {\"steps\": 2, \"seed\": 3}}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, proxied.statusCode(), proxied.body());
        String proxiedUrl = json(proxied).get("data").get(0).get("url").asText();
        assertTrue(proxiedUrl.startsWith("https://images.example.com/v1/images/files/"), proxiedUrl);
        HttpResponse<String> forged = http.send(HttpRequest.newBuilder(URI.create(bare + "?sig=" + "A".repeat(43))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, forged.statusCode());
        // a job whose id a client chose (gRPC here; Kafka and force_task_id alike): not without the token, yes with it
        viaGrpc(job("a blue circle").setJobId("chosen-" + System.nanoTime()).setSteps(2).build());
        String chosen = base + "/v1/images/files/chosen-x/0.png";
        assertEquals(401, http.send(HttpRequest.newBuilder(URI.create(chosen)).build(), HttpResponse.BodyHandlers.ofString())
                .statusCode());
        assertEquals(200, send("GET", bare.substring(base.length()), null, null).statusCode());
    }

    @Test
    void openAiErrorsAreTheirErrorObject() throws Exception {
        HttpResponse<String> r = post("/v1/images/generations", "{\"prompt\": \"x\", \"n\": 11}", true);
        assertEquals(400, r.statusCode());
        JsonNode e = json(r).get("error");
        assertEquals("n", e.get("param").asText());
        assertEquals("invalid_request_error", e.get("type").asText());
        assertTrue(e.get("message").asText().contains("between 1 and 10"), r.body());
        assertEquals("model", json(post("/v1/images/generations", "{\"prompt\": \"x\", \"model\": \"dall-e-3\"}", true))
                .get("error").get("param").asText());
        assertEquals("quality", json(post("/v1/images/generations", "{\"prompt\": \"x\", \"quality\": \"hd\"}", true))
                .get("error").get("param").asText());
        assertEquals("sd.steps", json(post("/v1/images/generations", "{\"prompt\": \"x\", \"sd\": {\"steps\": 0.5}}", true))
                .get("error").get("param").asText());
        // an explicit 0 is out of range, not proto3's "default"
        assertEquals("sd.steps", json(post("/v1/images/generations", "{\"prompt\": \"x\", \"sd\": {\"steps\": 0}}", true))
                .get("error").get("param").asText());
        // edits: an empty image file is no image; a prompt field over 2 KB is read like any other (not a bare 413),
        // here refused for its sd.steps after being read
        // edits with OpenAI's mask: its fully transparent pixels are repainted (the job's white), the rest kept
        byte[] editInit = viaGrpc(job("a red circle").setSteps(2).setSeed(5).build()).get(0);
        byte[] openAiMask;
        try (java.io.InputStream in = HttpApiIT.class.getResourceAsStream("/rgba-64.png")) {
            openAiMask = in.readAllBytes(); // alpha 0 in a disc around the centre, opaque elsewhere
        }
        HttpResponse<String> masked = postForm("/v1/images/edits", java.util.Map.of("prompt", "a blue square",
                "response_format", "b64_json", "sd", "{\"seed\": 4, \"steps\": 4, \"mask_blur\": 0}"), editInit, openAiMask);
        assertEquals(200, masked.statusCode(), masked.body());
        byte[][] alpha = new byte[1][];
        dev.diffusion.core.image.Png.decodeWithAlpha(openAiMask, alpha);
        byte[] white = new byte[64 * 64 * 3];
        for (int p = 0; p < 64 * 64; p++) {
            white[3 * p] = white[3 * p + 1] = white[3 * p + 2] = alpha[0][p] == 0 ? (byte) 255 : 0;
        }
        assertArrayEquals(viaGrpc(job("a blue square").setSeed(4).setSteps(4).setStrength(0.75f)
                .setInitImage(ByteString.copyFrom(editInit)).setMaskBlur(0).setMask(ByteString.copyFrom(
                        dev.diffusion.core.image.Png.encodeRgb(64, 64, white, Map.of()))).build()).get(0),
                b64(json(masked).get("data").get(0).get("b64_json")));
        byte[] halfClear = new byte[64 * 64 * 4];
        for (int p = 0; p < 64 * 64; p++) {
            halfClear[4 * p + 3] = (byte) (p % 64 < 32 ? 100 : 255); // semi-transparent, none fully: nothing to edit
        }
        java.awt.image.BufferedImage semi = new java.awt.image.BufferedImage(64, 64, java.awt.image.BufferedImage.TYPE_INT_ARGB);
        for (int p = 0; p < 64 * 64; p++) {
            semi.setRGB(p % 64, p / 64, (halfClear[4 * p + 3] & 0xff) << 24);
        }
        java.io.ByteArrayOutputStream semiPng = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(semi, "png", semiPng);
        HttpResponse<String> semiMask = postForm("/v1/images/edits", java.util.Map.of("prompt", "x"), editInit,
                semiPng.toByteArray());
        assertEquals(400, semiMask.statusCode(), semiMask.body());
        assertEquals("mask", json(semiMask).get("error").get("param").asText());
        HttpResponse<String> opaqueMask = postForm("/v1/images/edits", java.util.Map.of("prompt", "x"), editInit, editInit);
        assertEquals(400, opaqueMask.statusCode(), opaqueMask.body());
        assertEquals("mask", json(opaqueMask).get("error").get("param").asText(), opaqueMask.body());
        HttpResponse<String> empty = postForm("/v1/images/edits", java.util.Map.of("prompt", "x"), new byte[0]);
        assertEquals(400, empty.statusCode(), empty.body());
        assertEquals("image", json(empty).get("error").get("param").asText());
        HttpResponse<String> longPrompt = postForm("/v1/images/edits", java.util.Map.of("prompt", "a red circle, ".repeat(300),
                "sd", "{\"steps\": 0.5}"), dev.diffusion.core.image.Png.encodeRgb(64, 64, new byte[64 * 64 * 3], java.util.Map.of()));
        assertEquals(400, longPrompt.statusCode(), longPrompt.body());
        assertEquals("sd.steps", json(longPrompt).get("error").get("param").asText());
        HttpResponse<String> listSeed = postForm("/v1/images/edits", java.util.Map.of("prompt", "x", "sd[seed][]", "1"),
                dev.diffusion.core.image.Png.encodeRgb(64, 64, new byte[64 * 64 * 3], java.util.Map.of()));
        assertEquals(400, listSeed.statusCode(), listSeed.body());
        assertEquals("sd.seed", json(listSeed).get("error").get("param").asText(), listSeed.body());
        HttpResponse<String> notJson = post("/v1/images/generations", "{\"prompt\":", true);
        assertEquals(400, notJson.statusCode());
        assertTrue(json(notJson).get("error").get("message").asText().startsWith("the request body is not JSON"), notJson.body());
        assertEquals("sd.strength", json(post("/v1/images/generations", "{\"prompt\": \"x\", \"sd\": {\"strength\": 0.5}}",
                true)).get("error").get("param").asText(), "strength is for edits: refused, not ignored");
        // what no resource method answers is in the API's shape too: unknown path, wrong method, wrong media type
        HttpResponse<String> unknown = send("GET", "/v1/images/variations", null, null);
        assertEquals(404, unknown.statusCode(), unknown.body());
        assertEquals("not_found", json(unknown).get("error").get("code").asText(), unknown.body());
        HttpResponse<String> unknownUnderKnown = send("GET", "/v1/images/files", null, null);
        assertEquals(404, unknownUnderKnown.statusCode(), unknownUnderKnown.body());
        assertEquals("not_found", json(unknownUnderKnown).get("error").get("code").asText(), unknownUnderKnown.body());
        HttpResponse<String> get = send("GET", "/v1/images/generations", null, null);
        assertEquals(405, get.statusCode(), get.body());
        assertEquals("method_not_allowed", json(get).get("error").get("code").asText(), get.body());
        assertEquals("/v1/images/generations does not take GET", json(get).get("error").get("message").asText());
        HttpResponse<String> textGeneration = send("POST", "/v1/images/generations", "text/plain", "{\"prompt\": \"x\"}");
        assertEquals(415, textGeneration.statusCode(), textGeneration.body());
        assertEquals("unsupported_media_type", json(textGeneration).get("error").get("code").asText(), textGeneration.body());
        HttpResponse<String> zeroSize = post("/v1/images/generations", "{\"prompt\": \"x\", \"size\": \"0x0\"}", true);
        assertEquals(400, zeroSize.statusCode(), zeroSize.body());
        assertEquals("size", json(zeroSize).get("error").get("param").asText(), zeroSize.body());
        HttpResponse<String> jsonEdit = send("POST", "/v1/images/edits", "application/json", "{\"prompt\": \"x\"}");
        assertEquals(415, jsonEdit.statusCode(), jsonEdit.body());
        assertEquals("unsupported_media_type", json(jsonEdit).get("error").get("code").asText(), jsonEdit.body());
        HttpResponse<String> a1111Unknown = send("GET", "/sdapi/v1/nothing-here", null, null);
        assertEquals(404, a1111Unknown.statusCode(), a1111Unknown.body());
        assertEquals("Not Found", json(a1111Unknown).get("detail").asText(), a1111Unknown.body());
        HttpResponse<String> a1111Get = send("GET", "/sdapi/v1/txt2img", null, null);
        assertEquals(405, a1111Get.statusCode(), a1111Get.body());
        assertEquals("Method Not Allowed", json(a1111Get).get("detail").asText(), a1111Get.body());
        HttpResponse<String> noToken = post("/v1/images/generations", "{\"prompt\": \"x\"}", false);
        assertEquals(401, noToken.statusCode());
        assertEquals("invalid_api_key", json(noToken).get("error").get("code").asText());
    }

    // ------------------------------------------------------------------------------------ AUTOMATIC1111

    @Test
    void a1111Txt2imgWithItsDefaults() throws Exception {
        // A1111's defaults: steps 50, sampler Euler, cfg 7; batch_size x n_iter images seeded seed, seed + 1, ...
        HttpResponse<String> r = post("/sdapi/v1/txt2img", body("prompt", "a purple square", "negative_prompt", "red",
                "seed", 42, "width", 64, "height", 64, "batch_size", 2, "n_iter", 2,
                "override_settings", Map.of("CLIP_stop_at_last_layers", 2),
                // the rest of A1111's model at its defaults, as its own UI and many clients send it
                "restore_faces", false, "styles", List.of(), "subseed", -1, "enable_hr", false, "alwayson_scripts", Map.of()), true);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        List<byte[]> expected = viaGrpc(job("a purple square").setNegativePrompt("red").setSeed(42).setSteps(50)
                .setSampler("Euler").setCfgScale(7).setClipSkip(2).setBatchCount(4).build());
        assertEquals(4, body.get("images").size());
        for (int i = 0; i < 4; i++) {
            assertArrayEquals(expected.get(i), b64(body.get("images").get(i)), "image " + i);
        }
        JsonNode info = JSON.readTree(body.get("info").asText());
        assertEquals("[42,43,44,45]", info.get("all_seeds").toString());
        assertEquals(42, info.get("seed").asLong());
        assertTrue(info.get("infotexts").get(1).asText().contains("Steps: 50, Sampler: Euler, Schedule type: Automatic, CFG scale: 7, Seed: 43"),
                info.toString());
        assertEquals(50, body.get("parameters").get("steps").asInt());

        // png-info reads the parameters chunk back with the same code that wrote it
        HttpResponse<String> pi = post("/sdapi/v1/png-info", body("image", body.get("images").get(0).asText()), true);
        assertEquals(200, pi.statusCode(), pi.body());
        JsonNode p = json(pi);
        assertEquals("a purple square", p.get("parameters").get("Prompt").asText());
        assertEquals("red", p.get("parameters").get("Negative prompt").asText());
        assertEquals("42", p.get("parameters").get("Seed").asText());
        assertEquals("2", p.get("parameters").get("Clip skip").asText());
        assertEquals("64", p.get("parameters").get("Size-1").asText());
        assertTrue(p.get("info").asText().startsWith("a purple square\nNegative prompt: red\nSteps: 50"), p.toString());
    }

    @Test
    void a1111Img2img() throws Exception {
        byte[] init = viaGrpc(job("init").setSteps(2).setSeed(11).build()).get(0);
        HttpResponse<String> r = post("/sdapi/v1/img2img", body("prompt", "a yellow circle", "seed", 3, "steps", 8,
                "sampler_name", "DPM++ 2M", "scheduler", "Karras", "denoising_strength", 0.5, "cfg_scale", 5.5,
                "init_images", List.of("data:image/png;base64," + Base64.getEncoder().encodeToString(init))), true);
        assertEquals(200, r.statusCode(), r.body());
        assertArrayEquals(viaGrpc(job("a yellow circle").setSeed(3).setSteps(8).setSampler("DPM++ 2M").setScheduler("karras")
                .setStrength(0.5f).setCfgScale(5.5f).setInitImage(ByteString.copyFrom(init)).build()).get(0),
                b64(json(r).get("images").get(0)));
        // another width and height: the init image is resized to them ("Just resize", Pillow's Lanczos), so the image
        // equals a job given the resized image itself
        r = post("/sdapi/v1/img2img", body("prompt", "a yellow circle", "seed", 3, "steps", 4, "width", 96, "height", 64,
                "init_images", List.of(Base64.getEncoder().encodeToString(init))), true);
        assertEquals(200, r.statusCode(), r.body());
        byte[] resized = dev.diffusion.core.image.Png.encodeRgb(96, 64, dev.diffusion.core.image.LanczosResize.resize(
                dev.diffusion.core.image.Png.decode(init), 96, 64).rgb(), Map.of());
        byte[] got = b64(json(r).get("images").get(0));
        assertEquals(96, dev.diffusion.core.image.Png.decode(got).width());
        assertArrayEquals(viaGrpc(job("a yellow circle").setWidth(96).setHeight(64).setSeed(3).setSteps(4).setSampler("Euler").setCfgScale(7)
                .setStrength(0.75f).setInitImage(ByteString.copyFrom(resized)).build()).get(0), got);
        // resize_mode 1 (Crop and resize): the same with A1111's crop (LanczosResizeTest checks it against Pillow)
        r = post("/sdapi/v1/img2img", body("prompt", "a yellow circle", "seed", 3, "steps", 4, "width", 96, "height", 64,
                "resize_mode", 1, "init_images", List.of(Base64.getEncoder().encodeToString(init))), true);
        assertEquals(200, r.statusCode(), r.body());
        byte[] cropped = dev.diffusion.core.image.Png.encodeRgb(96, 64, dev.diffusion.core.image.LanczosResize.cropAndResize(
                dev.diffusion.core.image.Png.decode(init), 96, 64).rgb(), Map.of());
        assertArrayEquals(viaGrpc(job("a yellow circle").setWidth(96).setHeight(64).setSeed(3).setSteps(4).setSampler("Euler")
                .setCfgScale(7).setStrength(0.75f).setInitImage(ByteString.copyFrom(cropped)).build()).get(0),
                b64(json(r).get("images").get(0)));
        // an RGBA init image with transparent pixels: onto white first, as A1111's images.flatten (PngTest: Pillow's)
        byte[] rgba;
        try (java.io.InputStream in = HttpApiIT.class.getResourceAsStream("/rgba-64.png")) {
            rgba = in.readAllBytes();
        }
        r = post("/sdapi/v1/img2img", body("prompt", "a yellow circle", "seed", 3, "steps", 4,
                "init_images", List.of(Base64.getEncoder().encodeToString(rgba))), true);
        assertEquals(200, r.statusCode(), r.body());
        dev.diffusion.core.image.Png.Image flat = dev.diffusion.core.image.Png.decodeFlattened(rgba, 0xffffff);
        assertArrayEquals(viaGrpc(job("a yellow circle").setSeed(3).setSteps(4).setSampler("Euler").setCfgScale(7)
                .setStrength(0.75f).setInitImage(ByteString.copyFrom(dev.diffusion.core.image.Png.encodeRgb(64, 64, flat.rgb(),
                        Map.of()))).build()).get(0), b64(json(r).get("images").get(0)));
        assertFalse(java.util.Arrays.equals(viaGrpc(job("a yellow circle").setSeed(3).setSteps(4).setSampler("Euler")
                .setCfgScale(7).setStrength(0.75f).setInitImage(ByteString.copyFrom(rgba)).build()).get(0),
                b64(json(r).get("images").get(0))), "alpha dropped instead of flattened");
        // inpainting: A1111's mask fields become the job's; the image equals the same job over gRPC
        byte[] maskRgb = new byte[64 * 64 * 3];
        for (int i = 0; i < 64 * 64; i++) {
            byte v = (i % 64) < 24 ? (byte) 255 : 0; // the left 24 columns
            maskRgb[3 * i] = maskRgb[3 * i + 1] = maskRgb[3 * i + 2] = v;
        }
        byte[] maskPng = dev.diffusion.core.image.Png.encodeRgb(64, 64, maskRgb, Map.of());
        r = post("/sdapi/v1/img2img", body("prompt", "a yellow circle", "seed", 3, "steps", 4, "mask_blur", 2,
                "inpainting_mask_invert", 1, "inpainting_fill", 1, "inpaint_full_res", false,
                "mask", Base64.getEncoder().encodeToString(maskPng),
                "init_images", List.of(Base64.getEncoder().encodeToString(init))), true);
        assertEquals(200, r.statusCode(), r.body());
        byte[] inpainted = b64(json(r).get("images").get(0));
        assertArrayEquals(viaGrpc(job("a yellow circle").setSeed(3).setSteps(4).setSampler("Euler").setCfgScale(7)
                .setStrength(0.75f).setInitImage(ByteString.copyFrom(init)).setMask(ByteString.copyFrom(maskPng)).setMaskBlur(2)
                .setMaskInvert(true).build()).get(0), inpainted);
        // inverted: the left columns (beyond the blur) are the init image's own pixels
        dev.diffusion.core.image.Png.Image initImage = dev.diffusion.core.image.Png.decode(init);
        dev.diffusion.core.image.Png.Image out = dev.diffusion.core.image.Png.decode(inpainted);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 16; x++) {
                assertEquals(initImage.rgb()[(y * 64 + x) * 3], out.rgb()[(y * 64 + x) * 3], "kept pixel " + x + "," + y);
            }
        }
        HttpResponse<String> fill = post("/sdapi/v1/img2img", body("prompt", "x", "inpainting_fill", 0,
                "mask", Base64.getEncoder().encodeToString(maskPng), "init_images", List.of(Base64.getEncoder().encodeToString(init))), true);
        assertEquals(422, fill.statusCode(), fill.body());
        assertEquals("[\"body\",\"inpainting_fill\"]", json(fill).get("detail").get(0).get("loc").toString(), fill.body());
        HttpResponse<String> latent = post("/sdapi/v1/img2img", body("prompt", "x", "width", 96, "height", 64, "resize_mode", 3,
                "init_images", List.of(Base64.getEncoder().encodeToString(init))), true);
        assertEquals(422, latent.statusCode(), latent.body());
        assertEquals("[\"body\",\"resize_mode\"]", json(latent).get("detail").get(0).get("loc").toString(), latent.body());
    }

    @Test
    void a1111PromptSettingsOverrideTheJobsAndMalformedWeightsAreRefused() throws Exception {
        // byte-level tokens (tiny-random): "word, " is 5, so 200 tokens = 3 chunks against the negative prompt's 1
        String prompt = "word, ".repeat(40);
        HttpResponse<String> r = post("/sdapi/v1/txt2img", body("prompt", prompt, "negative_prompt", "red", "seed", 7,
                "steps", 3, "width", 64, "height", 64,
                "override_settings", Map.of("pad_cond_uncond", true, "comma_padding_backtrack", 20)), true);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        List<byte[]> padded = viaGrpc(job(prompt).setNegativePrompt("red").setSeed(7).setSteps(3).setSampler("Euler")
                .setCfgScale(7).setPadCondUncond(true).setCommaPaddingBacktrack(20).build());
        assertArrayEquals(padded.get(0), b64(body.get("images").get(0)));
        List<byte[]> plain = viaGrpc(job(prompt).setNegativePrompt("red").setSeed(7).setSteps(3).setSampler("Euler")
                .setCfgScale(7).build());
        assertFalse(java.util.Arrays.equals(plain.get(0), padded.get(0)), "the settings must change the image");
        JsonNode info = JSON.readTree(body.get("info").asText());
        assertTrue(info.get("infotexts").get(0).asText().endsWith("Pad conds: True"), info.toString());
        assertEquals(20, body.get("parameters").get("override_settings").get("comma_padding_backtrack").asInt());
        assertEquals(0, json(get("/sdapi/v1/options")).get("comma_padding_backtrack").asInt()); // ours: sd.cpp's 0

        HttpResponse<String> backtrack = post("/sdapi/v1/txt2img", body("prompt", "x", "width", 64, "height", 64,
                "override_settings", Map.of("comma_padding_backtrack", 75)), true);
        assertEquals(422, backtrack.statusCode(), backtrack.body());
        assertEquals("[\"body\",\"override_settings.comma_padding_backtrack\"]",
                json(backtrack).get("detail").get(0).get("loc").toString(), backtrack.body());
        // A1111 fails a weight Python's float() cannot read; here the request is refused naming the field
        HttpResponse<String> weight = post("/sdapi/v1/txt2img", body("prompt", "a (cat:1.2.3)", "width", 64, "height", 64),
                true);
        assertEquals(422, weight.statusCode(), weight.body());
        assertEquals("[\"body\",\"prompt\"]", json(weight).get("detail").get(0).get("loc").toString(), weight.body());
        assertTrue(json(weight).get("detail").get(0).get("msg").asText().contains("the weight in ':1.2.3)' is not a number"),
                weight.body());
    }

    @Test
    void a1111RefusesWhatItDoesNotDoNamingTheField() throws Exception {
        for (Map.Entry<String, Object> f : Map.<String, Object>of("enable_hr", true, "restore_faces", true, "script_name",
                "x/y/z plot", "tiling", true, "subseed_strength", 0.3, "hr_scale_typo", 2).entrySet()) {
            HttpResponse<String> r = post("/sdapi/v1/txt2img", body("prompt", "x", "width", 64, "height", 64,
                    f.getKey(), f.getValue()), true);
            assertEquals(422, r.statusCode(), f + ": " + r.body());
            assertEquals("[\"body\",\"" + f.getKey() + "\"]", json(r).get("detail").get(0).get("loc").toString(), r.body());
        }
        HttpResponse<String> steps = post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 500}", true);
        assertEquals(422, steps.statusCode());
        assertTrue(json(steps).get("detail").get(0).get("msg").asText().contains("between 1 and 150"), steps.body());
        // an explicit 0 is a value out of range, not proto3's "default"; an init image that decodes to nothing is none
        for (String bad : new String[] {"{\"prompt\": \"x\", \"steps\": 0}", "{\"prompt\": \"x\", \"width\": 0}"}) {
            HttpResponse<String> r = post("/sdapi/v1/txt2img", bad, true);
            assertEquals(422, r.statusCode(), bad + ": " + r.body());
            assertEquals(bad.contains("steps") ? "[\"body\",\"steps\"]" : "[\"body\",\"width\"]",
                    json(r).get("detail").get(0).get("loc").toString(), r.body());
        }
        HttpResponse<String> noImage = post("/sdapi/v1/img2img", "{\"prompt\": \"x\", \"init_images\": [\"!!!\"]}", true);
        assertEquals(422, noImage.statusCode(), noImage.body());
        assertEquals("[\"body\",\"init_images\"]", json(noImage).get("detail").get(0).get("loc").toString(), noImage.body());
        HttpResponse<String> sampler = post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"sampler_name\": \"UniPC\"}", true);
        assertEquals("[\"body\",\"sampler_name\"]", json(sampler).get("detail").get(0).get("loc").toString(), sampler.body());
        HttpResponse<String> override = post("/sdapi/v1/txt2img",
                "{\"prompt\": \"x\", \"override_settings\": {\"sd_model_checkpoint\": \"v1-5\"}}", true);
        assertEquals("[\"body\",\"override_settings.sd_model_checkpoint\"]",
                json(override).get("detail").get(0).get("loc").toString(), override.body());
        HttpResponse<String> noToken = post("/sdapi/v1/txt2img", "{\"prompt\": \"x\"}", false);
        assertEquals(401, noToken.statusCode());
        assertTrue(json(noToken).get("detail").asText().contains("Bearer"), noToken.body());
    }

    @Test
    void a1111Lists() throws Exception {
        List<String> samplers = new ArrayList<>();
        json(get("/sdapi/v1/samplers")).forEach(s -> samplers.add(s.get("name").asText()));
        assertEquals(List.of("Euler", "Euler a", "DPM++ 2M", "DDIM", "DDPM", "LMS", "Heun", "DPM2", "LCM", "iPNDM", "DPM2 a",
                "DPM++ 2S a"), samplers);
        assertEquals("Karras", json(get("/sdapi/v1/schedulers")).get(1).get("label").asText());
        assertEquals("tiny-random", json(get("/sdapi/v1/sd-models")).get(0).get("model_name").asText());
        JsonNode options = json(get("/sdapi/v1/options"));
        assertEquals("tiny-random", options.get("sd_model_checkpoint").asText());
        assertEquals(200, post("/sdapi/v1/options", "{\"CLIP_stop_at_last_layers\": 1}", true).statusCode());
        HttpResponse<String> change = post("/sdapi/v1/options", "{\"sd_model_checkpoint\": \"v1-5-pruned\"}", true);
        assertEquals(422, change.statusCode());
        assertEquals("[\"body\",\"sd_model_checkpoint\"]", json(change).get("detail").get(0).get("loc").toString());
    }

    @Test
    void a1111ProgressShowsTheLatentPreviewAndInterruptCancels() throws Exception {
        // long enough to be caught running: 512x512, 150 steps of the tiny model
        CompletableFuture<HttpResponse<String>> running = CompletableFuture.supplyAsync(() -> {
            try {
                return post("/sdapi/v1/txt2img", "{\"prompt\": \"a long one\", \"width\": 512, \"height\": 512, \"steps\": 150, \"seed\": 1}", true);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        JsonNode progress = null;
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < end) {
            progress = json(get("/sdapi/v1/progress"));
            if (progress.get("state").get("sampling_step").asInt() >= 2 && !progress.get("current_image").isNull()) {
                break;
            }
            Thread.sleep(100);
        }
        assertNotNull(progress);
        assertTrue(progress.get("state").get("sampling_step").asInt() >= 2, progress.toString());
        assertEquals(150, progress.get("state").get("sampling_steps").asInt());
        double fraction = progress.get("progress").asDouble();
        assertTrue(fraction > 0 && fraction < 1, progress.toString());
        assertTrue(progress.get("eta_relative").asDouble() > 0, progress.toString());
        Png.Image preview = Png.decode(b64(progress.get("current_image")));
        assertEquals(64, preview.width()); // one pixel per latent pixel: 512 / 8
        String jobId = progress.get("state").get("job").asText();

        assertEquals(200, post("/sdapi/v1/interrupt", "", true).statusCode());
        HttpResponse<String> answer = running.get(60, TimeUnit.SECONDS);
        assertEquals(200, answer.statusCode(), answer.body());
        assertEquals(0, json(answer).get("images").size());
        assertTrue(JSON.readTree(json(answer).get("info").asText()).get("interrupted").asBoolean());
        assertEquals(JobStatus.State.CANCELLED, grpc.get(GetRequest.newBuilder().setJobId(jobId).build()).getState());
        JsonNode idle = json(get("/sdapi/v1/progress"));
        assertEquals(0.0, idle.get("progress").asDouble(), idle.toString());
        assertFalse(idle.get("state").get("job").asText().equals(jobId), idle.toString());
    }

    /**
     * A client that hangs up on a synchronous txt2img cancels the job its request created (a timeout and a retry
     * would otherwise run it twice); a request that only joined a known job id leaves that job alone.
     */
    @Test
    void aClientThatHangsUpCancelsTheJobItsRequestCreated() throws Exception {
        String id = "hangup-" + System.nanoTime();
        String body = "{\"prompt\": \"abandoned\", \"width\": 512, \"height\": 512, \"steps\": 150, \"seed\": 5,"
                + " \"force_task_id\": \"" + id + "\"}";
        try (java.net.Socket socket = rawPost("/sdapi/v1/txt2img", body)) {
            awaitState(id, JobStatus.State.RUNNING, 120);
            // a second request for the same id joins the job (same settings): its hanging up cancels nothing
            try (java.net.Socket joined = rawPost("/sdapi/v1/txt2img", body)) {
                Thread.sleep(500);
            }
            Thread.sleep(1500);
            assertEquals(JobStatus.State.RUNNING, grpc.get(GetRequest.newBuilder().setJobId(id).build()).getState(),
                    "the joining request's hang-up left the job running");
        } // the creating request's connection closes here
        JobStatus end = awaitState(id, JobStatus.State.CANCELLED, 30);
        assertTrue(end.getLastEvent().getCancelled().getStepsDone() < 150, end.toString());
    }

    /** A POST written on a raw socket, not read: closing the socket is the client hanging up. */
    java.net.Socket rawPost(String path, String json) throws IOException {
        URI u = URI.create(base);
        java.net.Socket socket = new java.net.Socket(u.getHost(), u.getPort());
        byte[] bytes = json.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        var out = socket.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: " + u.getHost() + "\r\nAuthorization: Bearer " + TOKEN
                + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        out.write(bytes);
        out.flush();
        return socket;
    }

    JobStatus awaitState(String id, JobStatus.State state, int seconds) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        JobStatus last = null;
        while (System.nanoTime() < end) {
            try {
                last = grpc.get(GetRequest.newBuilder().setJobId(id).build());
                if (last.getState() == state) {
                    return last;
                }
            } catch (io.grpc.StatusRuntimeException notYet) {
                // not known yet
            }
            Thread.sleep(100);
        }
        throw new AssertionError("job " + id + " not " + state + " within " + seconds + " s: " + last);
    }

    // ------------------------------------------------------------------------------------ the page

    @Test
    void thePageInHeadlessChromium() throws Exception {
        Map<String, JsonNode> out = node("page.mjs", Map.of("BASE_URL", base, "TOKEN", TOKEN,
                "CHROMIUM", System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium")));
        assertTrue(out.get("title").get("title").asText().startsWith("diffusion"), out.toString());
        JsonNode generated = out.get("generated");
        assertArrayEquals(viaGrpc(job("a yellow triangle at the top").setNegativePrompt("green").setSteps(3).setSeed(77)
                .setSampler("Euler a").build()).get(0), b64(generated.get("png")));
        assertEquals("a yellow triangle at the top\nNegative prompt: green\nSteps: 3, Sampler: Euler a, Schedule type: Automatic,"
                + " CFG scale: 7, Seed: 77, Size: 64x64, Model: tiny-random, RNG: NV", generated.get("parameters").asText());
        assertTrue(generated.get("status").asText().startsWith("COMPLETED"), generated.toString());
        JsonNode cancelled = out.get("cancelled");
        double progressed = cancelled.get("progressed").asDouble();
        assertTrue(progressed >= 3 / 150.0 && progressed < 1, cancelled.toString());
        assertEquals(64, cancelled.get("preview").get("width").asInt(), cancelled.toString()); // the 512 x 512 job's latent
        java.util.regex.Matcher stopped = java.util.regex.Pattern.compile("CANCELLED — step (\\d+) of 150.*")
                .matcher(cancelled.get("status").asText());
        assertTrue(stopped.matches() && Integer.parseInt(stopped.group(1)) < 150, cancelled.toString());
        assertTrue(cancelled.get("status").asText().startsWith("CANCELLED"), cancelled.toString());
        assertEquals(JobStatus.State.CANCELLED, grpc.get(GetRequest.newBuilder().setJobId(cancelled.get("jobId").asText()).build())
                .getState());
    }
}
