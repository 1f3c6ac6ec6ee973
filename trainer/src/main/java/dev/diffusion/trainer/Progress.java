package dev.diffusion.trainer;

import java.io.PrintStream;

/** Prints step, loss, speed and time left while a training phase runs. */
final class Progress {
    private final String phase;
    private final int totalSteps;
    private final PrintStream out;
    private final long start = System.nanoTime();
    private final long everyNanos;
    private long lastPrint = System.nanoTime();
    private double lossSum;
    private int lossCount;

    Progress(String phase, int totalSteps, PrintStream out, double everySeconds) {
        this.phase = phase;
        this.totalSteps = totalSteps;
        this.out = out;
        this.everyNanos = (long) (everySeconds * 1e9);
    }

    void step(int step, float loss) {
        lossSum += loss;
        lossCount++;
        long now = System.nanoTime();
        if (now - lastPrint >= everyNanos || step == totalSteps) {
            double elapsed = (now - start) / 1e9;
            double perStep = elapsed / step;
            out.printf("%s step %d/%d  loss %.5f (mean of last %d)  %.2f s/step  elapsed %s  ETA %s%n", phase, step,
                    totalSteps, lossSum / lossCount, lossCount, perStep, time(elapsed), time(perStep * (totalSteps - step)));
            out.flush();
            lossSum = 0;
            lossCount = 0;
            lastPrint = now;
        }
    }

    double elapsedSeconds() {
        return (System.nanoTime() - start) / 1e9;
    }

    static String time(double seconds) {
        long s = Math.round(seconds);
        return s >= 60 ? (s / 60) + "m" + String.format("%02d", s % 60) + "s" : s + "s";
    }
}
