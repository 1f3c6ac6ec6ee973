package dev.diffusion.proto;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.util.concurrent.TimeUnit;

/** How the services of this suite turn exceptions into gRPC statuses, and check the caller's deadline. */
public final class GrpcErrors {
    private GrpcErrors() {
    }

    /**
     * Bad input ({@link IllegalArgumentException}, with a message naming the field) is {@code INVALID_ARGUMENT};
     * a status exception passes through; running out of (native) memory is {@code RESOURCE_EXHAUSTED}; anything else is {@code INTERNAL} with the exception's message.
     */
    public static StatusRuntimeException toStatus(Throwable t) {
        if (t instanceof StatusRuntimeException s) {
            return s;
        }
        if (t instanceof io.grpc.StatusException s) {
            return s.getStatus().asRuntimeException(s.getTrailers());
        }
        if (t instanceof IllegalArgumentException) {
            return Status.INVALID_ARGUMENT.withDescription(t.getMessage()).asRuntimeException();
        }
        if (t instanceof OutOfMemoryError || t.getClass().getSimpleName().equals("TFResourceExhaustedException")) {
            // the input was valid but too big for this machine's memory: the caller may retry smaller or elsewhere
            return Status.RESOURCE_EXHAUSTED.withDescription(t.getMessage()).withCause(t).asRuntimeException();
        }
        return Status.INTERNAL.withDescription(t.getClass().getSimpleName() + ": " + t.getMessage()).withCause(t)
                .asRuntimeException();
    }

    public static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }

    /** Throws {@code DEADLINE_EXCEEDED} when the current call's deadline (if any) has passed, so its work is skipped. */
    public static void checkDeadline(Deadline deadline) {
        if (deadline != null && deadline.isExpired()) {
            throw Status.DEADLINE_EXCEEDED.withDescription("the caller's deadline passed "
                    + -deadline.timeRemaining(TimeUnit.MILLISECONDS) + " ms before the work started").asRuntimeException();
        }
    }

    /** {@link #checkDeadline(Deadline)} of {@link Context#current()}. */
    public static void checkDeadline() {
        checkDeadline(Context.current().getDeadline());
    }
}
