package dev.diffusion.service;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process's resident memory in {@code /q/metrics}: {@code process_resident_memory_bytes} (now) and
 * {@code process_resident_memory_peak_bytes} (the most since start), from Linux's {@code /proc/self/status}
 * ({@code VmRSS}, {@code VmHWM}). The JVM's own meters see only the Java heap, while a model's weights and
 * TensorFlow's activations live in native memory; these are the figures to size a pod's memory limit by.
 */
@ApplicationScoped
public class ProcessMemoryMetrics {
    private static final Path STATUS = Path.of("/proc/self/status");

    @Inject
    MeterRegistry registry;

    void onStart(@Observes StartupEvent event) {
        if (!Files.isReadable(STATUS)) {
            return; // not Linux: no figure rather than a wrong one
        }
        Gauge.builder("process.resident.memory", () -> statusBytes("VmRSS:")).baseUnit("bytes")
                .description("resident set size of this process (Java heap, native weights and activations)")
                .register(registry);
        Gauge.builder("process.resident.memory.peak", () -> statusBytes("VmHWM:")).baseUnit("bytes")
                .description("the largest resident set size of this process since it started").register(registry);
    }

    /** A {@code kB} line of {@code /proc/self/status} in bytes; NaN if absent. */
    static double statusBytes(String field) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(field)) {
                    String[] parts = line.substring(field.length()).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024.0; // the kernel writes "kB" and means KiB
                }
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
