package dev.diffusion.client.cli;

/** Exit codes of the remote commands (documented in ./sd help and README.md). */
final class Exit {
    static final int OK = 0;
    static final int FAILED = 1;        // the job FAILED or was rejected (reason printed); up/status: a service is not up
    static final int USAGE = 2;         // bad command line: the message names the flag
    static final int UNREACHABLE = 3;   // cannot reach the orchestrator (or Kafka)
    static final int CANCELLED = 4;     // the job ended CANCELLED
    static final int NOT_FOUND = 5;     // no job with that id
    static final int TIMED_OUT = 6;     // --timeout passed before the job's final event (the job goes on)

    private Exit() {}

    /** A message to print as "sd: message" and the code to exit with. */
    static final class Failure extends RuntimeException {
        final int code;

        Failure(int code, String message) {
            super(message);
            this.code = code;
        }
    }
}
