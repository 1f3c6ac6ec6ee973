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

    protected final Graph graph;
    protected final Nn nn;
    private Session session;
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
        long start = System.nanoTime();
        session = new Session(graph, sessionConfig());
        nn.loadWeights(session, Math.max(1, Long.getLong(LOAD_BATCH_PROPERTY, 64)) << 20);
        loadMillis = (System.nanoTime() - start) / 1_000_000;
        synchronized (PROCESS_DEVICES) {
            PROCESS_DEVICES.addAll(nn.devices());
        }
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
        int threads = Integer.getInteger("diffusion.threads", Runtime.getRuntime().availableProcessors());
        return ConfigProto.newBuilder()
                .setIntraOpParallelismThreads(threads)
                .setInterOpParallelismThreads(Math.min(2, threads))
                .setAllowSoftPlacement(true)
                .setGpuOptions(GPUOptions.newBuilder().setAllowGrowth(true))
                .build();
    }

    @Override
    public void close() {
        if (session != null) {
            session.close();
            session = null;
        }
        graph.close();
    }
}
