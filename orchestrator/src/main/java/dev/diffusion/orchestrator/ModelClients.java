package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.vae.Moments;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DecodeRequest;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.EncodeImageRequest;
import dev.diffusion.proto.v1.EncodeImageResponse;
import dev.diffusion.proto.v1.EncodeTextRequest;
import dev.diffusion.proto.v1.EncodeTextResponse;
import dev.diffusion.proto.v1.LoraWeight;
import dev.diffusion.proto.v1.ModelInfo;
import dev.diffusion.proto.v1.ModelInfoRequest;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.TextEncoderGrpc;
import dev.diffusion.proto.v1.VaeGrpc;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.NameResolver;
import io.grpc.NameResolverRegistry;
import io.grpc.TlsChannelCredentials;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The three model services as plain blocking calls. Every call has a deadline and is retried: encode, one U-Net
 * step and decode are pure functions of their inputs, so repeating one is safe. A service that is down, loading or
 * overloaded (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED) is waited out with capped exponential
 * back-off for {@code retry-budget-millis} (default 10 minutes: a U-Net pod restarting loads SD 1.5 for minutes);
 * a service error (INTERNAL, UNKNOWN) and a call too big for the service's memory or message limit
 * (RESOURCE_EXHAUSTED: waiting ten minutes would not make it fit) are tried {@code attempts} times; bad input
 * (INVALID_ARGUMENT, ...) fails at once. The caller's {@link Interrupt} is asked between tries, so a cancelled job stops waiting.
 */
public final class ModelClients implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ModelClients.class);
    /** Failures of the service's availability: waited out within the budget. */
    private static final Set<Status.Code> OUTAGE = EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED,
            Status.Code.ABORTED);
    /**
     * Failures inside the service, and a call its memory could not hold (out of memory: a concurrent run may have
     * had the rest): tried a few times ({@code attempts}).
     */
    private static final Set<Status.Code> SERVICE_ERROR = EnumSet.of(Status.Code.INTERNAL, Status.Code.UNKNOWN,
            Status.Code.RESOURCE_EXHAUSTED);
    private static final int MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

    private final ManagedChannel textEncoderChannel;
    private final ManagedChannel unetChannel;
    private final ManagedChannel vaeChannel;
    private final long deadlineMillis;
    private final int attempts;
    private final long backoffMillis;
    private final long maxBackoffMillis;
    private final long budgetMillis;
    /** The U-Net service's Info from the last probe that reached it (its limits), or null before one did. */
    private volatile ModelInfo unetInfo;

    /** Asked between tries: true stops the call with {@link Stopped} (the job was cancelled or moved away). */
    public interface Interrupt {
        boolean stop();

        Interrupt NEVER = () -> false;
    }

    /** The call was given up because its {@link Interrupt} said so. */
    public static final class Stopped extends RuntimeException {
        Stopped(String what) {
            super(what + " stopped between tries", null, false, false);
        }
    }

    /** A call that failed for good: which service, for how long, and the last status. */
    public static final class ServiceFailure extends RuntimeException {
        private final Status.Code code;

        ServiceFailure(String message, Status.Code code, Throwable cause) {
            super(message, cause);
            this.code = code;
        }

        public Status.Code code() {
            return code;
        }
    }

    public ModelClients(OrchestratorConfig.Services config) {
        ChannelCredentials credentials = credentials(config.tlsTrustCertificates());
        NameResolver.Factory names = new PollingNameResolver(config.reResolveMillis());
        this.textEncoderChannel = channel(config.textEncoder(), config.loadBalancingPolicy(), credentials, names);
        this.unetChannel = channel(config.unet(), config.loadBalancingPolicy(), credentials, names);
        this.vaeChannel = channel(config.vae(), config.loadBalancingPolicy(), credentials, names);
        this.deadlineMillis = config.deadlineMillis();
        this.attempts = Math.max(1, config.attempts());
        this.backoffMillis = Math.max(1, config.retryBackoffMillis());
        this.maxBackoffMillis = Math.max(backoffMillis, config.retryMaxBackoffMillis());
        this.budgetMillis = config.retryBudgetMillis();
    }

    /**
     * The registry's name resolvers (dns:///name:port, ...), asked to resolve again every {@code periodMillis}. gRPC's
     * DNS resolver otherwise resolves only when a connection fails, so pods a headless Service gains (the HPA's) would
     * get no calls; with an unchanged answer round_robin keeps its connections. The DNS resolver skips a refresh
     * within its cache TTL ({@code networkaddress.cache.ttl}, 30 s by default). {@code periodMillis <= 0}: never.
     * (Server-side max-connection-age would do it too, but the services' gRPC shares Quarkus' HTTP server, which has none.)
     */
    static final class PollingNameResolver extends NameResolver.Factory {
        private final NameResolver.Factory registry = NameResolverRegistry.getDefaultRegistry().asFactory();
        private final long periodMillis;

        PollingNameResolver(long periodMillis) {
            this.periodMillis = periodMillis;
        }

        @Override
        public NameResolver newNameResolver(java.net.URI target, NameResolver.Args args) {
            NameResolver resolver = registry.newNameResolver(target, args);
            if (resolver == null || periodMillis <= 0) {
                return resolver;
            }
            return new NameResolver() {
                private ScheduledFuture<?> poll;

                @Override
                public String getServiceAuthority() {
                    return resolver.getServiceAuthority();
                }

                @Override
                public void start(Listener2 listener) {
                    resolver.start(listener);
                    // refresh() belongs to the channel's synchronization context, like every resolver call
                    poll = args.getScheduledExecutorService().scheduleWithFixedDelay(
                            () -> args.getSynchronizationContext().execute(resolver::refresh),
                            periodMillis, periodMillis, TimeUnit.MILLISECONDS);
                }

                @Override
                public void refresh() {
                    resolver.refresh();
                }

                @Override
                public void shutdown() {
                    if (poll != null) {
                        poll.cancel(false);
                    }
                    resolver.shutdown();
                }
            };
        }

        @Override
        public String getDefaultScheme() {
            return registry.getDefaultScheme();
        }
    }

    /** TLS checked against the given PEM certificates, or plaintext. */
    static ChannelCredentials credentials(Optional<String> trustCertificates) {
        if (trustCertificates.isEmpty() || trustCertificates.get().isBlank()) {
            return InsecureChannelCredentials.create();
        }
        try {
            return TlsChannelCredentials.newBuilder().trustManager(new File(trustCertificates.get())).build();
        } catch (IOException e) {
            throw new UncheckedIOException("diffusion.services.tls-trust-certificates: cannot read "
                    + trustCertificates.get(), e);
        }
    }

    @SuppressWarnings("deprecation") // nameResolverFactory: the per-channel way to wrap the registry's resolvers
    private static ManagedChannel channel(String target, String policy, ChannelCredentials credentials,
                                          NameResolver.Factory names) {
        return Grpc.newChannelBuilder(target, credentials)
                .nameResolverFactory(names)
                .defaultLoadBalancingPolicy(policy)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .build();
    }

    /** Context [2, 77, D] for [negative, prompt] (uncond first), flattened. */
    public EncodeTextResponse encode(String negativePrompt, String prompt, int clipSkip) {
        return encode(negativePrompt, prompt, clipSkip, Interrupt.NEVER);
    }

    public EncodeTextResponse encode(String negativePrompt, String prompt, int clipSkip, Interrupt interrupt) {
        return encode(negativePrompt, prompt, clipSkip, List.of(), interrupt);
    }

    /** [negative, prompt] encoded with a LoRA set (its text-encoder half). */
    public EncodeTextResponse encode(String negativePrompt, String prompt, int clipSkip, List<LoraRef> loras,
                                     Interrupt interrupt) {
        return encode(List.of(negativePrompt, prompt), clipSkip, 0, loras, interrupt);
    }

    /** Prompts encoded with a LoRA set and A1111's comma backtracking (0 = off). */
    public EncodeTextResponse encode(List<String> prompts, int clipSkip, int commaBacktrack, List<LoraRef> loras,
                                     Interrupt interrupt) {
        EncodeTextRequest request = EncodeTextRequest.newBuilder().addAllPrompts(prompts).setClipSkip(clipSkip)
                .setCommaPaddingBacktrack(commaBacktrack).addAllLoras(loraWeights(loras)).build();
        return call("text-encoder", "TextEncoder.Encode", interrupt, () -> TextEncoderGrpc.newBlockingStub(textEncoderChannel)
                .withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).encode(request));
    }

    /** One U-Net call: latents [B, h, w, C] NHWC, B timesteps, context [B, L, D] → the model output, same shape as latents. */
    public float[] predict(float[] latentsNhwc, int batch, int h, int w, int channels, float[] timesteps, float[] context,
                           int contextLength, int hiddenSize) {
        return predict(latentsNhwc, batch, h, w, channels, timesteps, context, contextLength, hiddenSize, Interrupt.NEVER);
    }

    public float[] predict(float[] latentsNhwc, int batch, int h, int w, int channels, float[] timesteps, float[] context,
                           int contextLength, int hiddenSize, Interrupt interrupt) {
        return predict(latentsNhwc, batch, h, w, channels, timesteps, context, contextLength, hiddenSize, List.of(), interrupt);
    }

    /** One U-Net call with a LoRA set (every sample of the call runs with it). */
    public float[] predict(float[] latentsNhwc, int batch, int h, int w, int channels, float[] timesteps, float[] context,
                           int contextLength, int hiddenSize, List<LoraRef> loras, Interrupt interrupt) {
        PredictRequest request = PredictRequest.newBuilder()
                .setLatents(Tensors.float32(latentsNhwc, batch, h, w, channels))
                .addAllTimesteps(Tensors.floatList(timesteps))
                .setContext(Tensors.float32(context, batch, contextLength, hiddenSize))
                .addAllLoras(loraWeights(loras))
                .build();
        return Tensors.floats(call("unet", "Denoiser.Predict", interrupt, () -> DenoiserGrpc.newBlockingStub(unetChannel)
                .withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).predict(request)).getNoisePrediction(),
                "noise_prediction");
    }

    private static List<LoraWeight> loraWeights(List<LoraRef> loras) {
        return loras.stream().map(l -> LoraWeight.newBuilder().setName(l.name()).setWeight(l.weight()).build()).toList();
    }

    /** img2img: an RGB8 image [H, W, 3] → the VAE encoder's moments (unscaled; the caller takes their mode). */
    public Moments encodeImage(byte[] rgb, int height, int width, Interrupt interrupt) {
        EncodeImageRequest request = EncodeImageRequest.newBuilder().setImages(Tensors.uint8(rgb, 1, height, width, 3)).build();
        EncodeImageResponse r = call("vae", "Vae.Encode", interrupt, () -> VaeGrpc.newBlockingStub(vaeChannel)
                .withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).encode(request));
        int[] s = Tensors.shape(r.getMean(), "mean", 4);
        return new Moments(Tensors.floats(r.getMean(), "mean"), Tensors.floats(r.getLogvar(), "logvar"), s[0], s[1], s[2], s[3]);
    }

    /** The U-Net service's Info as its last probe had it (its limits), if one reached it yet. */
    public Optional<ModelInfo> lastUnetInfo() {
        return Optional.ofNullable(unetInfo);
    }

    /** The VAE service's Info (one try, short deadline: it serves previews, which may be skipped). */
    public ModelInfo vaeInfo(long timeoutMillis) {
        return VaeGrpc.newBlockingStub(vaeChannel).withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS)
                .info(ModelInfoRequest.getDefaultInstance());
    }

    /** Latent [1, h, w, C] in the U-Net's scale → RGB8 [H, W, 3]. */
    public byte[] decode(float[] latentNhwc, int h, int w, int channels) {
        return decode(latentNhwc, h, w, channels, Interrupt.NEVER);
    }

    public byte[] decode(float[] latentNhwc, int h, int w, int channels, Interrupt interrupt) {
        DecodeRequest request = DecodeRequest.newBuilder().setLatents(Tensors.float32(latentNhwc, 1, h, w, channels)).build();
        return Tensors.bytes(call("vae", "Vae.Decode", interrupt, () -> VaeGrpc.newBlockingStub(vaeChannel)
                .withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).decode(request)).getImages(), "images");
    }

    /**
     * Runs {@code call} until it succeeds, the failure is the request's own (thrown as it is), the budget or the
     * tries are spent ({@link ServiceFailure} naming the service and how long it was tried), or {@code interrupt}
     * says stop ({@link Stopped}).
     */
    private <T> T call(String service, String what, Interrupt interrupt, Supplier<T> call) {
        long first = System.nanoTime();
        long sleep = backoffMillis;
        for (int attempt = 1; ; attempt++) {
            try {
                return call.get();
            } catch (StatusRuntimeException e) {
                Status.Code code = e.getStatus().getCode();
                long elapsedMillis = (System.nanoTime() - first) / 1_000_000;
                boolean outage = OUTAGE.contains(code);
                if (!outage && !SERVICE_ERROR.contains(code)) {
                    throw e; // the request's own fault: repeating it gives the same answer
                }
                String last = code + (e.getStatus().getDescription() == null ? "" : ": " + e.getStatus().getDescription());
                if (outage && elapsedMillis + Math.min(sleep, maxBackoffMillis) > budgetMillis) {
                    throw new ServiceFailure(service + " (" + what + ") did not answer for " + seconds(elapsedMillis)
                            + " s, " + attempt + " tries (retry budget diffusion.services.retry-budget-millis = "
                            + budgetMillis + "); last: " + last, code, e);
                }
                if (!outage && attempt >= attempts) {
                    throw new ServiceFailure(service + " (" + what + ") failed " + attempt + " times (diffusion.services.attempts = "
                            + attempts + "); last: " + last, code, e);
                }
                if (attempt == 1 || attempt % 10 == 0) {
                    LOG.warnf("%s (%s) failed (%s), try %d, retrying for up to %d s in all", service, what, last, attempt,
                            budgetMillis / 1000);
                }
                long until = System.nanoTime() + Math.min(sleep, maxBackoffMillis) * 1_000_000;
                sleep = Math.min(sleep * 2, maxBackoffMillis);
                try {
                    do {
                        if (interrupt.stop()) {
                            throw new Stopped(what);
                        }
                        Thread.sleep(Math.max(1, Math.min(200, (until - System.nanoTime()) / 1_000_000)));
                    } while (System.nanoTime() < until);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new Stopped(what);
                }
                if (interrupt.stop()) {
                    throw new Stopped(what);
                }
            }
        }
    }

    private static String seconds(long millis) {
        return String.format(java.util.Locale.ROOT, "%.1f", millis / 1000.0);
    }

    /**
     * Asks each service for its Info (a loading service answers UNAVAILABLE); returns the services that did not
     * answer within {@code timeoutMillis}, each with why. Empty when all three serve.
     */
    public Map<String, String> unreachable(long timeoutMillis) {
        Map<String, String> down = new LinkedHashMap<>();
        ModelInfoRequest info = ModelInfoRequest.getDefaultInstance();
        probe(down, "text-encoder", () -> TextEncoderGrpc.newBlockingStub(textEncoderChannel)
                .withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS).info(info));
        probe(down, "unet", () -> unetInfo = DenoiserGrpc.newBlockingStub(unetChannel)
                .withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS).info(info));
        probe(down, "vae", () -> VaeGrpc.newBlockingStub(vaeChannel)
                .withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS).info(info));
        return down;
    }

    private static void probe(Map<String, String> down, String service, Supplier<?> info) {
        try {
            info.get();
        } catch (StatusRuntimeException e) {
            down.put(service, e.getStatus().getCode() + (e.getStatus().getDescription() == null ? ""
                    : ": " + e.getStatus().getDescription()));
        }
    }

    @Override
    public void close() {
        for (ManagedChannel c : List.of(textEncoderChannel, unetChannel, vaeChannel)) {
            c.shutdownNow();
        }
    }
}
