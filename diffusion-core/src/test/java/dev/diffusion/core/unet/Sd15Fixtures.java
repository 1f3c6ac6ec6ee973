package dev.diffusion.core.unet;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads the {@code steps.txt} of a stable-diffusion.cpp run; the runs themselves are found by
 * {@link dev.diffusion.core.testing.Fixtures}.
 */
final class Sd15Fixtures {
    private Sd15Fixtures() {}

    /** One line of steps.txt: {@code stepK sigma=… t=… c_in=…}; returns {sigma, t}. */
    static double[] sigmaAndTimestep(Path dir, int step) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("steps.txt"));
            for (String line : lines) {
                String[] parts = line.trim().split("\\s+");
                if (parts[0].equals("step" + step)) {
                    double sigma = Double.NaN;
                    double t = Double.NaN;
                    for (String p : parts) {
                        if (p.startsWith("sigma=")) {
                            sigma = Double.parseDouble(p.substring(6));
                        } else if (p.startsWith("t=")) {
                            t = Double.parseDouble(p.substring(2));
                        }
                    }
                    return new double[] {sigma, t};
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new IllegalArgumentException("no step" + step + " in " + dir.resolve("steps.txt"));
    }
}
