package dev.diffusion.e2e;

import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.Guidance;
import dev.diffusion.core.sampling.LatentShape;
import dev.diffusion.core.sampling.SamplerState;
import dev.diffusion.core.sampling.SamplingLoop;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DType;
import dev.diffusion.proto.v1.DecodeRequest;
import dev.diffusion.proto.v1.DecodeResponse;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.EncodeImageRequest;
import dev.diffusion.proto.v1.EncodeImageResponse;
import dev.diffusion.proto.v1.EncodeTextRequest;
import dev.diffusion.proto.v1.EncodeTextResponse;
import dev.diffusion.proto.v1.ModelInfo;
import dev.diffusion.proto.v1.ModelInfoRequest;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.Tensor;
import dev.diffusion.proto.v1.TextEncoderGrpc;
import dev.diffusion.proto.v1.VaeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.function.Executable;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The three model services as real Quarkus processes (built fast-jars, tiny-random model, loopback ports): a
 * generation driven through them equals the in-process pipeline bit for bit; bad input is INVALID_ARGUMENT with a
 * message naming the field and the limit, and the next call still works; health, metrics and reflection answer.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ModelServicesIT {
    /** The text encoder gets a small message limit so the oversized-message case stays cheap. */
    static final int TEXT_MAX_INBOUND_BYTES = 256 * 1024;

    ServiceProcess textProcess;
    ServiceProcess unetProcess;
    ServiceProcess vaeProcess;
    ManagedChannel textChannel;
    ManagedChannel unetChannel;
    ManagedChannel vaeChannel;
    TextEncoderGrpc.TextEncoderBlockingStub text;
    DenoiserGrpc.DenoiserBlockingStub unet;
    VaeGrpc.VaeBlockingStub vae;
    StableDiffusionPipeline pipeline;

    @BeforeAll
    void start() throws Exception {
        long t0 = System.nanoTime();
        // the text encoder also runs with tracing on (exporting to a closed port) and logs each call's trace id
        textProcess = ServiceProcess.start("text-encoder-service",
                List.of("-Dquarkus.grpc.server.max-inbound-message-size=" + TEXT_MAX_INBOUND_BYTES,
                        "-Dquarkus.otel.sdk.disabled=false", "-Dquarkus.otel.exporter.otlp.endpoint=http://127.0.0.1:9",
                        "-Dquarkus.log.category.\"dev.diffusion.service.ServiceCall\".level=DEBUG"));
        // an attention budget that this class's calls fit in (the largest: 8 samples of 48x48 latents, 0.34 GB)
        unetProcess = ServiceProcess.start("unet-service", List.of("-Ddiffusion.unet.max-attention-mb=" + UNET_ATTENTION_MB));
        vaeProcess = ServiceProcess.start("vae-service", List.of());
        pipeline = StableDiffusionPipeline.tinyRandom(Precision.FP32);
        for (ServiceProcess p : List.of(textProcess, unetProcess, vaeProcess)) {
            System.out.printf("%s ready %d ms after its start%n", p.name, p.awaitReady(Duration.ofSeconds(180)));
        }
        System.out.printf("all services ready in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        textChannel = channel(textProcess);
        unetChannel = channel(unetProcess);
        vaeChannel = channel(vaeProcess);
        text = TextEncoderGrpc.newBlockingStub(textChannel).withDeadlineAfter(60, TimeUnit.SECONDS);
        unet = DenoiserGrpc.newBlockingStub(unetChannel).withDeadlineAfter(60, TimeUnit.SECONDS);
        vae = VaeGrpc.newBlockingStub(vaeChannel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterAll
    void stop() throws Exception {
        for (ManagedChannel c : Arrays.asList(textChannel, unetChannel, vaeChannel)) {
            if (c != null) {
                c.shutdownNow();
            }
        }
        for (ServiceProcess p : Arrays.asList(textProcess, unetProcess, vaeProcess)) {
            if (p != null) {
                p.close();
            }
        }
        if (pipeline != null) {
            pipeline.close();
        }
    }

    private static ManagedChannel channel(ServiceProcess p) {
        return ManagedChannelBuilder.forAddress("127.0.0.1", p.port).usePlaintext().maxInboundMessageSize(64 << 20).build();
    }

    // ------------------------------------------------------------------------------------ the generation

    @Test
    void generationThroughTheServicesEqualsTheInProcessPipelineBitForBit() {
        for (String sampler : List.of("Euler a", "DPM++ 2M Karras")) {
            GenerationRequest request = GenerationRequest.of("a red circle on a white background").withSize(64, 64)
                    .withSampling(sampler, null, 3, 7.0).withSeed(1234).withNegativePrompt("blurry");
            GeneratedImage expected = pipeline.generate(request, ProgressListener.NONE).get(0);

            EncodeTextResponse encoded = text.encode(EncodeTextRequest.newBuilder()
                    .addPrompts(request.negativePrompt()).addPrompts(request.prompt()).setClipSkip(request.clipSkip()).build());
            assertEquals(List.of(2L, 77L, 32L), encoded.getHiddenStates().getShapeList());
            float[] context = Tensors.floats(encoded.getHiddenStates(), "hidden_states");
            assertArrayEquals(pipeline.encodePrompts(request.negativePrompt(), request.prompt(), request.clipSkip(),
                    ProgressListener.NONE), context, "hidden states");

            int scale = pipeline.latentScale();
            int lh = request.height() / scale;
            int lw = request.width() / scale;
            int channels = pipeline.latentChannels();
            int n = lh * lw * channels;
            SamplingLoop loop = pipeline.samplingLoop(request);
            SamplerState state = loop.start(request.rng(), request.seed(), LatentShape.nhwc(1, channels, lh, lw));
            Tensor contextTensor = encoded.getHiddenStates();
            while (!loop.done(state)) {
                float[] in = loop.modelInput(state);
                float t = (float) loop.timestep(state);
                float[] pair = new float[2 * n];
                System.arraycopy(in, 0, pair, 0, n);
                System.arraycopy(in, 0, pair, n, n);
                float[] out = Tensors.floats(unet.predict(PredictRequest.newBuilder()
                        .setLatents(Tensors.float32(pair, 2, lh, lw, channels)).addTimesteps(t).addTimesteps(t)
                        .setContext(contextTensor).build()).getNoisePrediction(), "noise_prediction");
                loop.advance(state, Guidance.combine(Arrays.copyOfRange(out, 0, n), Arrays.copyOfRange(out, n, 2 * n),
                        request.cfgScale()));
            }
            float[] latent = loop.output(state);
            assertArrayEquals(expected.latent(), latent, sampler + ": final latent");

            DecodeResponse decoded = vae.decode(DecodeRequest.newBuilder()
                    .setLatents(Tensors.float32(latent, 1, lh, lw, channels)).setIncludeDecoded(true).build());
            assertEquals(List.of(1L, 64L, 64L, 3L), decoded.getImages().getShapeList());
            assertEquals(DType.UINT8, decoded.getImages().getDtype());
            assertArrayEquals(expected.decoded(), Tensors.floats(decoded.getDecoded(), "decoded"), sampler + ": decoded");
            assertArrayEquals(expected.rgb(), decoded.getImages().getData().toByteArray(), sampler + ": RGB8");
        }
    }

    /**
     * Concurrent Predict calls of one shape are merged into one U-Net run (cross-job batching), calls of another latent
     * size are not, and every caller gets the prediction of its own samples: each equals the same call sent alone up to
     * float rounding. A merge that mixed up latents, timesteps or contexts between callers is off by O(1).
     */
    @Test
    void concurrentPredictCallsAreMergedAndDifferFromLoneCallsOnlyByRounding() throws Exception {
        int calls = 8;
        List<PredictRequest> requests = new ArrayList<>();
        java.util.Random random = new java.util.Random(7);
        for (int i = 0; i < calls; i++) {
            int side = i % 4 == 3 ? 16 : 8; // two of them at another latent size
            float[] latents = new float[2 * side * side * 4];
            float[] context = new float[2 * 77 * 32];
            for (int j = 0; j < latents.length; j++) {
                latents[j] = (float) random.nextGaussian();
            }
            for (int j = 0; j < context.length; j++) {
                context[j] = (float) random.nextGaussian();
            }
            requests.add(PredictRequest.newBuilder().setLatents(Tensors.float32(latents, 2, side, side, 4))
                    .addTimesteps(100 * i + 1).addTimesteps(999 - 50 * i).setContext(Tensors.float32(context, 2, 77, 32)).build());
        }
        double runsBefore = metricValue(unetProcess, "diffusion_run_calls_count");
        double callsBefore = metricValue(unetProcess, "diffusion_run_calls_sum");
        // all at once, several rounds: calls queued behind a running one are merged
        List<float[]> merged = new ArrayList<>();
        DenoiserGrpc.DenoiserFutureStub async = DenoiserGrpc.newFutureStub(unetChannel);
        for (int round = 0; round < 3; round++) {
            List<com.google.common.util.concurrent.ListenableFuture<dev.diffusion.proto.v1.PredictResponse>> f = new ArrayList<>();
            for (PredictRequest r : requests) {
                f.add(async.withDeadlineAfter(60, TimeUnit.SECONDS).predict(r));
            }
            merged.clear();
            for (var x : f) {
                merged.add(Tensors.floats(x.get(60, TimeUnit.SECONDS).getNoisePrediction(), "noise_prediction"));
            }
        }
        double runs = metricValue(unetProcess, "diffusion_run_calls_count") - runsBefore;
        double served = metricValue(unetProcess, "diffusion_run_calls_sum") - callsBefore;
        assertEquals(3.0 * calls, served, "every call ran once");
        assertTrue(runs < served, "concurrent calls were merged: " + served + " calls in " + runs + " runs");

        double maxAbs = 0;
        double maxRel = 0;
        for (int i = 0; i < calls; i++) {
            float[] alone = Tensors.floats(unet.predict(requests.get(i)).getNoisePrediction(), "noise_prediction");
            float[] got = merged.get(i);
            assertEquals(alone.length, got.length, "call " + i + ": shape");
            double scale = 0;
            for (float v : alone) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int j = 0; j < alone.length; j++) {
                double d = Math.abs(alone[j] - got[j]);
                maxAbs = Math.max(maxAbs, d);
                maxRel = Math.max(maxRel, d / scale);
            }
        }
        System.out.printf("batching: %d calls in %d runs; merged vs alone: max abs error %.3g, max error / max |value| %.3g%n",
                (long) served, (long) runs, maxAbs, maxRel);
        assertTrue(maxRel < 1e-4, "merged calls differ from lone calls by more than rounding: " + maxRel);
    }

    /** A prompt encoded again comes from the cache: the same bits, counted as hits; another clip skip is another entry. */
    @Test
    void repeatedPromptsComeFromTheEmbeddingCache() throws Exception {
        EncodeTextRequest request = EncodeTextRequest.newBuilder().addPrompts("").addPrompts("a cached prompt").build();
        double hits = metricValue(textProcess, "diffusion_embedding_cache_requests_total{result=\"hit\"}");
        double misses = metricValue(textProcess, "diffusion_embedding_cache_requests_total{result=\"miss\"}");
        EncodeTextResponse first = text.encode(request);
        EncodeTextResponse second = text.encode(request);
        EncodeTextResponse skip2 = text.encode(request.toBuilder().setClipSkip(2).build());
        assertEquals(first.getHiddenStates(), second.getHiddenStates());
        assertFalse(first.getHiddenStates().equals(skip2.getHiddenStates()), "clip skip 2 is not clip skip 1's entry");
        double newHits = metricValue(textProcess, "diffusion_embedding_cache_requests_total{result=\"hit\"}") - hits;
        double newMisses = metricValue(textProcess, "diffusion_embedding_cache_requests_total{result=\"miss\"}") - misses;
        assertEquals(6.0, newHits + newMisses, "six prompt encodings asked");
        // the second request: 2 hits; "" at clip skip 1 may have been cached by an earlier test; clip skip 2: 2 misses
        assertTrue(newHits == 2 || newHits == 3, "hits " + newHits + ", misses " + newMisses);
        // the cached entry equals the in-process encoding of the same prompts (each prompt alone in both paths)
        assertArrayEquals(pipeline.encodePrompts("", "a cached prompt", 1, ProgressListener.NONE),
                Tensors.floats(second.getHiddenStates(), "hidden_states"));
    }

    static double metricValue(ServiceProcess p, String name) throws Exception {
        double sum = 0;
        for (String line : p.get("/q/metrics").body().split("\n")) {
            if (line.startsWith(name.contains("{") ? name : name + "{") || line.startsWith(name + " ")) {
                // the value follows the name and labels; with tracing on an exemplar (# {...} value time) may follow it
                String rest = line.substring(line.indexOf('}') > 0 ? line.indexOf('}') + 1 : name.length()).trim();
                sum += Double.parseDouble(rest.split("\\s+")[0]);
            }
        }
        return sum;
    }

    @Test
    void vaeEncodeGivesMomentsAndASeededSample() {
        byte[] rgb = new byte[64 * 64 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 7);
        }
        EncodeImageRequest request = EncodeImageRequest.newBuilder().setImages(Tensors.uint8(rgb, 1, 64, 64, 3))
                .setSample(true).setSeed(99).build();
        EncodeImageResponse a = vae.encode(request);
        EncodeImageResponse b = vae.encode(request);
        assertEquals(List.of(1L, 8L, 8L, 4L), a.getMean().getShapeList());
        assertEquals(a.getLatents(), b.getLatents(), "same seed, same latent");
        assertFalse(a.getLatents().equals(vae.encode(request.toBuilder().setSeed(100).build()).getLatents()));
        float[] mean = Tensors.floats(a.getMean(), "mean");
        float[] logvar = Tensors.floats(a.getLogvar(), "logvar");
        float[] latents = Tensors.floats(a.getLatents(), "latents");
        // latents = 0.18215 * (mean + exp(logvar / 2) * noise): with the noise unknown, check |latent/0.18215 - mean| is
        // a plausible multiple of the standard deviation
        double worst = 0;
        for (int i = 0; i < mean.length; i++) {
            worst = Math.max(worst, Math.abs(latents[i] / 0.18215 - mean[i]) / Math.exp(logvar[i] / 2));
        }
        assertTrue(worst > 0.1 && worst < 6, "noise of a standard normal sample, worst |z| = " + worst);
    }

    // ------------------------------------------------------------------------------------ bad input

    @Test
    void badInputIsInvalidArgumentNamingTheFieldAndTheNextCallStillWorks() {
        Tensor context = Tensors.float32(new float[77 * 32], 1, 77, 32);
        PredictRequest good = PredictRequest.newBuilder().setLatents(Tensors.float32(new float[8 * 8 * 4], 1, 8, 8, 4))
                .addTimesteps(999).setContext(context).build();
        Executable goodUnet = () -> assertEquals(List.of(1L, 8L, 8L, 4L), unet.predict(good).getNoisePrediction().getShapeList());

        invalid("latents: rank must be 4, got shape [1, 8, 32]",
                () -> unet.predict(good.toBuilder().setLatents(Tensors.float32(new float[256], 1, 8, 32)).build()), goodUnet);
        invalid("latents: data is 1020 bytes but shape [1, 8, 8, 4] of FLOAT32 needs 1024",
                () -> unet.predict(good.toBuilder().setLatents(good.getLatents().toBuilder()
                        .setData(good.getLatents().getData().substring(4))).build()), goodUnet);
        float[] nan = new float[8 * 8 * 4];
        nan[5] = Float.NaN;
        invalid("latents: values must be finite, got NaN at index 5",
                () -> unet.predict(good.toBuilder().setLatents(Tensors.float32(nan, 1, 8, 8, 4)).build()), goodUnet);
        float[] inf = new float[77 * 32];
        inf[0] = Float.POSITIVE_INFINITY;
        invalid("context: values must be finite, got Infinity at index 0",
                () -> unet.predict(good.toBuilder().setContext(Tensors.float32(inf, 1, 77, 32)).build()), goodUnet);
        invalid("latents: batch 9 is above the limit diffusion.unet.max-batch = 8",
                () -> unet.predict(PredictRequest.newBuilder().setLatents(Tensors.float32(new float[9 * 8 * 8 * 4], 9, 8, 8, 4))
                        .addAllTimesteps(List.of(1f, 1f, 1f, 1f, 1f, 1f, 1f, 1f, 1f))
                        .setContext(Tensors.float32(new float[9 * 77 * 32], 9, 77, 32)).build()), goodUnet);
        invalid("context: width 16 does not match the model's hidden size 32",
                () -> unet.predict(good.toBuilder().setContext(Tensors.float32(new float[77 * 16], 1, 77, 16)).build()), goodUnet);
        invalid("timesteps[0]: must be in [0, 1000), got 1000.0",
                () -> unet.predict(good.toBuilder().setTimesteps(0, 1000).build()), goodUnet);
        invalid("timesteps[0]: must be in [0, 1000), got -0.5",
                () -> unet.predict(good.toBuilder().setTimesteps(0, -0.5f).build()), goodUnet);
        invalid("timesteps: need one per sample (1), got 2",
                () -> unet.predict(good.toBuilder().addTimesteps(3).build()), goodUnet);
        invalid("latents: height and width must be at most 256, got 257x8",
                () -> unet.predict(good.toBuilder().setLatents(Tensors.float32(new float[257 * 8 * 4], 1, 257, 8, 4)).build()),
                goodUnet);
        // any size up to the limit runs: 9x7 (odd sides, the up path matching each skip connection's size)
        var odd = unet.predict(good.toBuilder().setLatents(Tensors.float32(new float[9 * 7 * 4], 1, 9, 7, 4)).build());
        assertEquals(List.of(1L, 9L, 7L, 4L), odd.getNoisePrediction().getShapeList());
        // beyond the attention budget (the tiny model attends at level 0 with 2 heads: 2 · 65536² floats at 256x256),
        // refused before anything is allocated; the service, and the next call, live on
        invalid("latents: 1 samples of 256x256 latents need 32.00 GiB for attention in one call, above this service's 4.00 GiB"
                        + " (diffusion.unet.max-attention-mb); ask for smaller images, or give the U-Net service sliced attention"
                        + " (diffusion.attention.slice-mb) or a larger budget",
                () -> unet.predict(good.toBuilder().setLatents(Tensors.float32(new float[256 * 256 * 4], 1, 256, 256, 4)).build()),
                goodUnet);
        invalid("latents: dtype must be FLOAT32 or UINT8, got DTYPE_UNSPECIFIED",
                () -> unet.predict(good.toBuilder().setLatents(good.getLatents().toBuilder().setDtype(DType.DTYPE_UNSPECIFIED))
                        .build()), goodUnet);

        EncodeImageRequest goodImage = EncodeImageRequest.newBuilder()
                .setImages(Tensors.uint8(new byte[64 * 64 * 3], 1, 64, 64, 3)).build();
        Executable goodVae = () -> assertEquals(List.of(1L, 8L, 8L, 4L), vae.encode(goodImage).getMean().getShapeList());
        invalid("images: height and width must be multiples of 8 and at most 2048, got 64x60",
                () -> vae.encode(EncodeImageRequest.newBuilder().setImages(Tensors.uint8(new byte[60 * 64 * 3], 1, 60, 64, 3))
                        .build()), goodVae);
        invalid("images: FLOAT32 values must be in [-1, 1], got 2.0 at index 0",
                () -> vae.encode(EncodeImageRequest.newBuilder().setImages(Tensors.float32(filled(64 * 64 * 3, 2f), 1, 64, 64, 3))
                        .build()), goodVae);
        invalid("latents: must have 4 channels (NHWC), got shape [1, 8, 8, 3]",
                () -> vae.decode(DecodeRequest.newBuilder().setLatents(Tensors.float32(new float[8 * 8 * 3], 1, 8, 8, 3)).build()),
                goodVae);

        Executable goodText = () -> assertEquals(1, text.encode(EncodeTextRequest.newBuilder().addPrompts("a cat").build())
                .getPromptsCount());
        EncodeTextRequest.Builder nine = EncodeTextRequest.newBuilder();
        for (int i = 0; i < 9; i++) {
            nine.addPrompts("p" + i);
        }
        invalid("prompts: need 1 to 8 prompts (diffusion.text-encoder.max-batch), got 9", () -> text.encode(nine.build()),
                goodText);
        invalid("prompts: need 1 to 8 prompts (diffusion.text-encoder.max-batch), got 0",
                () -> text.encode(EncodeTextRequest.getDefaultInstance()), goodText);
        invalid("clip_skip: must be 1 to 2 (0 means 1), got 3",
                () -> text.encode(EncodeTextRequest.newBuilder().addPrompts("a cat").setClipSkip(3).build()), goodText);
    }

    @Test
    void anOversizedMessageIsRefusedAndTheServiceStaysUp() throws Exception {
        String huge = "x".repeat(TEXT_MAX_INBOUND_BYTES + 1000);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> text.encode(EncodeTextRequest.newBuilder().addPrompts(huge).build()));
        System.out.println("oversized message: " + e.getStatus());
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(textProcess.alive());
        assertEquals(1, text.encode(EncodeTextRequest.newBuilder().addPrompts("a cat").build()).getPromptsCount());
    }

    /** A call whose deadline passes while it waits behind another is not computed: DEADLINE_EXCEEDED, counted as such. */
    @Test
    void aCallWhoseDeadlinePassedIsNotComputed() throws Exception {
        int big = 8;
        int side = 48;
        PredictRequest slow = PredictRequest.newBuilder()
                .setLatents(Tensors.float32(new float[big * side * side * 4], big, side, side, 4))
                .addAllTimesteps(java.util.Collections.nCopies(big, 500f))
                .setContext(Tensors.float32(new float[big * 77 * 32], big, 77, 32)).build();
        unet.predict(slow); // the first run of a shape includes TensorFlow's graph optimisation for it
        long t0 = System.nanoTime();
        unet.predict(slow);
        long slowMillis = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("batch of 8 latents 48x48: " + slowMillis + " ms");
        org.junit.jupiter.api.Assumptions.assumeTrue(slowMillis > 200, "the slow call is too fast to queue behind");
        CompletableFuture<Object> first = new CompletableFuture<>();
        DenoiserGrpc.newStub(unetChannel).predict(slow, observer(first));
        // the slow call is computing now (on a loaded machine it may start late), for about half its time more
        Thread.sleep(slowMillis / 2);
        long deadlineMillis = slowMillis / 5;
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> DenoiserGrpc.newBlockingStub(unetChannel).withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS)
                        .predict(slow.toBuilder().setLatents(Tensors.float32(new float[8 * 8 * 4], 1, 8, 8, 4))
                                .clearTimesteps().addTimesteps(1).setContext(Tensors.float32(new float[77 * 32], 1, 77, 32))
                                .build()));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
        first.get(120, TimeUnit.SECONDS);
        String metrics = unetProcess.get("/q/metrics").body();
        assertTrue(metrics.lines().anyMatch(l -> l.startsWith("diffusion_request_seconds_count{")
                        && l.contains("method=\"Predict\"") && l.contains("outcome=\"DEADLINE_EXCEEDED\"")),
                "the expired call is counted as DEADLINE_EXCEEDED, not computed:\n" + grep(metrics, "diffusion_request_seconds_count"));
    }

    // ------------------------------------------------------------------------------------ operations

    @Test
    void readyMetricsAndReflection() throws Exception {
        text.encode(EncodeTextRequest.newBuilder().addPrompts("warm").build());
        for (ServiceProcess p : List.of(textProcess, unetProcess, vaeProcess)) {
            var ready = p.get("/q/health/ready");
            assertEquals(200, ready.statusCode(), p.name);
            assertTrue(ready.body().contains("\"status\": \"UP\""), ready.body());
            String metrics = p.get("/q/metrics").body();
            assertTrue(metrics.contains("diffusion_model_load_seconds_count{"), p.name + " load time");
            // the warm-up ran once, before ready
            assertEquals(1.0, metricValue(metrics, "diffusion_model_warmup_seconds_count{"), p.name + " warm-up");
            // resident memory as the kernel counts it: the gauge against /proc/PID/status read here, within the
            // few MiB the process may move between the two reads; the peak is at least the current figure
            double rss = metricValue(metrics, "process_resident_memory_bytes ");
            double kernel = procStatusBytes(p.pid(), "VmRSS:");
            assertTrue(Math.abs(rss - kernel) < 64 << 20, p.name + ": RSS gauge " + rss + " vs /proc " + kernel);
            double peak = metricValue(p.get("/q/metrics").body(), "process_resident_memory_peak_bytes ");
            assertTrue(peak >= rss - (16 << 20) && peak >= procStatusBytes(p.pid(), "VmRSS:") - (64 << 20),
                    p.name + ": peak " + peak + " vs RSS " + rss);
        }
        String textMetrics = textProcess.get("/q/metrics").body();
        assertTrue(textMetrics.contains("diffusion_request_seconds_bucket{") && textMetrics.contains("method=\"Encode\""),
                grep(textMetrics, "diffusion_request"));
        assertTrue(textMetrics.contains("diffusion_batch_size_samples_bucket{"), grep(textMetrics, "diffusion_batch"));

        assertEquals(Set.of("diffusion.v1.TextEncoder"), diffusionServices(textChannel));
        assertEquals(Set.of("diffusion.v1.Denoiser"), diffusionServices(unetChannel));
        assertEquals(Set.of("diffusion.v1.Vae"), diffusionServices(vaeChannel));

        ModelInfo info = unet.info(ModelInfoRequest.getDefaultInstance());
        assertEquals(32, info.getHiddenSize());
        assertEquals(1000, info.getNumTrainTimesteps());
        assertEquals(8, info.getMaxBatch());
        assertEquals(UNET_ATTENTION_MB << 20, info.getMaxAttentionBytes());
        assertEquals(0, info.getAttentionSliceBytes());
        assertEquals(8, vae.info(ModelInfoRequest.getDefaultInstance()).getVaeDownscale());
        assertEquals(77, text.info(ModelInfoRequest.getDefaultInstance()).getContextLength());
    }

    /** The value of the first /q/metrics line starting with {@code prefix}. */
    private static double metricValue(String metrics, String prefix) {
        String line = metrics.lines().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no metric line starting with " + prefix));
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
    }

    /** A {@code kB} field of {@code /proc/PID/status}, in bytes. */
    private static double procStatusBytes(long pid, String field) throws java.io.IOException {
        for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith(field)) {
                return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]) * 1024.0;
            }
        }
        throw new AssertionError("no " + field + " in /proc/" + pid + "/status");
    }

    /** A call carrying a W3C traceparent runs inside the caller's trace (OpenTelemetry's gRPC instrumentation). */
    @Test
    void aCallJoinsTheCallersTrace() throws Exception {
        String traceId = Long.toHexString(System.nanoTime() | (1L << 62)) + "00000000cafe0001";
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER), "00-" + traceId + "-b7ad6b7169203331-01");
        text.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .encode(EncodeTextRequest.newBuilder().addPrompts("traced").build());
        String expected = "Encode: deadline";
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < end) {
            if (java.nio.file.Files.readAllLines(textProcess.log).stream()
                    .anyMatch(l -> l.contains(expected) && l.endsWith("trace " + traceId))) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no Encode call logged with trace " + traceId + " in " + textProcess.log);
    }

    // ------------------------------------------------------------------------------------ helpers

    static final long UNET_ATTENTION_MB = 4096;

    private static void invalid(String expectedMessage, Executable call, Executable next) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call, expectedMessage);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        assertEquals(expectedMessage, e.getStatus().getDescription());
        try {
            next.execute();
        } catch (Throwable t) {
            throw new AssertionError("the call after \"" + expectedMessage + "\" failed", t);
        }
    }

    private static Set<String> diffusionServices(ManagedChannel channel) throws Exception {
        CompletableFuture<List<String>> names = new CompletableFuture<>();
        CountDownLatch done = new CountDownLatch(1);
        StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                .serverReflectionInfo(new StreamObserver<>() {
                    @Override
                    public void onNext(ServerReflectionResponse r) {
                        names.complete(r.getListServicesResponse().getServiceList().stream().map(ServiceResponse::getName).toList());
                    }

                    @Override
                    public void onError(Throwable t) {
                        names.completeExceptionally(t);
                        done.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        done.countDown();
                    }
                });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
        requests.onCompleted();
        List<String> all = names.get(20, TimeUnit.SECONDS);
        assertTrue(all.contains("grpc.health.v1.Health") || !all.isEmpty(), all.toString());
        return all.stream().filter(s -> s.startsWith("diffusion.")).collect(Collectors.toSet());
    }

    private static <T> StreamObserver<T> observer(CompletableFuture<Object> result) {
        return new StreamObserver<>() {
            @Override
            public void onNext(T value) {
                result.complete(value);
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                result.complete(null);
            }
        };
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    private static String grep(String text, String word) {
        List<String> lines = new ArrayList<>();
        text.lines().filter(l -> l.contains(word)).limit(30).forEach(lines::add);
        return String.join("\n", lines);
    }

}
