package dev.diffusion.trainer;

import java.nio.file.Path;
import java.util.Arrays;

/** {@code ./sd train} and {@code ./sd evaluate}. */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        if (argv.length == 0) {
            System.err.print(TrainCommand.HELP + EvaluateCommand.HELP);
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(argv, 1, argv.length);
        try {
            switch (argv[0]) {
                case "train" -> TrainCommand.main(rest);
                case "evaluate" -> EvaluateCommand.main(rest);
                default -> throw new IllegalArgumentException("unknown command " + argv[0] + " (train, evaluate)");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("sd: " + e.getMessage());
            System.exit(2);
        }
    }

    /** The repository root: {@code -Dsd.root} (set by ./sd), else the working directory. */
    static Path root() {
        String root = System.getProperty("sd.root");
        return root == null ? Path.of("") : Path.of(root);
    }
}
