package dev.diffusion.vae;

import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.sampling.LatentShape;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.sampling.SamplerState;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.vae.Moments;
import dev.diffusion.core.vae.VaeConfig;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DType;
import dev.diffusion.proto.v1.DecodeRequest;
import dev.diffusion.proto.v1.DecodeResponse;
import dev.diffusion.proto.v1.EncodeImageRequest;
import dev.diffusion.proto.v1.EncodeImageResponse;
import dev.diffusion.proto.v1.ModelInfo;
import dev.diffusion.proto.v1.ModelInfoRequest;
import dev.diffusion.proto.v1.VaeGrpc;
import dev.diffusion.service.ModelSettings;
import dev.diffusion.service.ServiceCall;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;

/** {@code diffusion.v1.Vae}: latents to RGB8 images (Decode), images to latents (Encode, for img2img). */
@GrpcService
public class VaeService extends VaeGrpc.VaeImplBase {
    @Inject
    VaeModel model;
    @Inject
    ModelSettings settings;
    @Inject
    MeterRegistry registry;

    private ServiceCall call;

    @PostConstruct
    void init() {
        call = ServiceCall.forPart("vae", registry);
    }

    @Override
    @Blocking
    public void decode(DecodeRequest request, StreamObserver<DecodeResponse> response) {
        call.unary("Decode", response, () -> {
            AutoencoderKL vae = model.get().vae();
            VaeConfig config = vae.config();
            int[] s = Tensors.shape(request.getLatents(), "latents", 4);
            int batch = s[0];
            checkBatch("latents", batch);
            if (s[3] != config.latentChannels()) {
                throw new IllegalArgumentException("latents: must have " + config.latentChannels()
                        + " channels (NHWC), got shape " + request.getLatents().getShapeList());
            }
            int maxSide = GenerationRequest.MAX_SIZE / config.downscale();
            if (s[1] > maxSide || s[2] > maxSide) {
                throw new IllegalArgumentException("latents: height and width must be at most " + maxSide + " ("
                        + GenerationRequest.MAX_SIZE + " pixels), got " + s[1] + "x" + s[2]);
            }
            float[] latents = Tensors.requireFinite(Tensors.floats(request.getLatents(), "latents"), "latents");
            return new ServiceCall.Work<>(batch, () -> {
                float[] decoded = vae.decode(latents, batch, s[1], s[2]);
                int f = config.downscale();
                int channels = config.outChannels();
                DecodeResponse.Builder reply = DecodeResponse.newBuilder()
                        .setImages(Tensors.uint8(AutoencoderKL.toRgb8(decoded), batch, (long) s[1] * f, (long) s[2] * f, channels));
                if (request.getIncludeDecoded()) {
                    reply.setDecoded(Tensors.float32(decoded, batch, (long) s[1] * f, (long) s[2] * f, channels));
                }
                return reply.build();
            });
        });
    }

    @Override
    @Blocking
    public void encode(EncodeImageRequest request, StreamObserver<EncodeImageResponse> response) {
        call.unary("Encode", response, () -> {
            AutoencoderKL vae = model.get().vae();
            if (!vae.hasEncoder()) {
                throw Status.UNIMPLEMENTED.withDescription("this vae-service runs without the encoder (diffusion.vae.encoder=false)")
                        .asRuntimeException();
            }
            VaeConfig config = vae.config();
            int[] s = Tensors.shape(request.getImages(), "images", 4);
            int batch = s[0];
            int height = s[1];
            int width = s[2];
            checkBatch("images", batch);
            if (s[3] != config.inChannels()) {
                throw new IllegalArgumentException("images: must have " + config.inChannels() + " channels (NHWC RGB), got shape "
                        + request.getImages().getShapeList());
            }
            int f = config.downscale();
            if (height % f != 0 || width % f != 0 || height > GenerationRequest.MAX_SIZE || width > GenerationRequest.MAX_SIZE) {
                throw new IllegalArgumentException("images: height and width must be multiples of " + f + " and at most "
                        + GenerationRequest.MAX_SIZE + ", got " + width + "x" + height);
            }
            float[] images = pixels(request);
            RngKind rng = request.getRng().isBlank() ? RngKind.PHILOX : RngKind.parse(request.getRng());
            return new ServiceCall.Work<>(batch, () -> {
                Moments moments = vae.encode(images, batch, height, width);
                long[] shape = {batch, moments.height(), moments.width(), moments.channels()};
                EncodeImageResponse.Builder reply = EncodeImageResponse.newBuilder()
                        .setMean(Tensors.float32(moments.mean(), shape)).setLogvar(Tensors.float32(moments.logvar(), shape));
                if (request.getSample()) {
                    // per-image streams seed + i, drawn in torch's NCHW order, as the sampling loop draws its noise
                    float[] noise = SamplerState.create(rng, request.getSeed(),
                            LatentShape.nhwc(batch, moments.channels(), moments.height(), moments.width())).nextNoise();
                    reply.setLatents(Tensors.float32(vae.sample(moments, noise), shape));
                }
                return reply.build();
            });
        });
    }

    /** UINT8 RGB to [-1, 1] (x / 127.5 - 1), or FLOAT32 checked to be finite and in [-1, 1]. */
    private static float[] pixels(EncodeImageRequest request) {
        if (request.getImages().getDtype() == DType.UINT8) {
            return AutoencoderKL.fromRgb8(Tensors.bytes(request.getImages(), "images"));
        }
        float[] x = Tensors.requireFinite(Tensors.floats(request.getImages(), "images"), "images");
        for (int i = 0; i < x.length; i++) {
            if (x[i] < -1.0f || x[i] > 1.0f) {
                throw new IllegalArgumentException("images: FLOAT32 values must be in [-1, 1], got " + x[i] + " at index " + i);
            }
        }
        return x;
    }

    private void checkBatch(String field, int batch) {
        if (batch > call.maxBatch()) {
            throw new IllegalArgumentException(field + ": batch " + batch + " is above the limit diffusion.vae.max-batch = "
                    + call.maxBatch());
        }
    }

    @Override
    public void info(ModelInfoRequest request, StreamObserver<ModelInfo> response) {
        call.unary("Info", response, () -> ServiceCall.Work.reply(() -> {
            VaeModel.Loaded loaded = model.get();
            VaeConfig config = loaded.vae().config();
            return ModelInfo.newBuilder().setModel(loaded.name()).setPrecision(settings.precision())
                    .setLatentChannels(config.latentChannels()).setVaeDownscale(config.downscale())
                    .setScalingFactor((float) config.scalingFactor()).setMaxBatch(call.maxBatch())
                    .setLoadMillis(model.loadMillis())
                    .addAllLatentRgbMap(Tensors.floatList(loaded.previewMap().flat())).build();
        }));
    }
}
