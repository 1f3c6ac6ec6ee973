package dev.diffusion.core.nn;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GPUOptions;

/**
 * A network built into its own graph and session. Subclasses build their ops in the constructor
 * through {@link #nn}, then call {@link #load()}; a session is safe to run from many threads.
 */
public abstract class TfNetwork implements AutoCloseable {
    /**
     * Weights are assigned in batches of about this many MiB (float32), {@code diffusion.load.batch-mb}: bigger batches
     * mean fewer session runs (each costs ~30 ms of graph pruning for a U-Net), smaller ones less memory — TensorFlow's
     * oneDNN allocator keeps what a load's batches took (about 3.5 batches: the one fed, its transposed and cast
     * copies, and the next one being read) for the life of the process.
     */
    public static final String LOAD_BATCH_PROPERTY = "diffusion.load.batch-mb";

    /**
     * Environment variable that gives every TensorFlow session its own intra-op thread pool ({@code 1} or
     * {@code true}); without it every session of a process shares one pool, sized by the first session made.
     */
    public static final String OWN_POOLS_ENV = "TF_OVERRIDE_GLOBAL_THREADPOOL";

    protected final Graph graph;
    protected final Nn nn;
    private Session session;
    /** The sessions beyond the first ({@link #load(int)}), each with its own copy of the weights. */
    private final List<Session> replicas = new java.util.ArrayList<>();
    /** The first session and the replicas, made once when loaded (read on every run that splits a batch). */
    private List<Session> allSessions = List.of();
    private long loadMillis;
    /** The devices of every network loaded in this process (a service loads only its own). */
    private static final Set<String> PROCESS_DEVICES = new TreeSet<>();

    protected TfNetwork(dev.diffusion.core.weights.Weights weights, Precision precision) {
        this.graph = newGraph();
        this.nn = new Nn(graph, weights, precision);
    }

    /**
     * A new graph, after {@link TensorFlowNatives#ensureLoaded()}: every graph of this project (the networks, the
     * trainer's) starts here, so no process touches TensorFlow before its native libraries are checked and loaded.
     */
    public static Graph newGraph() {
        TensorFlowNatives.ensureLoaded();
        return new Graph();
    }

    /** Creates the session and reads every weight into it; call once, at the end of the constructor. */
    protected final void load() {
        load(1);
    }

    /**
     * Creates {@code count} sessions over the graph, each holding its own copy of the weights and its own share of
     * the intra-op threads ({@code diffusion.threads} / count), and loads them; call once, at the end of the
     * constructor. Replicas are for small networks on a CPU, whose ops are too small for several threads to help but
     * whose batch can be split: see {@link #replicaSessions()}. More than one needs {@value #OWN_POOLS_ENV}=1 in the
     * environment (else the sessions would share one pool of the first session's size) and a CPU: on a GPU, or with
     * one thread in all, the network keeps one session.
     */
    protected final void load(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("replicas must be >= 1, got " + count);
        }
        int threads = threads();
        int wanted = Math.max(1, Math.min(count, threads));
        if (wanted > 1 && !ownPools()) {
            throw new IllegalStateException(count + " replicas of a network need " + OWN_POOLS_ENV
                    + "=1 in the process's environment (each session its own thread pool); it is not set");
        }
        long start = System.nanoTime();
        long batch = Math.max(1, Long.getLong(LOAD_BATCH_PROPERTY, 64)) << 20;
        // replicas: each session its own inter-op pool too (the global one has the first session's size: 1 thread)
        ConfigProto replicaConfig = inferenceConfig(Math.max(1, threads / wanted)).toBuilder()
                .setUsePerSessionThreads(wanted > 1).build();
        session = new Session(graph, replicaConfig);
        nn.loadWeights(session, batch);
        boolean cpuOnly = nn.devices().stream().allMatch(d -> d.startsWith("/device:CPU"));
        for (int i = 1; i < wanted && cpuOnly; i++) {
            Session s = new Session(graph, replicaConfig);
            replicas.add(s);
            nn.loadWeights(s, batch);
        }
        List<Session> all = new java.util.ArrayList<>(1 + replicas.size());
        all.add(session);
        all.addAll(replicas);
        allSessions = List.copyOf(all);
        loadMillis = (System.nanoTime() - start) / 1_000_000;
        synchronized (PROCESS_DEVICES) {
            PROCESS_DEVICES.addAll(nn.devices());
        }
    }

    /** Whether {@value #OWN_POOLS_ENV} gives each session its own intra-op pool in this process. */
    public static boolean ownPools() {
        String v = System.getenv(OWN_POOLS_ENV);
        return v != null && (v.equals("1") || v.equalsIgnoreCase("true"));
    }

    /**
     * Every session of the network, the first ({@link #session()}) included: one, or {@link #load(int)}'s replicas.
     * A run may be split by batch over them and run in parallel; what each gets is computed exactly as alone.
     */
    protected List<Session> replicaSessions() {
        session(); // throws when not loaded (or closed)
        return allSessions;
    }

    /** How many sessions hold the weights (1, or the replicas {@link #load(int)} made). */
    public int replicaCount() {
        return 1 + replicas.size();
    }

    /** Where TensorFlow placed this network's variables (so its graph): {@code /device:CPU:0}, {@code /device:GPU:0}. */
    public List<String> devices() {
        return nn.devices();
    }

    /** The devices of every network this process has loaded, e.g. {@code [/device:GPU:0]}; empty before the first. */
    public static List<String> processDevices() {
        synchronized (PROCESS_DEVICES) {
            return List.copyOf(PROCESS_DEVICES);
        }
    }

    protected Session session() {
        if (session == null) {
            throw new IllegalStateException("network not loaded");
        }
        return session;
    }

    public Precision precision() {
        return nn.precision;
    }

    public long loadMillis() {
        return loadMillis;
    }

    public long parameterCount() {
        return nn.weightElements();
    }

    /**
     * Threads: {@code diffusion.threads} (default: all cores) for intra-op parallelism; GPU memory
     * grows on demand so several services can share a card.
     */
    public static ConfigProto sessionConfig() {
        return sessionConfig(threads());
    }

    /**
     * {@code diffusion.graph.optimize} (true, false, or auto, the default: false with TensorFlow's CPU build, true
     * with its GPU build, where grappler's layout and mixed-precision passes matter): whether TensorFlow's graph
     * optimizer (grappler) rewrites a network's graph before its first run. Off on a CPU: with the random SD 1.5 checkpoint at 256²
     * it made loading ~0.8 s slower (every load batch's run was optimized) and the first U-Net step 0.8–1.1 s slower
     * (fp32 2.1–2.4 s against 1.25–1.4 s; bf16 2.1–2.5 s against 1.0–1.3 s), against later steps only 1–3 % faster
     * with it (one process, both settings interleaved: SD 1.5 fp32 1,116 against 1,128 ms per CFG pair at 256², the
     * demo model 65–66 against 67–68 ms). oneDNN's own graph
     * rewrite (fused kernels, blocked layouts) runs either way. Images with and without differ by float rounding
     * (fp32: at most one level, 77 dB); every path of the suite uses the same setting, so they agree.
     */
    public static final String OPTIMIZE_PROPERTY = "diffusion.graph.optimize";

    /** Whether the TensorFlow natives on the class path are the GPU build (linux-x86_64-gpu). */
    private static final boolean GPU_BUILD = TfNetwork.class.getClassLoader()
            .getResource("org/tensorflow/internal/c_api/linux-x86_64-gpu/libjnitensorflow.so") != null;

    /** {@link #sessionConfig(int)} for a network's inference sessions: grappler per {@link #OPTIMIZE_PROPERTY}. */
    public static ConfigProto inferenceConfig(int threads) {
        ConfigProto base = sessionConfig(threads);
        String optimize = System.getProperty(OPTIMIZE_PROPERTY, "auto");
        boolean on = switch (optimize) {
            case "true" -> true;
            case "false" -> false;
            case "auto" -> GPU_BUILD;
            default -> throw new IllegalArgumentException(OPTIMIZE_PROPERTY + " must be true, false or auto, got '" + optimize + "'");
        };
        if (on) {
            return base;
        }
        return base.toBuilder().setGraphOptions(org.tensorflow.proto.GraphOptions.newBuilder()
                .setRewriteOptions(org.tensorflow.proto.RewriterConfig.newBuilder().setDisableMetaOptimizer(true))).build();
    }

    /** {@code diffusion.threads}, or all cores. */
    public static int threads() {
        return Math.max(1, Integer.getInteger("diffusion.threads", Runtime.getRuntime().availableProcessors()));
    }

    /** As {@link #sessionConfig()}, with {@code threads} intra-op threads. */
    public static ConfigProto sessionConfig(int threads) {
        return ConfigProto.newBuilder()
                .setIntraOpParallelismThreads(threads)
                .setInterOpParallelismThreads(Math.min(2, threads))
                .setAllowSoftPlacement(true)
                .setGpuOptions(GPUOptions.newBuilder().setAllowGrowth(true))
                .build();
    }

    @Override
    public void close() {
        for (Session s : replicas) {
            s.close();
        }
        replicas.clear();
        allSessions = List.of();
        if (session != null) {
            session.close();
            session = null;
        }
        graph.close();
    }
}
