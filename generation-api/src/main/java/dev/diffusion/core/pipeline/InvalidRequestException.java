package dev.diffusion.core.pipeline;

/** A request field out of its limits: the field's name (as in the GenerationJob message) and a message naming the limit. */
public final class InvalidRequestException extends IllegalArgumentException {
    private final String field;

    public InvalidRequestException(String field, String message) {
        super(message);
        this.field = field;
    }

    /** The field at fault ("steps", "width", ...). */
    public String field() {
        return field;
    }
}
