package dev.diffusion.client.cli;

import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.Progress;
import java.io.PrintStream;
import java.util.Locale;

/** A progress line on stderr: redrawn in place on a terminal, one line per step otherwise. */
final class ProgressBar {
    private final PrintStream err;
    private final boolean tty;
    private final String jobId;
    private double emaMillis = -1;
    private boolean open;

    ProgressBar(PrintStream err, boolean tty, String jobId) {
        this.err = err;
        this.tty = tty;
        this.jobId = jobId;
    }

    void on(JobEvent e) {
        switch (e.getType()) {
            case QUEUED -> line("queued " + jobId, true);
            case STARTED -> line("started " + jobId, true);
            case PROGRESS -> progress(e.getProgress());
            case COMPLETED -> line(String.format(Locale.ROOT, "completed %s in %.1f s", jobId, e.getCompleted().getTotalMillis() / 1000.0), true);
            default -> finish(); // FAILED and CANCELLED: the command prints the reason once, with its exit code
        }
    }

    private void progress(Progress p) {
        if (p.getStepMillis() > 0) {
            emaMillis = emaMillis < 0 ? p.getStepMillis() : 0.7 * emaMillis + 0.3 * p.getStepMillis();
        }
        int total = Math.max(1, p.getTotalSteps());
        int images = Math.max(1, p.getImageCount());
        int width = 24;
        int filled = (int) Math.round(width * (double) p.getStep() / total);
        StringBuilder bar = new StringBuilder("[");
        bar.append("#".repeat(Math.min(width, filled))).append(".".repeat(Math.max(0, width - filled))).append(']');
        String rate = emaMillis > 0 ? String.format(Locale.ROOT, "%.2f it/s", 1000.0 / emaMillis) : "- it/s";
        long remaining = (long) (total - p.getStep()) + (long) (images - 1 - p.getImageIndex()) * total;
        String eta = emaMillis > 0 ? "ETA " + duration(remaining * emaMillis / 1000.0) : "ETA -";
        String which = images > 1 ? String.format(Locale.ROOT, " image %d/%d", p.getImageIndex() + 1, images) : "";
        line(String.format(Locale.ROOT, "%s %d/%d%s  %s  %s", bar, p.getStep(), total, which, rate, eta), false);
    }

    private static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 60 ? (s / 60) + "m" + String.format(Locale.ROOT, "%02d", s % 60) + "s" : s + "s";
    }

    private void line(String text, boolean keep) {
        if (tty) {
            err.print("\r\033[K" + "sd: " + text);
            open = true;
            if (keep) {
                err.println();
                open = false;
            }
        } else {
            err.println("sd: " + text);
        }
        err.flush();
    }

    void finish() {
        if (open) {
            err.println();
            open = false;
        }
    }
}
