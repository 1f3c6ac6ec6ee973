package dev.diffusion.service;

import dev.diffusion.core.nn.ProcessMemory;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

/**
 * The process's resident memory in {@code /q/metrics}: {@code process_resident_memory_bytes} (now) and
 * {@code process_resident_memory_peak_bytes} (the most since start), from Linux's {@code /proc/self/status}
 * ({@link ProcessMemory}). The JVM's own meters see only the Java heap, while a model's weights and
 * TensorFlow's activations live in native memory; these are the figures to size a pod's memory limit by.
 */
@ApplicationScoped
public class ProcessMemoryMetrics {
    @Inject
    MeterRegistry registry;

    void onStart(@Observes StartupEvent event) {
        if (ProcessMemory.residentBytes() < 0) {
            return; // not Linux: no figure rather than a wrong one
        }
        Gauge.builder("process.resident.memory", () -> orNaN(ProcessMemory.residentBytes())).baseUnit("bytes")
                .description("resident set size of this process (Java heap, native weights and activations)")
                .register(registry);
        Gauge.builder("process.resident.memory.peak", () -> orNaN(ProcessMemory.peakResidentBytes())).baseUnit("bytes")
                .description("the largest resident set size of this process since it started").register(registry);
    }

    private static double orNaN(long bytes) {
        return bytes < 0 ? Double.NaN : bytes;
    }
}
