package dev.diffusion.unet;

import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.LoraVariants;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.ModelInfo;
import dev.diffusion.proto.v1.ModelInfoRequest;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.PredictResponse;
import dev.diffusion.service.ModelSettings;
import dev.diffusion.service.RequestBatcher;
import dev.diffusion.service.ServiceCall;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Inject;

/** {@code diffusion.v1.Denoiser}: checks a batch of (latent, timestep, context) samples and runs the U-Net on it. */
@GrpcService
public class DenoiserService extends DenoiserGrpc.DenoiserImplBase {
    @Inject
    UNetModel model;
    @Inject
    ModelSettings settings;
    @Inject
    MeterRegistry registry;

    private ServiceCall call;
    private RequestBatcher<SampleShape, Samples, float[]> batcher;
    /** {@code diffusion.unet.max-attention-mb} in bytes (0: no limit); see {@link AttentionBudget}. */
    private long maxAttentionBytes;
    /** {@code diffusion.attention.slice-mb} in bytes (0: attention in one piece). */
    private long attentionSliceBytes;

    /** What samples must share to be merged into one U-Net run: latent size, context length and LoRA set (network). */
    record SampleShape(int height, int width, int contextLength, List<LoraRef> loras) {
    }

    /** One call's samples: NHWC latents, a timestep each, and their contexts [batch, contextLength, D]. */
    record Samples(int batch, float[] latents, float[] timesteps, float[] context) {
    }

    @PostConstruct
    void init() {
        call = ServiceCall.forPart("unet", registry);
        org.eclipse.microprofile.config.Config config = org.eclipse.microprofile.config.ConfigProvider.getConfig();
        boolean merge = config.getOptionalValue("diffusion.unet.batching.enabled", Boolean.class).orElse(true);
        int maxSamples = config.getOptionalValue("diffusion.unet.batching.max-samples", Integer.class).orElse(16);
        long maxWaitMillis = config.getOptionalValue("diffusion.unet.batching.max-wait-millis", Long.class).orElse(10L);
        maxAttentionBytes = AttentionBudget.bytes(config.getOptionalValue(AttentionBudget.PROPERTY, String.class).orElse("auto"));
        attentionSliceBytes = Math.max(0, config.getOptionalValue("diffusion.attention.slice-mb", Long.class).orElse(0L)) << 20;
        // a merged run stays within the attention budget too: fewer samples per run at large latent sizes
        batcher = new RequestBatcher<>("unet", registry, call.concurrentComputations(), merge ? maxSamples : 0,
                shape -> AttentionBudget.mostSamples(model.get().unet().config(), shape.height(), shape.width(),
                        attentionSliceBytes, maxAttentionBytes, maxSamples),
                java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(maxWaitMillis), this::run);
    }

    @PreDestroy
    void close() {
        batcher.close();
    }

    /** One U-Net run over the merged calls: inputs concatenated along the batch, the prediction split back. */
    private List<float[]> run(SampleShape shape, List<Samples> calls) {
        try (LoraVariants<UNet2DConditionModel>.Lease unet = model.get().variants().acquire(shape.loras())) {
            return run(unet.network(), shape, calls);
        }
    }

    private static List<float[]> run(UNet2DConditionModel unet, SampleShape shape, List<Samples> calls) {
        if (calls.size() == 1) {
            Samples s = calls.get(0);
            return List.of(unet.predict(s.latents(), s.batch(), shape.height(), shape.width(), s.timesteps(),
                    s.context(), shape.contextLength()));
        }
        int batch = 0;
        for (Samples s : calls) {
            batch += s.batch();
        }
        float[] latents = concat(calls, Samples::latents);
        float[] timesteps = concat(calls, Samples::timesteps);
        float[] context = concat(calls, Samples::context);
        float[] eps = unet.predict(latents, batch, shape.height(), shape.width(), timesteps, context, shape.contextLength());
        List<float[]> out = new ArrayList<>(calls.size());
        int perSample = eps.length / batch;
        int offset = 0;
        for (Samples s : calls) {
            out.add(Arrays.copyOfRange(eps, offset, offset + s.batch() * perSample));
            offset += s.batch() * perSample;
        }
        return out;
    }

    private static float[] concat(List<Samples> calls, java.util.function.Function<Samples, float[]> part) {
        int n = 0;
        for (Samples s : calls) {
            n += part.apply(s).length;
        }
        float[] all = new float[n];
        int at = 0;
        for (Samples s : calls) {
            float[] a = part.apply(s);
            System.arraycopy(a, 0, all, at, a.length);
            at += a.length;
        }
        return all;
    }

    @Override
    @Blocking
    public void predict(PredictRequest request, StreamObserver<PredictResponse> response) {
        call.unary("Predict", response, () -> {
            UNetModel.Loaded loaded = model.get();
            UNetConfig config = loaded.unet().config();
            int[] ls = Tensors.shape(request.getLatents(), "latents", 4);
            int batch = ls[0];
            int h = ls[1];
            int w = ls[2];
            if (batch > call.maxBatch()) {
                throw new IllegalArgumentException("latents: batch " + batch + " is above the limit diffusion.unet.max-batch = "
                        + call.maxBatch());
            }
            if (ls[3] != config.inChannels()) {
                throw new IllegalArgumentException("latents: must have " + config.inChannels() + " channels (NHWC), got shape "
                        + request.getLatents().getShapeList());
            }
            int maxSide = loaded.maxLatentSide();
            if (h > maxSide || w > maxSide) {
                throw new IllegalArgumentException("latents: height and width must be at most " + maxSide + ", got "
                        + h + "x" + w);
            }
            long attention = config.attentionBytes(batch, h, w, attentionSliceBytes);
            if (maxAttentionBytes > 0 && attention > maxAttentionBytes) {
                throw new IllegalArgumentException("latents: " + batch + " samples of " + h + "x" + w + " latents need "
                        + AttentionBudget.gib(attention) + " for attention in one call, above this service's "
                        + AttentionBudget.gib(maxAttentionBytes) + " (" + AttentionBudget.PROPERTY + "); ask for smaller images,"
                        + " or give the U-Net service sliced attention (diffusion.attention.slice-mb) or a larger budget");
            }
            float[] latents = Tensors.requireFinite(Tensors.floats(request.getLatents(), "latents"), "latents");
            if (request.getTimestepsCount() != batch) {
                throw new IllegalArgumentException("timesteps: need one per sample (" + batch + "), got "
                        + request.getTimestepsCount());
            }
            int trainSteps = loaded.scheduler().numTrainTimesteps();
            float[] timesteps = new float[batch];
            for (int i = 0; i < batch; i++) {
                float t = request.getTimesteps(i);
                if (!(t >= 0 && t < trainSteps)) {
                    throw new IllegalArgumentException("timesteps[" + i + "]: must be in [0, " + trainSteps + "), got " + t);
                }
                timesteps[i] = t;
            }
            int[] cs = Tensors.shape(request.getContext(), "context", 3);
            if (cs[0] != batch) {
                throw new IllegalArgumentException("context: batch " + cs[0] + " does not match the latents' batch " + batch);
            }
            if (cs[2] != config.crossAttentionDim()) {
                throw new IllegalArgumentException("context: width " + cs[2] + " does not match the model's hidden size "
                        + config.crossAttentionDim());
            }
            float[] context = Tensors.requireFinite(Tensors.floats(request.getContext(), "context"), "context");
            // the LoRA set picks the network: the base, or a cached copy with the set merged in (built on first use)
            List<LoraRef> loras = LoraVariants.key(ModelSettings.loraRefs(request.getLorasList()));
            loaded.variants().prepare(loras); // a new set is built here, outside the run slot other calls need
            Samples samples = new Samples(batch, latents, timesteps, context);
            return ServiceCall.Work.batched(batch, () -> {
                float[] eps = batcher.submit(new SampleShape(h, w, cs[1], loras), samples, batch);
                return PredictResponse.newBuilder()
                        .setNoisePrediction(Tensors.float32(eps, batch, h, w, config.outChannels())).build();
            });
        });
    }

    @Override
    public void info(ModelInfoRequest request, StreamObserver<ModelInfo> response) {
        call.unary("Info", response, () -> ServiceCall.Work.reply(() -> {
            UNetModel.Loaded loaded = model.get();
            UNetConfig config = loaded.unet().config();
            return ModelInfo.newBuilder().setModel(loaded.name()).setPrecision(settings.precision())
                    .setContextLength(loaded.contextLength()).setHiddenSize(config.crossAttentionDim()).setLatentChannels(config.inChannels())
                    .setSizeMultiple(1).setNumTrainTimesteps(loaded.scheduler().numTrainTimesteps())
                    .setMaxBatch(call.maxBatch()).setLoadMillis(model.loadMillis())
                    .setMaxAttentionBytes(maxAttentionBytes).setAttentionSliceBytes(attentionSliceBytes).build();
        }));
    }
}
