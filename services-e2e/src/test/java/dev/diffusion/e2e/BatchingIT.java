package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.core.sampling.Guidance;
import dev.diffusion.core.sampling.LatentShape;
import dev.diffusion.core.sampling.SamplerState;
import dev.diffusion.core.sampling.SamplingLoop;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.EncodeTextRequest;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.Tensor;
import dev.diffusion.proto.v1.TextEncoderGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Cross-job batching on the demo model (a real trained network, unlike the tiny random one whose kernels happen to
 * give the same bits at any batch size): six jobs sampled at once through a U-Net service, whose steps are merged
 * into shared runs, against the same six jobs one at a time. With merging on, the images differ by float rounding
 * only (the bound is printed and asserted); with {@code diffusion.unet.batching.enabled=false} they are equal bit for
 * bit.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BatchingIT {
    static final int JOBS = 6;
    static final List<String> DEMO = List.of("-Ddiffusion.model.path=demo");

    ServiceProcess text;
    ServiceProcess merging;
    ServiceProcess unmerged;
    final List<ManagedChannel> channels = new ArrayList<>();
    StableDiffusionPipeline pipeline;
    final ExecutorService jobs = Executors.newFixedThreadPool(JOBS);

    @BeforeAll
    void start() throws Exception {
        text = ServiceProcess.start("text-encoder-service", DEMO);
        merging = ServiceProcess.start("unet-service", DEMO);
        unmerged = ServiceProcess.start("unet-service", List.of("-Ddiffusion.model.path=demo",
                "-Ddiffusion.unet.batching.enabled=false"));
        pipeline = StableDiffusionPipeline.load(ModelSource.DEMO, null, Precision.FP32);
        for (ServiceProcess p : List.of(text, merging, unmerged)) {
            p.awaitReady(Duration.ofSeconds(180));
        }
    }

    @AfterAll
    void stop() throws Exception {
        jobs.shutdownNow();
        channels.forEach(ManagedChannel::shutdownNow);
        for (ServiceProcess p : Arrays.asList(text, merging, unmerged)) {
            if (p != null) {
                p.close();
            }
        }
        if (pipeline != null) {
            pipeline.close();
        }
    }

    private ManagedChannel channel(ServiceProcess p) {
        ManagedChannel c = ManagedChannelBuilder.forAddress("127.0.0.1", p.port).usePlaintext().maxInboundMessageSize(64 << 20).build();
        channels.add(c);
        return c;
    }

    /** Job i: its own prompt, seed and sampler position, 64×64, 8 Euler steps. */
    static GenerationRequest job(int i) {
        String[] colours = {"red", "green", "blue", "yellow", "purple", "orange"};
        String[] shapes = {"circle", "square", "triangle"};
        return GenerationRequest.of("a " + colours[i % 6] + " " + shapes[i % 3] + " on a white background")
                .withSize(64, 64).withSampling("euler", null, 8, 7.0).withSeed(100 + i);
    }

    /** One job's sampling loop over the services (each step one Predict of the CFG pair), as the orchestrator runs it. */
    private float[] sample(GenerationRequest request, DenoiserGrpc.DenoiserBlockingStub unet) {
        Tensor context = TextEncoderGrpc.newBlockingStub(channel(text)).withDeadlineAfter(60, TimeUnit.SECONDS)
                .encode(EncodeTextRequest.newBuilder().addPrompts(request.negativePrompt()).addPrompts(request.prompt()).build())
                .getHiddenStates();
        int lh = request.height() / pipeline.latentScale();
        int lw = request.width() / pipeline.latentScale();
        int c = pipeline.latentChannels();
        int n = lh * lw * c;
        SamplingLoop loop = pipeline.samplingLoop(request);
        SamplerState state = loop.start(request.rng(), request.seed(), LatentShape.nhwc(1, c, lh, lw));
        while (!loop.done(state)) {
            float[] in = loop.modelInput(state);
            float t = (float) loop.timestep(state);
            float[] pair = Arrays.copyOf(in, 2 * n);
            System.arraycopy(in, 0, pair, n, n);
            float[] out = Tensors.floats(unet.withDeadlineAfter(60, TimeUnit.SECONDS).predict(PredictRequest.newBuilder()
                    .setLatents(Tensors.float32(pair, 2, lh, lw, c)).addTimesteps(t).addTimesteps(t).setContext(context)
                    .build()).getNoisePrediction(), "noise_prediction");
            loop.advance(state, Guidance.combine(Arrays.copyOfRange(out, 0, n), Arrays.copyOfRange(out, n, 2 * n),
                    request.cfgScale()));
        }
        return loop.output(state);
    }

    private List<float[]> allAtOnce(ServiceProcess unetProcess) throws Exception {
        DenoiserGrpc.DenoiserBlockingStub unet = DenoiserGrpc.newBlockingStub(channel(unetProcess));
        List<Future<float[]>> f = new ArrayList<>();
        for (int i = 0; i < JOBS; i++) {
            GenerationRequest r = job(i);
            f.add(jobs.submit(() -> sample(r, unet)));
        }
        List<float[]> latents = new ArrayList<>();
        for (Future<float[]> x : f) {
            latents.add(x.get(300, TimeUnit.SECONDS));
        }
        return latents;
    }

    private List<float[]> oneAtATime(ServiceProcess unetProcess) {
        DenoiserGrpc.DenoiserBlockingStub unet = DenoiserGrpc.newBlockingStub(channel(unetProcess));
        List<float[]> latents = new ArrayList<>();
        for (int i = 0; i < JOBS; i++) {
            latents.add(sample(job(i), unet));
        }
        return latents;
    }

    private byte[] image(float[] latent) {
        int side = 64 / pipeline.latentScale();
        return AutoencoderKL.toRgb8(pipeline.decode(latent, 1, side, side));
    }

    @Test
    void jobsSampledAtOnceAreMergedAndTheirImagesDifferFromLoneRunsOnlyByRounding() throws Exception {
        double runsBefore = ModelServicesIT.metricValue(merging, "diffusion_run_calls_count");
        List<float[]> batched = allAtOnce(merging);
        double runs = ModelServicesIT.metricValue(merging, "diffusion_run_calls_count") - runsBefore;
        double mergedMax = ModelServicesIT.metricValue(merging, "diffusion_run_calls_max");
        List<float[]> alone = oneAtATime(merging);
        assertTrue(runs < JOBS * 8, "the six jobs' 48 steps were merged: " + runs + " runs, up to " + mergedMax + " calls each");

        double maxAbs = 0;
        double worstPsnr = Double.POSITIVE_INFINITY;
        int maxPixel = 0;
        for (int i = 0; i < JOBS; i++) {
            float[] a = alone.get(i);
            float[] b = batched.get(i);
            for (int j = 0; j < a.length; j++) {
                maxAbs = Math.max(maxAbs, Math.abs(a[j] - b[j]));
            }
            byte[] ia = image(a);
            byte[] ib = image(b);
            for (int j = 0; j < ia.length; j++) {
                maxPixel = Math.max(maxPixel, Math.abs((ia[j] & 0xff) - (ib[j] & 0xff)));
            }
            worstPsnr = Math.min(worstPsnr, dev.diffusion.core.image.Psnr.of8Bit(ia, ib));
        }
        System.out.printf("batching (demo model): %d jobs x 8 steps in %.0f runs (up to %.0f calls merged); final latent max abs"
                + " error %.3g; images: worst PSNR %.1f dB, max pixel difference %d%n", JOBS, runs, mergedMax, maxAbs,
                worstPsnr, maxPixel);
        assertTrue(maxAbs < 1e-3, "final latents differ by more than rounding: " + maxAbs);
        assertTrue(worstPsnr >= 50, "images differ by more than rounding: " + worstPsnr + " dB");
    }

    @Test
    void withMergingOffJobsAtOnceEqualLoneRunsBitForBit() throws Exception {
        List<float[]> atOnce = allAtOnce(unmerged);
        List<float[]> alone = oneAtATime(unmerged);
        for (int i = 0; i < JOBS; i++) {
            assertArrayEquals(alone.get(i), atOnce.get(i), "job " + i);
        }
        assertEquals(0.0, ModelServicesIT.metricValue(unmerged, "diffusion_run_calls_max") > 1 ? 1.0 : 0.0,
                "no run held more than one call");
    }
}
