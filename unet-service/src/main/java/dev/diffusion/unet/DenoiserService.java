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
import dev.diffusion.service.ServiceCall;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.util.List;

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

    @PostConstruct
    void init() {
        call = ServiceCall.forPart("unet", registry);
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
            int multiple = config.sizeMultiple();
            int maxSide = loaded.maxLatentSide();
            if (h % multiple != 0 || w % multiple != 0 || h > maxSide || w > maxSide) {
                throw new IllegalArgumentException("latents: height and width must be multiples of " + multiple
                        + " and at most " + maxSide + ", got " + h + "x" + w);
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
            loaded.variants().prepare(loras); // a new set is built here, outside the compute slot other calls need
            return new ServiceCall.Work<>(batch, () -> {
                try (LoraVariants<UNet2DConditionModel>.Lease unet = loaded.variants().acquire(loras)) {
                    float[] eps = unet.network().predict(latents, batch, h, w, timesteps, context, cs[1]);
                    return PredictResponse.newBuilder()
                            .setNoisePrediction(Tensors.float32(eps, batch, h, w, config.outChannels())).build();
                }
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
                    .setSizeMultiple(config.sizeMultiple()).setNumTrainTimesteps(loaded.scheduler().numTrainTimesteps())
                    .setMaxBatch(call.maxBatch()).setLoadMillis(model.loadMillis()).build();
        }));
    }
}
