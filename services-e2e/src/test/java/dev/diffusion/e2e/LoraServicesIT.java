package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.core.weights.SafeTensorsWriter;
import dev.diffusion.core.weights.TensorDtype;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.EncodeTextRequest;
import dev.diffusion.proto.v1.EncodeTextResponse;
import dev.diffusion.proto.v1.LoraWeight;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.TextEncoderGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * LoRAs per call in the text-encoder and U-Net services (real processes, the demo model, a LoRA folder): a call with
 * a LoRA set equals the in-process pipeline loaded with that set bit for bit, a call without equals the plain
 * pipeline, whatever was asked before (the cache holds one variant here, so the sets evict each other); a long
 * prompt and a short negative prompt come back at their own lengths; bad LoRA names are INVALID_ARGUMENT naming
 * the field.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoraServicesIT {
    Path loraDir;
    ServiceProcess textProcess;
    ServiceProcess unetProcess;
    ManagedChannel textChannel;
    ManagedChannel unetChannel;
    StableDiffusionPipeline plain;
    StableDiffusionPipeline withA;
    StableDiffusionPipeline withB;

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * 0.3);
        }
        return v;
    }

    private static void writeLora(Path file, long seed) {
        Random r = new Random(seed);
        String unet = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k";
        String te = "lora_te_text_model_encoder_layers_0_self_attn_v_proj";
        new SafeTensorsWriter(TensorDtype.F16)
                .add(unet + ".lora_up.weight", new long[] {64, 4}, random(r, 256))
                .add(unet + ".lora_down.weight", new long[] {4, 64}, random(r, 256))
                .add(unet + ".alpha", new long[] {}, new float[] {2})
                .add(te + ".lora_up.weight", new long[] {64, 4}, random(r, 256))
                .add(te + ".lora_down.weight", new long[] {4, 64}, random(r, 256))
                .write(file);
    }

    @BeforeAll
    void start() throws Exception {
        loraDir = Files.createTempDirectory("loras");
        writeLora(loraDir.resolve("a.safetensors"), 1);
        writeLora(loraDir.resolve("b.safetensors"), 2);
        List<String> props = List.of("-Ddiffusion.model.path=demo", "-Ddiffusion.lora.dir=" + loraDir,
                "-Ddiffusion.lora.max-variants=1");
        textProcess = ServiceProcess.start("text-encoder-service", props);
        unetProcess = ServiceProcess.start("unet-service", props);
        String demo = ModelSource.demoFolder().toString();
        plain = StableDiffusionPipeline.load(demo, null, Precision.FP32);
        withA = StableDiffusionPipeline.load(demo, null, Precision.FP32, loraDir, List.of(new LoraRef("a", 0.8)));
        withB = StableDiffusionPipeline.load(demo, null, Precision.FP32, loraDir, List.of(new LoraRef("b", 1.5)));
        for (ServiceProcess p : List.of(textProcess, unetProcess)) {
            System.out.printf("%s ready %d ms after its start%n", p.name, p.awaitReady(Duration.ofSeconds(180)));
        }
        textChannel = ManagedChannelBuilder.forAddress("127.0.0.1", textProcess.port).usePlaintext().build();
        unetChannel = ManagedChannelBuilder.forAddress("127.0.0.1", unetProcess.port).usePlaintext().build();
    }

    @AfterAll
    void stop() throws Exception {
        for (ManagedChannel c : new ManagedChannel[] {textChannel, unetChannel}) {
            if (c != null) {
                c.shutdownNow();
            }
        }
        for (ServiceProcess p : new ServiceProcess[] {textProcess, unetProcess}) {
            if (p != null) {
                p.close();
            }
        }
        for (StableDiffusionPipeline p : new StableDiffusionPipeline[] {plain, withA, withB}) {
            if (p != null) {
                p.close();
            }
        }
    }

    private TextEncoderGrpc.TextEncoderBlockingStub text() {
        return TextEncoderGrpc.newBlockingStub(textChannel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    private DenoiserGrpc.DenoiserBlockingStub unet() {
        return DenoiserGrpc.newBlockingStub(unetChannel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    private static LoraWeight lora(String name, double weight) {
        return LoraWeight.newBuilder().setName(name).setWeight(weight).build();
    }

    private float[][] encode(String negative, String prompt, LoraWeight... loras) {
        EncodeTextResponse r = text().encode(EncodeTextRequest.newBuilder().addPrompts(negative).addPrompts(prompt)
                .addAllLoras(List.of(loras)).build());
        return new float[][] {Tensors.floats(r.getPromptHiddenStates(0), "0"), Tensors.floats(r.getPromptHiddenStates(1), "1")};
    }

    @Test
    void eachCallRunsWithItsOwnLoraSetBitForBit() {
        String prompt = "a red circle on the left";
        for (int round = 0; round < 2; round++) { // a, b, none, a again: the one cached variant is rebuilt
            assertArrayEquals(withA.encodePair("", prompt, 1, ProgressListener.NONE)[1], encode("", prompt, lora("a", 0.8))[1]);
            assertArrayEquals(withB.encodePair("", prompt, 1, ProgressListener.NONE)[1], encode("", prompt, lora("b", 1.5))[1]);
            assertArrayEquals(plain.encodePair("", prompt, 1, ProgressListener.NONE)[1], encode("", prompt)[1]);
            assertArrayEquals(plain.encodePair("", prompt, 1, ProgressListener.NONE)[1], encode("", prompt, lora("a", 0))[1]);
        }
        EncodeTextResponse hashed = text().encode(EncodeTextRequest.newBuilder().addPrompts(prompt).addLoras(lora("a", 0.8)).build());
        assertTrue(hashed.getLoraHashesMap().get("a").matches("[0-9a-f]{12}"), hashed.getLoraHashesMap().toString());

        float[] context = plain.encodePair("", prompt, 1, ProgressListener.NONE)[1];
        float[] latents = random(new Random(5), 16 * 16 * 4);
        float[] timesteps = {500f};
        for (int round = 0; round < 2; round++) {
            for (StableDiffusionPipeline p : new StableDiffusionPipeline[] {withA, plain, withB}) {
                LoraWeight[] loras = p == withA ? new LoraWeight[] {lora("a", 0.8)}
                        : p == withB ? new LoraWeight[] {lora("b", 1.5)} : new LoraWeight[0];
                float[] got = Tensors.floats(unet().predict(PredictRequest.newBuilder()
                        .setLatents(Tensors.float32(latents, 1, 16, 16, 4)).addTimesteps(timesteps[0])
                        .setContext(Tensors.float32(context, 1, 77, context.length / 77)).addAllLoras(List.of(loras)).build())
                        .getNoisePrediction(), "noise_prediction");
                assertArrayEquals(p.predictNoise(latents, 1, 16, 16, timesteps, context), got);
            }
        }
        assertFalse(java.util.Arrays.equals(withA.predictNoise(latents, 1, 16, 16, timesteps, context),
                plain.predictNoise(latents, 1, 16, 16, timesteps, context)), "the LoRA must change the U-Net's output");
    }

    @Test
    void longPromptsComeBackAtTheirOwnLength() {
        EncodeTextResponse r = text().encode(EncodeTextRequest.newBuilder().addPrompts("blurry")
                .addPrompts("a red circle on the left, ".repeat(20)).build());
        assertFalse(r.hasHiddenStates());
        assertEquals(List.of(77L, 64L), r.getPromptHiddenStates(0).getShapeList());
        assertEquals(2, r.getPrompts(1).getChunks());
        assertEquals(List.of(154L, 64L), r.getPromptHiddenStates(1).getShapeList());
        assertArrayEquals(plain.encodePair("blurry", "a red circle on the left, ".repeat(20), 1, ProgressListener.NONE)[1],
                Tensors.floats(r.getPromptHiddenStates(1), "1"));
    }

    @Test
    void badLoraNamesAreInvalidArgumentNamingTheField() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> text().encode(EncodeTextRequest.newBuilder().addPrompts("x").addLoras(lora("../a", 1)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("loras: LoRA name '../a' is not a file name"), e.getStatus().toString());
        e = assertThrows(StatusRuntimeException.class,
                () -> unet().predict(PredictRequest.newBuilder().setLatents(Tensors.float32(new float[16 * 16 * 4], 1, 16, 16, 4))
                        .addTimesteps(1).setContext(Tensors.float32(new float[77 * 64], 1, 77, 64)).addLoras(lora("zz", 1)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("loras: no LoRA named zz in "), e.getStatus().toString());
    }
}
