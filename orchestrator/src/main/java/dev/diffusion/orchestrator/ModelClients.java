package dev.diffusion.orchestrator;

import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DecodeRequest;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.EncodeTextRequest;
import dev.diffusion.proto.v1.EncodeTextResponse;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.TextEncoderGrpc;
import dev.diffusion.proto.v1.VaeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The three model services as plain blocking calls. Every call has a deadline and is retried on transient
 * failures: encode, one U-Net step and decode are pure functions of their inputs, so repeating one is safe.
 */
public final class ModelClients implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ModelClients.class);
    private static final Set<Status.Code> RETRIED = EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED,
            Status.Code.RESOURCE_EXHAUSTED, Status.Code.ABORTED, Status.Code.INTERNAL, Status.Code.UNKNOWN);
    private static final int MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

    private final ManagedChannel textEncoderChannel;
    private final ManagedChannel unetChannel;
    private final ManagedChannel vaeChannel;
    private final long deadlineMillis;
    private final int attempts;
    private final long backoffMillis;

    public ModelClients(OrchestratorConfig.Services config) {
        this.textEncoderChannel = channel(config.textEncoder(), config.loadBalancingPolicy());
        this.unetChannel = channel(config.unet(), config.loadBalancingPolicy());
        this.vaeChannel = channel(config.vae(), config.loadBalancingPolicy());
        this.deadlineMillis = config.deadlineMillis();
        this.attempts = Math.max(1, config.attempts());
        this.backoffMillis = config.retryBackoffMillis();
    }

    private static ManagedChannel channel(String target, String policy) {
        return ManagedChannelBuilder.forTarget(target)
                .defaultLoadBalancingPolicy(policy)
                .usePlaintext()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .build();
    }

    /** Context [2, 77, D] for [negative, prompt] (uncond first), flattened. */
    public EncodeTextResponse encode(String negativePrompt, String prompt, int clipSkip) {
        EncodeTextRequest request = EncodeTextRequest.newBuilder().addAllPrompts(List.of(negativePrompt, prompt))
                .setClipSkip(clipSkip).build();
        return call("TextEncoder.Encode", () -> TextEncoderGrpc.newBlockingStub(textEncoderChannel)
                .withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).encode(request));
    }

    /** One U-Net call: latents [B, h, w, C] NHWC, B timesteps, context [B, L, D] → the model output, same shape as latents. */
    public float[] predict(float[] latentsNhwc, int batch, int h, int w, int channels, float[] timesteps, float[] context,
                           int contextLength, int hiddenSize) {
        PredictRequest request = PredictRequest.newBuilder()
                .setLatents(Tensors.float32(latentsNhwc, batch, h, w, channels))
                .addAllTimesteps(boxed(timesteps))
                .setContext(Tensors.float32(context, batch, contextLength, hiddenSize))
                .build();
        return Tensors.floats(call("Denoiser.Predict", () -> DenoiserGrpc.newBlockingStub(unetChannel)
                .withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).predict(request)).getNoisePrediction(),
                "noise_prediction");
    }

    /** Latent [1, h, w, C] in the U-Net's scale → RGB8 [H, W, 3]. */
    public byte[] decode(float[] latentNhwc, int h, int w, int channels) {
        DecodeRequest request = DecodeRequest.newBuilder().setLatents(Tensors.float32(latentNhwc, 1, h, w, channels)).build();
        return Tensors.bytes(call("Vae.Decode", () -> VaeGrpc.newBlockingStub(vaeChannel)
                .withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).decode(request)).getImages(), "images");
    }

    private <T> T call(String what, Supplier<T> call) {
        for (int attempt = 1; ; attempt++) {
            try {
                return call.get();
            } catch (StatusRuntimeException e) {
                Status.Code code = e.getStatus().getCode();
                if (!RETRIED.contains(code) || attempt >= attempts) {
                    throw e;
                }
                LOG.warnf("%s failed (%s), try %d of %d: %s", what, code, attempt, attempts, e.getStatus().getDescription());
                try {
                    Thread.sleep(backoffMillis * attempt);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
                }
            }
        }
    }

    private static List<Float> boxed(float[] values) {
        Float[] out = new Float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return List.of(out);
    }

    @Override
    public void close() {
        for (ManagedChannel c : List.of(textEncoderChannel, unetChannel, vaeChannel)) {
            c.shutdownNow();
        }
    }
}
