package dev.diffusion.core.weights;

/** A weight file or tensor that cannot be used; the message names the file and the tensor. */
public class WeightsException extends RuntimeException {
    public WeightsException(String message) {
        super(message);
    }

    public WeightsException(String message, Throwable cause) {
        super(message, cause);
    }
}
