package dev.diffusion.orchestrator;

/** A job that fails validation: becomes FAILED (INVALID_ARGUMENT) naming the field. */
public final class InvalidJobException extends RuntimeException {
    private final String field;

    public InvalidJobException(String field, String message) {
        super(message);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
