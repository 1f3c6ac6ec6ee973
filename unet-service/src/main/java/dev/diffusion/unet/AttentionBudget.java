package dev.diffusion.unet;

import dev.diffusion.core.unet.UNetConfig;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * How much memory one U-Net call's attention may take ({@value #PROPERTY}): the scores of a self-attention grow
 * with the fourth power of the image side, so one large image (SD 1.5 at 1024²: 17 GB for a CFG pair), or many
 * merged samples, would otherwise take more memory than the machine has and the kernel would kill the service — and
 * the job, delivered again, would kill the next one. A call above the budget is refused (INVALID_ARGUMENT, so the job
 * fails naming its size instead of being retried); merged runs take only as many samples as fit.
 */
final class AttentionBudget {
    static final String PROPERTY = "diffusion.unet.max-attention-mb";

    private AttentionBudget() {}

    /**
     * "auto" (the default): half the memory this process may use (the container's limit where there is one, as the
     * JVM reports it), leaving the rest to the weights and the other activations; a number of MiB; 0 = no limit.
     */
    static long bytes(String setting) {
        String s = setting.trim().toLowerCase(Locale.ROOT);
        if (s.equals("auto")) {
            return totalMemory() / 2;
        }
        long mib;
        try {
            mib = Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(PROPERTY + " must be 'auto' or a number of MiB (0 = no limit), got '" + setting + "'");
        }
        if (mib < 0) {
            throw new IllegalArgumentException(PROPERTY + " must be 'auto' or a number of MiB >= 0 (0 = no limit), got " + mib);
        }
        return mib << 20;
    }

    private static long totalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize(); // container-aware since JDK 14
        }
        return Runtime.getRuntime().maxMemory();
    }

    /**
     * The most samples of this latent size, up to {@code cap} (the batcher's own limit), one run may merge within
     * {@code budget}: at least 1 (the call itself was checked). Asked once per merged run: at most {@code cap} sums.
     */
    static int mostSamples(UNetConfig config, int latentHeight, int latentWidth, long sliceBytes, long budget, int cap) {
        if (budget <= 0) {
            return Integer.MAX_VALUE;
        }
        int n = 1;
        while (n < cap && config.attentionBytes(n + 1, latentHeight, latentWidth, sliceBytes) <= budget) {
            n++;
        }
        return n;
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
