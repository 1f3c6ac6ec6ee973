package dev.diffusion.client;

import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.DenoiserGrpc;
import dev.diffusion.proto.v1.ModelInfo;
import dev.diffusion.proto.v1.ModelInfoRequest;
import dev.diffusion.proto.v1.PredictRequest;
import dev.diffusion.proto.v1.PredictResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Where a loopback gRPC round trip spends its time (issue 19): a loop of unary Denoiser calls, timed one by one, in
 * rounds that differ in what the caller does before each call (nothing, sleeps, or streams through 64 MB as a U-Net
 * run does to the CPU caches). Run by hand, not in CI (it asserts nothing); docs/performance.md has its figures.
 * <pre>
 * ./mvnw -B -q -o test-compile -pl client -am
 * CP=client/target/test-classes:client/target/classes:$(cat client/target/runtime.classpath)
 * java -cp "$CP" dev.diffusion.client.RoundTripProbe local [options]         plain grpc-java server and client, one JVM
 * java -cp "$CP" dev.diffusion.client.RoundTripProbe serve PORT [--direct]  the plain server alone (a second JVM)
 * java -cp "$CP" dev.diffusion.client.RoundTripProbe call HOST:PORT [options] against any Denoiser (./sd up's U-Net)
 * java -cp "$CP" dev.diffusion.client.RoundTripProbe handoff [--idle ..]    no gRPC: a thread hand-off there and back
 *   --latent N      Predict with 2 x N x N x 4 latents (0: Info, the default)
 *   --refused       the Predict carries an out-of-range timestep: the service parses and checks it, runs nothing
 *   --calls N       calls per round (default 2000)
 *   --idle MS,...   the idle time before each call, one entry per round (default 0,0,0,0,0,30,0,100)
 *   --thrash        idle by streaming through 64 MB instead of sleeping
 *   --direct        directExecutor on the client (and, in local mode, on the server)
 * </pre>
 * The plain server's Info gives the demo model's context (77 x 64) and its Predict answers zeros shaped like the
 * latents, so the bytes on the wire match the demo U-Net service's.
 */
public final class RoundTripProbe {
    private static final long[] JUNK = new long[8 << 20];

    /** Info and Predict at once; Predict replies with zeros shaped like the latents. */
    static final class PlainDenoiser extends DenoiserGrpc.DenoiserImplBase {
        @Override
        public void info(ModelInfoRequest request, StreamObserver<ModelInfo> response) {
            response.onNext(ModelInfo.newBuilder().setLatentChannels(4).setContextLength(77).setHiddenSize(64).build());
            response.onCompleted();
        }

        @Override
        public void predict(PredictRequest request, StreamObserver<PredictResponse> response) {
            if (request.getTimesteps(1) >= 1000) {
                response.onError(Status.INVALID_ARGUMENT.withDescription("timesteps[1]").asRuntimeException());
                return;
            }
            int[] s = Tensors.shape(request.getLatents(), "latents", 4);
            float[] eps = new float[Tensors.floats(request.getLatents(), "latents").length];
            response.onNext(PredictResponse.newBuilder().setNoisePrediction(Tensors.float32(eps, s[0], s[1], s[2], s[3])).build());
            response.onCompleted();
        }
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "local";
        boolean direct = has(args, "--direct");
        switch (mode) {
            case "serve" -> {
                server(Integer.parseInt(args[1]), direct);
                System.out.println("serving diffusion.v1.Denoiser (plain grpc-java) on port " + args[1]);
                Thread.sleep(Long.MAX_VALUE);
            }
            case "local" -> {
                Server server = server(0, direct);
                loop("127.0.0.1", server.getPort(), args, direct);
                server.shutdownNow();
            }
            case "handoff" -> handoff(args);
            case "call" -> {
                String[] hp = args[1].split(":");
                loop(hp[0], Integer.parseInt(hp[1]), args, direct);
            }
            default -> throw new IllegalArgumentException("mode: local, serve PORT, call HOST:PORT or handoff, got " + mode);
        }
        System.exit(0);
    }

    private static Server server(int port, boolean direct) throws Exception {
        NettyServerBuilder b = NettyServerBuilder.forPort(port).addService(new PlainDenoiser()).maxInboundMessageSize(64 << 20);
        if (direct) {
            b.directExecutor();
        }
        return b.build().start();
    }

    private static void loop(String host, int port, String[] args, boolean direct) throws Exception {
        int latent = Integer.parseInt(option(args, "--latent", "0"));
        int calls = Integer.parseInt(option(args, "--calls", "2000"));
        int[] idle = Arrays.stream(option(args, "--idle", "0,0,0,0,0,30,0,100").split(",")).mapToInt(Integer::parseInt).toArray();
        boolean thrash = has(args, "--thrash");
        NettyChannelBuilder b = NettyChannelBuilder.forAddress(host, port).usePlaintext().maxInboundMessageSize(256 << 20);
        if (direct) {
            b.directExecutor();
        }
        ManagedChannel channel = b.build();
        DenoiserGrpc.DenoiserBlockingStub stub = DenoiserGrpc.newBlockingStub(channel);
        ModelInfo info = stub.withDeadlineAfter(30, TimeUnit.SECONDS).info(ModelInfoRequest.getDefaultInstance());
        PredictRequest request = latent == 0 ? null : request(info, latent, has(args, "--refused"));
        System.out.printf("%s:%d, %s, client executor %s%n", host, port, request == null ? "Info"
                : String.format("Predict, 2 x %d x %d x %d latents, %,d request bytes%s", latent, latent, info.getLatentChannels(),
                request.getSerializedSize(), has(args, "--refused") ? ", refused (no run)" : ""), direct ? "direct" : "default");
        for (int round = 0; round < idle.length; round++) {
            long[] t = new long[calls];
            for (int i = 0; i < calls; i++) {
                idle(idle[round], thrash);
                long t0 = System.nanoTime();
                call(stub, request);
                t[i] = System.nanoTime() - t0;
            }
            Arrays.sort(t);
            System.out.printf("round %d, %3d ms %s before each of %d calls: p10 %.3f ms, median %.3f, p90 %.3f, mean %.3f%n",
                    round, idle[round], thrash ? "streaming 64 MB" : "asleep", calls, t[calls / 10] / 1e6, t[calls / 2] / 1e6,
                    t[calls * 9 / 10] / 1e6, Arrays.stream(t).average().orElse(0) / 1e6);
        }
        channel.shutdownNow();
    }

    /** The floor under every hop of a call: thread A hands a value to a waiting thread B and takes it back. */
    private static void handoff(String[] args) throws Exception {
        int calls = Integer.parseInt(option(args, "--calls", "2000"));
        int[] idle = Arrays.stream(option(args, "--idle", "0,0,0,0,0,30,0,100").split(",")).mapToInt(Integer::parseInt).toArray();
        boolean thrash = has(args, "--thrash");
        java.util.concurrent.SynchronousQueue<Long> there = new java.util.concurrent.SynchronousQueue<>();
        java.util.concurrent.SynchronousQueue<Long> back = new java.util.concurrent.SynchronousQueue<>();
        Thread b = new Thread(() -> {
            try {
                while (true) {
                    back.put(there.take());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        b.setDaemon(true);
        b.start();
        for (int round = 0; round < idle.length; round++) {
            long[] t = new long[calls];
            for (int i = 0; i < calls; i++) {
                idle(idle[round], thrash);
                long t0 = System.nanoTime();
                there.put(t0);
                back.take();
                t[i] = System.nanoTime() - t0;
            }
            Arrays.sort(t);
            System.out.printf("hand-off round %d, %3d ms %s before each of %d: p10 %.1f us, median %.1f, p90 %.1f%n", round,
                    idle[round], thrash ? "streaming 64 MB" : "asleep", calls, t[calls / 10] / 1e3, t[calls / 2] / 1e3,
                    t[calls * 9 / 10] / 1e3);
        }
    }

    private static PredictRequest request(ModelInfo info, int side, boolean refused) {
        int c = info.getLatentChannels();
        Random r = new Random(1);
        float[] latents = new float[2 * side * side * c];
        float[] context = new float[2 * info.getContextLength() * info.getHiddenSize()];
        for (int i = 0; i < latents.length; i++) {
            latents[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < context.length; i++) {
            context[i] = (float) r.nextGaussian();
        }
        return PredictRequest.newBuilder().setLatents(Tensors.float32(latents, 2, side, side, c))
                .addTimesteps(500).addTimesteps(refused ? 5000 : 500)
                .setContext(Tensors.float32(context, 2, info.getContextLength(), info.getHiddenSize())).build();
    }

    private static void call(DenoiserGrpc.DenoiserBlockingStub stub, PredictRequest request) {
        DenoiserGrpc.DenoiserBlockingStub s = stub.withDeadlineAfter(120, TimeUnit.SECONDS);
        if (request == null) {
            s.info(ModelInfoRequest.getDefaultInstance());
            return;
        }
        try {
            s.predict(request);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.INVALID_ARGUMENT) {
                throw e;
            }
        }
    }

    /** Sleeps, or streams through 64 MB (one long per cache line) for the time given, as a network run would. */
    private static void idle(int millis, boolean thrash) throws InterruptedException {
        if (millis <= 0) {
            return;
        }
        if (!thrash) {
            Thread.sleep(millis);
            return;
        }
        long until = System.nanoTime() + millis * 1_000_000L;
        long x = 0;
        while (System.nanoTime() < until) {
            for (int j = 0; j < JUNK.length; j += 8) {
                JUNK[j] += x++;
            }
        }
    }

    private static boolean has(String[] args, String flag) {
        return Arrays.asList(args).contains(flag);
    }

    private static String option(String[] args, String flag, String fallback) {
        int i = Arrays.asList(args).indexOf(flag);
        return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
    }
}
