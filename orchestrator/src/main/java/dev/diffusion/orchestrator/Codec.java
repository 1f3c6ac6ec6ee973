package dev.diffusion.orchestrator;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * Kafka record bodies: protobuf binary by default; the proto3 JSON mapping when the record's header says
 * {@code content-type: application/json}.
 */
public final class Codec {
    public static final String CONTENT_TYPE = "content-type";
    public static final String JSON = "application/json";
    public static final String PROTOBUF = "application/x-protobuf";

    private static final JsonFormat.Parser JSON_PARSER = JsonFormat.parser();
    private static final JsonFormat.Printer JSON_PRINTER = JsonFormat.printer().omittingInsignificantWhitespace();

    private Codec() {}

    public static boolean isJson(Headers headers) {
        Header h = headers.lastHeader(CONTENT_TYPE);
        return h != null && new String(h.value(), StandardCharsets.UTF_8).trim().toLowerCase().startsWith(JSON);
    }

    /** Throws {@link InvalidProtocolBufferException} (JSON syntax errors included) for a body that is not a job. */
    public static GenerationJob parseJob(byte[] value, Headers headers) throws InvalidProtocolBufferException {
        if (value == null || value.length == 0) {
            throw new InvalidProtocolBufferException("empty record: no job");
        }
        if (isJson(headers)) {
            GenerationJob.Builder b = GenerationJob.newBuilder();
            try {
                JSON_PARSER.merge(new String(value, StandardCharsets.UTF_8), b);
            } catch (RuntimeException e) { // the JSON reader's own syntax errors
                throw new InvalidProtocolBufferException("not a JSON GenerationJob: " + e.getMessage());
            }
            return b.build();
        }
        return GenerationJob.parseFrom(value);
    }

    public static JobEvent parseEvent(byte[] value, Headers headers) throws InvalidProtocolBufferException {
        if (isJson(headers)) {
            JobEvent.Builder b = JobEvent.newBuilder();
            JSON_PARSER.ignoringUnknownFields().merge(new String(value, StandardCharsets.UTF_8), b);
            return b.build();
        }
        return JobEvent.parseFrom(value);
    }

    public static byte[] encode(Message message, boolean json) {
        if (json) {
            try {
                return JSON_PRINTER.print(message).getBytes(StandardCharsets.UTF_8);
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
        }
        return message.toByteArray();
    }

    public static byte[] contentType(boolean json) {
        return (json ? JSON : PROTOBUF).getBytes(StandardCharsets.UTF_8);
    }
}
