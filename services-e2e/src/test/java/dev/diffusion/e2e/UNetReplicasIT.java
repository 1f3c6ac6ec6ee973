package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.PredictRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * U-Net replicas in the service, started as an operator starts it (scripts/run-service.sh, which gives each
 * TensorFlow session its own thread pools when replicas are asked for): two replicas load, say so in /q/metrics and
 * answer a CFG pair with the in-process U-Net's prediction up to float rounding; asked for replicas where the
 * environment variable is missing, the service refuses to load and says why instead of running slowly.
 */
class UNetReplicasIT {
    static final int SIDE = 32;

    @Test
    void twoReplicasServeACfgPairAsTheInProcessUNetDoes() throws Exception {
        Map<String, String> env = new HashMap<>();
        env.put("TF_OVERRIDE_GLOBAL_THREADPOOL", null); // the script sets it
        try (ServiceProcess unet = ServiceProcess.startScript("unet",
                List.of("-Ddiffusion.model.path=demo", "-Ddiffusion.unet.replicas=2", "-Ddiffusion.threads=2"), env)) {
            unet.awaitReady(Duration.ofSeconds(180));
            assertEquals(2.0, ModelServicesIT.metricValue(unet, "diffusion_unet_replicas"), "the service's U-Net sessions");
            ModelSource demo = ModelSource.open("demo", null);
            int ctxLen = demo.contextLength();
            Random r = new Random(21);
            float[] latents = new float[2 * SIDE * SIDE * 4];
            for (int i = 0; i < latents.length; i++) {
                latents[i] = (float) r.nextGaussian();
            }
            try (UNet2DConditionModel local = demo.unet(Precision.FP32)) {
                int dim = local.config().crossAttentionDim();
                float[] context = new float[2 * ctxLen * dim];
                for (int i = 0; i < context.length; i++) {
                    context[i] = (float) r.nextGaussian();
                }
                ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", unet.port).usePlaintext()
                        .maxInboundMessageSize(64 << 20).build();
                try {
                    float[] got = Tensors.floats(DenoiserGrpc.newBlockingStub(ch).predict(PredictRequest.newBuilder()
                            .setLatents(Tensors.float32(latents, 2, SIDE, SIDE, 4)).addTimesteps(801).addTimesteps(801)
                            .setContext(Tensors.float32(context, 2, ctxLen, dim)).build()).getNoisePrediction(),
                            "noise_prediction");
                    float[] want = local.predict(latents, 2, SIDE, SIDE, new float[] {801, 801}, context, ctxLen);
                    double maxAbs = 0;
                    double maxRef = 0;
                    for (int i = 0; i < want.length; i++) {
                        maxAbs = Math.max(maxAbs, Math.abs(want[i] - got[i]));
                        maxRef = Math.max(maxRef, Math.abs(want[i]));
                    }
                    assertEquals(want.length, got.length);
                    assertTrue(maxRef > 0.1, "a real prediction");
                    assertTrue(maxAbs <= 1e-4 * maxRef, "replicas vs in process: max abs " + maxAbs + " of " + maxRef);
                } finally {
                    ch.shutdownNow();
                }
            }
        }
    }

    @Test
    void replicasWithoutTheirOwnThreadPoolsAreRefusedWithTheReason() throws Exception {
        try (ServiceProcess unet = ServiceProcess.start("unet-service", List.of("-Ddiffusion.model.path=demo",
                "-Ddiffusion.unet.replicas=2"))) { // java -jar directly: nothing sets TF_OVERRIDE_GLOBAL_THREADPOOL
            assertTrue(System.getenv("TF_OVERRIDE_GLOBAL_THREADPOOL") == null, "the test JVM's environment leaves it unset");
            long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            String body = "";
            while (System.nanoTime() < end && !body.contains("loading failed")) {
                try {
                    HttpResponse<String> ready = unet.get("/q/health/ready");
                    assertEquals(503, ready.statusCode(), ready.body());
                    body = ready.body();
                } catch (java.io.IOException notYet) {
                    // not listening yet
                }
                Thread.sleep(200);
            }
            assertTrue(body.contains("unet: loading failed: 2 replicas of a network need TF_OVERRIDE_GLOBAL_THREADPOOL=1"),
                    body);
        }
    }
}
