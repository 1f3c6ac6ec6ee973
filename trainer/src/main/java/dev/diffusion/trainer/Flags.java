package dev.diffusion.trainer;

import java.nio.file.Files;
import java.nio.file.Path;

/** The train and evaluate commands' option values, checked: each refusal names the option and its range. */
final class Flags {
    private Flags() {}

    static int integer(String flag, String v, int min, int max) {
        long n;
        try {
            n = Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " must be a whole number, got '" + v + "'");
        }
        if (n < min || n > max) {
            throw new IllegalArgumentException(flag + " must be between " + min + " and " + max + ", got " + v.trim());
        }
        return (int) n;
    }

    static long seed(String flag, String v) {
        try {
            long n = Long.parseLong(v.trim());
            if (n < 0) {
                throw new IllegalArgumentException(flag + " must be 0 or more, got " + n);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " must be a whole number from 0 to " + Long.MAX_VALUE + ", got '" + v + "'");
        }
    }

    static double decimal(String flag, String v, double min, double max) {
        double d;
        try {
            d = Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " must be a number, got '" + v + "'");
        }
        if (!(d >= min && d <= max)) {
            throw new IllegalArgumentException(flag + " must be between " + min + " and " + max + ", got " + v.trim());
        }
        return d;
    }

    /** A path that must exist (a model folder, a checkpoint, a folder of images). */
    static Path existing(String flag, String v) {
        Path p = Path.of(v);
        if (!Files.exists(p)) {
            throw new IllegalArgumentException(flag + ": " + v + " does not exist");
        }
        return p;
    }

    /** A file to write: its folder must exist. */
    static Path writable(String flag, String v) {
        Path p = Path.of(v);
        Path parent = p.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException(flag + ": folder " + parent + " does not exist");
        }
        return p;
    }
}
