package dev.diffusion.core.nn;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.RunOptions;

/**
 * Where a network's session runs spend their time, by op type, from TensorFlow's own step stats (a full trace of
 * each run made while a profile is {@linkplain #start started} on the current thread). For {@code ./sd bench --profile};
 * tracing costs time, so profiled runs are slower than plain ones and only the shares are meaningful.
 */
public final class OpProfile {
    private static final RunOptions FULL_TRACE = RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build();
    private static final ThreadLocal<OpProfile> ACTIVE = new ThreadLocal<>();

    /** Per network, per op type: [total microseconds, executions]. */
    private final Map<String, Map<String, long[]>> byNetwork = new java.util.LinkedHashMap<>();
    /** Per network: [runs, wall microseconds]. */
    private final Map<String, long[]> runs = new HashMap<>();

    private OpProfile() {}

    /** Starts recording the runs this thread makes through {@link #run}; {@link #stop()} ends it. */
    public static OpProfile start() {
        OpProfile p = new OpProfile();
        ACTIVE.set(p);
        return p;
    }

    public void stop() {
        if (ACTIVE.get() == this) {
            ACTIVE.remove();
        }
    }

    /** Runs the runner, traced when this thread has a profile started; {@code network} names it in the profile. */
    public static Result run(String network, Session.Runner runner) {
        OpProfile p = ACTIVE.get();
        if (p == null) {
            return runner.run();
        }
        long t0 = System.nanoTime();
        Result r = runner.setOptions(FULL_TRACE).runAndFetchMetadata();
        long micros = (System.nanoTime() - t0) / 1000;
        r.getMetadata().ifPresent(m -> p.add(network, m, micros));
        return r;
    }

    private synchronized void add(String network, RunMetadata metadata, long micros) {
        long[] r = runs.computeIfAbsent(network, k -> new long[2]);
        r[0]++;
        r[1] += micros;
        Map<String, long[]> byType = byNetwork.computeIfAbsent(network, k -> new HashMap<>());
        for (DeviceStepStats device : metadata.getStepStats().getDevStatsList()) {
            for (NodeExecStats node : device.getNodeStatsList()) {
                String type = opType(node);
                long[] t = byType.computeIfAbsent(type, k -> new long[2]);
                t[0] += node.getAllEndRelMicros();
                t[1]++;
            }
        }
    }

    /** "name = Type(inputs)" in the timeline label; the node name when there is none. */
    static String opType(NodeExecStats node) {
        String label = node.getTimelineLabel();
        int eq = label.indexOf(" = ");
        if (eq >= 0) {
            int paren = label.indexOf('(', eq);
            return label.substring(eq + 3, paren < 0 ? label.length() : paren).trim();
        }
        return node.getNodeName().isEmpty() ? "?" : node.getNodeName();
    }

    /** Op time of one network's runs, in microseconds: all of it, or of one op type (ops overlap across threads). */
    public synchronized long micros(String network, String type) {
        Map<String, long[]> byType = byNetwork.getOrDefault(network, Map.of());
        return byType.entrySet().stream().filter(e -> type == null || e.getKey().equals(type)).mapToLong(e -> e.getValue()[0]).sum();
    }

    /** Prints, per network, the {@code top} op types by time: ms per run, share of the network's op time, ops per run. */
    public synchronized void print(PrintStream out, int top) {
        for (var net : byNetwork.entrySet()) {
            long[] r = runs.get(net.getKey());
            long n = Math.max(1, r[0]);
            long total = Math.max(1, micros(net.getKey(), null));
            List<Map.Entry<String, long[]>> rows = new ArrayList<>(net.getValue().entrySet());
            rows.sort((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]));
            out.printf("  %s: %d traced run(s), %.1f ms wall per run, %.1f ms op time per run (ops overlap across threads)%n",
                    net.getKey(), r[0], r[1] / 1000.0 / n, total / 1000.0 / n);
            long shown = 0;
            for (int i = 0; i < Math.min(top, rows.size()); i++) {
                var e = rows.get(i);
                shown += e.getValue()[0];
                out.printf("    %-30s %8.1f ms %5.1f %%  %5d ops%n", e.getKey(), e.getValue()[0] / 1000.0 / n,
                        100.0 * e.getValue()[0] / total, e.getValue()[1] / n);
            }
            if (rows.size() > top) {
                out.printf("    %-30s %8.1f ms %5.1f %%%n", "(" + (rows.size() - top) + " other types)",
                        (total - shown) / 1000.0 / n, 100.0 * (total - shown) / total);
            }
        }
    }
}
