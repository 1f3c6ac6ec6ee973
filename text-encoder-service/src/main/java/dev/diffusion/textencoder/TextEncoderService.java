package dev.diffusion.textencoder;

import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.EncodeTextRequest;
import dev.diffusion.proto.v1.EncodeTextResponse;
import dev.diffusion.proto.v1.ModelInfo;
import dev.diffusion.proto.v1.ModelInfoRequest;
import dev.diffusion.proto.v1.PromptTokens;
import dev.diffusion.proto.v1.TextEncoderGrpc;
import dev.diffusion.service.ModelSettings;
import dev.diffusion.service.ServiceCall;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;

/** {@code diffusion.v1.TextEncoder}: tokenizes a batch of prompts and runs CLIP on it. */
@GrpcService
public class TextEncoderService extends TextEncoderGrpc.TextEncoderImplBase {
    @Inject
    TextEncoderModel model;
    @Inject
    ModelSettings settings;
    @Inject
    MeterRegistry registry;

    private ServiceCall call;
    private PromptEmbeddingCache cache;

    @PostConstruct
    void init() {
        call = ServiceCall.forPart("text-encoder", registry);
        long cacheBytes = org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getOptionalValue("diffusion.text-encoder.cache-bytes", Long.class).orElse(64L << 20);
        cache = new PromptEmbeddingCache(cacheBytes, registry);
    }

    @Override
    @Blocking
    public void encode(EncodeTextRequest request, StreamObserver<EncodeTextResponse> response) {
        call.unary("Encode", response, () -> {
            TextEncoderModel.Loaded loaded = model.get();
            int batch = request.getPromptsCount();
            if (batch < 1 || batch > call.maxBatch()) {
                throw new IllegalArgumentException("prompts: need 1 to " + call.maxBatch()
                        + " prompts (diffusion.text-encoder.max-batch), got " + batch);
            }
            int layers = loaded.textEncoder().config().numHiddenLayers();
            int clipSkip = request.getClipSkip() == 0 ? 1 : request.getClipSkip();
            if (clipSkip < 1 || clipSkip > layers) {
                throw new IllegalArgumentException("clip_skip: must be 1 to " + layers + " (0 means 1), got "
                        + request.getClipSkip());
            }
            String[] prompts = new String[batch];
            for (int i = 0; i < batch; i++) {
                prompts[i] = request.getPrompts(i);
                if (prompts[i].length() > GenerationRequest.MAX_PROMPT_CHARS) {
                    throw new IllegalArgumentException("prompts[" + i + "]: " + prompts[i].length() + " characters; the limit is "
                            + GenerationRequest.MAX_PROMPT_CHARS);
                }
            }
            return new ServiceCall.Work<>(batch, () -> {
                EncodeTextResponse.Builder reply = EncodeTextResponse.newBuilder();
                float[][] hidden = new float[batch][];
                for (int i = 0; i < batch; i++) {
                    String prompt = prompts[i];
                    PromptEmbeddingCache.Entry e = cache.get(new PromptEmbeddingCache.Key(loaded.name(), prompt, clipSkip), () -> {
                        ClipTokenizer.Encoding encoding = loaded.tokenizer().encode(prompt);
                        return new PromptEmbeddingCache.Entry(loaded.textEncoder().encode(new int[][] {encoding.ids()}, clipSkip),
                                encoding.tokenCount(), encoding.truncated(),
                                encoding.truncatedText() == null ? "" : encoding.truncatedText());
                    });
                    hidden[i] = e.hiddenStates();
                    reply.addPrompts(PromptTokens.newBuilder().setTokenCount(e.tokenCount()).setTruncated(e.truncated())
                            .setTruncatedText(e.truncatedText()));
                }
                int width = loaded.textEncoder().hiddenSize();
                int length = hidden[0].length / width;
                float[] all = new float[batch * hidden[0].length];
                for (int i = 0; i < batch; i++) {
                    System.arraycopy(hidden[i], 0, all, i * hidden[0].length, hidden[0].length);
                }
                return reply.setHiddenStates(Tensors.float32(all, batch, length, width)).build();
            });
        });
    }

    @Override
    public void info(ModelInfoRequest request, StreamObserver<ModelInfo> response) {
        call.unary("Info", response, () -> ServiceCall.Work.reply(() -> {
            TextEncoderModel.Loaded loaded = model.get();
            return ModelInfo.newBuilder().setModel(loaded.name()).setPrecision(settings.precision())
                    .setContextLength(loaded.tokenizer().contextLength()).setHiddenSize(loaded.textEncoder().hiddenSize())
                    .setMaxBatch(call.maxBatch()).setLoadMillis(model.loadMillis()).build();
        }));
    }
}
