package dev.diffusion.core.cli;

/** A bad command line: the message names the flag and the limit; printed without a stack trace. */
public final class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }
}
