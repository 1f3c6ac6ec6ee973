package dev.diffusion.textencoder;

import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.clip.PromptEncoder;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.LoraVariants;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
            int commaBacktrack = request.getCommaPaddingBacktrack();
            if (commaBacktrack < 0 || commaBacktrack > GenerationRequest.MAX_COMMA_BACKTRACK) {
                throw new IllegalArgumentException("comma_padding_backtrack: must be 0 to "
                        + GenerationRequest.MAX_COMMA_BACKTRACK + " tokens (0 = off), got " + commaBacktrack);
            }
            List<String> prompts = new ArrayList<>();
            List<String> fields = new ArrayList<>();
            for (int i = 0; i < batch; i++) {
                String prompt = request.getPrompts(i);
                if (prompt.length() > GenerationRequest.MAX_PROMPT_CHARS) {
                    throw new IllegalArgumentException("prompts[" + i + "]: " + prompt.length() + " characters; the limit is "
                            + GenerationRequest.MAX_PROMPT_CHARS);
                }
                prompts.add(prompt);
                fields.add("prompts[" + i + "]");
            }
            List<LoraRef> loras = LoraVariants.key(ModelSettings.loraRefs(request.getLorasList()));
            Map<String, String> hashes = settings.loraHashes(loras);
            loaded.variants().prepare(loras); // a new set is built here, outside the compute slot other calls need
            return new ServiceCall.Work<>(batch, () -> {
                // each prompt from the cache, or encoded alone (as PromptEncoder encodes every prompt) and cached
                PromptEmbeddingCache.Entry[] encoded = new PromptEmbeddingCache.Entry[batch];
                for (int i = 0; i < batch; i++) {
                    int index = i;
                    encoded[i] = cache.get(new PromptEmbeddingCache.Key(loaded.name(), prompts.get(i), clipSkip, commaBacktrack,
                            loras), () -> {
                        try (LoraVariants<ClipTextModel>.Lease text = loaded.variants().acquire(loras)) {
                            PromptEncoder.Encoded e = PromptEncoder.encode(loaded.tokenizer(), text.network(),
                                    List.of(prompts.get(index)), List.of(fields.get(index)), clipSkip, commaBacktrack)[0];
                            return new PromptEmbeddingCache.Entry(e.hidden(), e.chunks().tokenCount(), e.chunks().count());
                        }
                    });
                }
                int d = loaded.textEncoder().hiddenSize();
                EncodeTextResponse.Builder reply = EncodeTextResponse.newBuilder().putAllLoraHashes(hashes);
                boolean sameLength = true;
                for (PromptEmbeddingCache.Entry e : encoded) {
                    reply.addPrompts(PromptTokens.newBuilder().setTokenCount(e.tokenCount()).setChunks(e.chunks()));
                    reply.addPromptHiddenStates(Tensors.float32(e.hidden(), e.hidden().length / d, d));
                    sameLength &= e.hidden().length == encoded[0].hidden().length;
                }
                if (sameLength) {
                    float[] all = new float[batch * encoded[0].hidden().length];
                    for (int i = 0; i < batch; i++) {
                        System.arraycopy(encoded[i].hidden(), 0, all, i * encoded[0].hidden().length, encoded[i].hidden().length);
                    }
                    reply.setHiddenStates(Tensors.float32(all, batch, encoded[0].hidden().length / d, d));
                }
                return reply.build();
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
