package dev.diffusion.core.nn;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's resident memory as Linux reports it in {@code /proc/self/status}: what the weights (native
 * TensorFlow memory), activations and the JVM take together. The JVM's own figures see only its heap.
 */
public final class ProcessMemory {
    private static final Path STATUS = Path.of("/proc/self/status");

    private ProcessMemory() {}

    /** Resident set size now ({@code VmRSS}), in bytes; -1 where there is no such file (not Linux). */
    public static long residentBytes() {
        return statusBytes("VmRSS:");
    }

    /** The largest resident set size since the process started ({@code VmHWM}), in bytes; -1 where unknown. */
    public static long peakResidentBytes() {
        return statusBytes("VmHWM:");
    }

    private static long statusBytes(String field) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(field)) {
                    // "VmRSS:	 3370808 kB": the kernel writes kB and means KiB
                    return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
