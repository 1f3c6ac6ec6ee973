package dev.diffusion.core.cli;

import java.io.PrintStream;

/** {@code ./sd <command>}: generate, bench, bench-lora, bench-precision, bench-replicas, help. Exit codes: 0 done, 2 bad usage, 1 failure. */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        System.exit(run(argv, System.out, System.err));
    }

    /** Every command of ./sd: this JVM's, the trainer's and the suite's (the script routes them). */
    static final String COMMANDS = "generate, bench, bench-lora, bench-precision, bench-replicas, train, evaluate,"
            + " up, down, status, submit, watch, get, cancel, bench-suite, help";

    public static int run(String[] argv, PrintStream out, PrintStream err) {
        if (argv.length == 0 || argv[0].equals("help") || argv[0].equals("--help") || argv[0].equals("-h")) {
            out.println("usage: ./sd COMMAND [options]   (./sd COMMAND --help, or ./sd help COMMAND, for one command's)");
            out.println("  commands: " + COMMANDS);
            out.println("  in one process: generate, bench*, train, evaluate; the suite (Kafka, gRPC services, orchestrator):");
            out.println("  up, down, status, submit, watch, get, cancel, bench-suite");
            out.println();
            out.print(GenerateCommand.HELP);
            out.print(BenchCommand.HELP);
            out.print(LoraBenchCommand.HELP);
            out.print(PrecisionBenchCommand.HELP);
            out.print(ReplicasBenchCommand.HELP);
            return argv.length == 0 ? 2 : 0;
        }
        String[] rest = java.util.Arrays.copyOfRange(argv, 1, argv.length);
        if (java.util.Arrays.asList(rest).contains("--help") || java.util.Arrays.asList(rest).contains("-h")) {
            switch (argv[0]) {
                case "generate" -> {
                    out.print(GenerateCommand.HELP);
                    return 0;
                }
                case "bench" -> {
                    out.print(BenchCommand.HELP);
                    return 0;
                }
                case "bench-lora" -> {
                    out.print(LoraBenchCommand.HELP);
                    return 0;
                }
                case "bench-precision" -> {
                    out.print(PrecisionBenchCommand.HELP);
                    return 0;
                }
                case "bench-replicas" -> {
                    out.print(ReplicasBenchCommand.HELP);
                    return 0;
                }
                default -> { } // an unknown command is said so below
            }
        }
        try {
            return switch (argv[0]) {
                case "generate" -> new GenerateCommand(out, err).run(rest);
                case "bench" -> new BenchCommand(out, err).run(rest);
                case "bench-lora" -> new LoraBenchCommand(out).run(rest);
                case "bench-precision" -> new PrecisionBenchCommand(out).run(rest);
                case "bench-replicas" -> new ReplicasBenchCommand(out).run(rest);
                default -> throw new UsageException("unknown command '" + argv[0] + "' (commands: " + COMMANDS + ")");
            };
        } catch (UsageException e) {
            err.println("sd: " + e.getMessage());
            return 2;
        } catch (IllegalArgumentException | dev.diffusion.core.weights.WeightsException | java.io.UncheckedIOException e) {
            err.println("sd: " + e.getMessage());
            return 1;
        }
    }
}
