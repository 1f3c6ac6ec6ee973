package dev.diffusion.client.cli;

import dev.diffusion.core.cli.UsageException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The suite commands of {@code ./sd}: up, down, status (processes on this machine) and submit, watch, cancel, get
 * (the orchestrator's API). {@code ./sd} sends every other command to diffusion-core's Main.
 */
public final class SdMain {
    static final Set<String> COMMANDS = Set.of("up", "down", "status", "submit", "watch", "cancel", "get", "bench-suite");

    private SdMain() {}

    public static void main(String[] argv) {
        Logger.getLogger("").setLevel(Level.SEVERE); // Kafka/gRPC chatter is not for the command line
        for (var h : Logger.getLogger("").getHandlers()) {
            h.setLevel(Level.SEVERE);
        }
        int rc = run(argv, System.out, System.err, System.console() != null);
        System.out.flush();
        System.exit(rc);
    }

    public static int run(String[] argv, PrintStream out, PrintStream err, boolean tty) {
        if (argv.length == 0 || !COMMANDS.contains(argv[0])) {
            err.println("sd: unknown command '" + (argv.length == 0 ? "" : argv[0]) + "' (suite commands: " + String.join(", ", COMMANDS) + ")");
            return Exit.USAGE;
        }
        Path root = Path.of(System.getProperty("sd.root", ".")).toAbsolutePath().normalize();
        String runDirEnv = System.getenv("SD_RUN_DIR");
        Path runDir = (runDirEnv == null || runDirEnv.isBlank() ? root.resolve("run") : Path.of(runDirEnv)).toAbsolutePath().normalize();
        String[] rest = Arrays.copyOfRange(argv, 1, argv.length);
        if (Arrays.asList(rest).contains("--help") || Arrays.asList(rest).contains("-h")) {
            out.print(argv[0].equals("up") || argv[0].equals("down") || argv[0].equals("status") ? Suite.HELP
                    : argv[0].equals("bench-suite") ? SuiteBench.HELP : Remote.HELP);
            return Exit.OK;
        }
        Suite suite = new Suite(root, runDir, out, err);
        try {
            Remote remote = new Remote(suite.state(), out, err, tty);
            return switch (argv[0]) {
                case "up" -> suite.up(rest);
                case "down" -> suite.down(rest);
                case "status" -> suite.status(rest);
                case "submit" -> remote.submit(rest);
                case "watch" -> remote.watch(rest);
                case "cancel" -> remote.cancel(rest);
                case "get" -> remote.get(rest);
                case "bench-suite" -> new SuiteBench(root, suite.state(), out, err).run(rest);
                default -> Exit.USAGE;
            };
        } catch (UsageException e) {
            err.println("sd: " + e.getMessage());
            return Exit.USAGE;
        } catch (Exit.Failure e) {
            err.println("sd: " + e.getMessage());
            return e.code;
        } catch (UncheckedIOException e) {
            err.println("sd: " + e.getMessage());
            return Exit.FAILED;
        } catch (java.io.IOException e) {
            err.println("sd: " + e);
            return Exit.FAILED;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("sd: interrupted");
            return Exit.FAILED;
        } catch (Exception e) {
            err.println("sd: " + e);
            return Exit.FAILED;
        }
    }

    /** Help of the suite commands (./sd help prints it after diffusion-core's). */
    public static String help() {
        return Suite.HELP + Remote.HELP + SuiteBench.HELP;
    }
}
