package dev.diffusion.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.InvalidRequestException;
import java.util.Base64;

/** Typed reads of a JSON request's fields: a wrong type is an {@link InvalidRequestException} naming the field. */
final class JsonFields {
    private final JsonNode body;
    private final String prefix;

    JsonFields(JsonNode body, String prefix) {
        this.body = body == null || body.isNull() ? com.fasterxml.jackson.databind.node.NullNode.getInstance() : body;
        this.prefix = prefix;
    }

    JsonFields(JsonNode body) {
        this(body, "");
    }

    boolean has(String name) {
        return body.has(name) && !body.get(name).isNull();
    }

    JsonNode node(String name) {
        return body.get(name);
    }

    String name(String field) {
        return prefix + field;
    }

    String string(String name, String fallback) {
        if (!has(name)) {
            return fallback;
        }
        JsonNode v = body.get(name);
        if (!v.isTextual()) {
            throw new InvalidRequestException(name(name), name(name) + " must be a string, got " + v);
        }
        return v.asText();
    }

    long integer(String name, long fallback) {
        if (!has(name)) {
            return fallback;
        }
        JsonNode v = body.get(name);
        if (v.isTextual() && v.asText().matches("-?\\d{1,18}")) { // form fields arrive as text
            return Long.parseLong(v.asText());
        }
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            throw new InvalidRequestException(name(name), name(name) + " must be an integer, got " + v);
        }
        if (!v.canConvertToLong()) {
            throw new InvalidRequestException(name(name), name(name) + " is out of range: " + v);
        }
        return v.asLong();
    }

    int int32(String name, int fallback) {
        long v = integer(name, fallback);
        if (v != (int) v) {
            throw new InvalidRequestException(name(name), name(name) + " is out of range: " + v);
        }
        return (int) v;
    }

    double number(String name, double fallback) {
        if (!has(name)) {
            return fallback;
        }
        JsonNode v = body.get(name);
        if (v.isTextual()) {
            try {
                return Double.parseDouble(v.asText());
            } catch (NumberFormatException e) {
                // the message below
            }
        }
        if (!v.isNumber()) {
            throw new InvalidRequestException(name(name), name(name) + " must be a number, got " + v);
        }
        return v.asDouble();
    }

    boolean bool(String name, boolean fallback) {
        if (!has(name)) {
            return fallback;
        }
        JsonNode v = body.get(name);
        if (v.isTextual() && (v.asText().equals("true") || v.asText().equals("false"))) {
            return Boolean.parseBoolean(v.asText());
        }
        if (!v.isBoolean()) {
            throw new InvalidRequestException(name(name), name(name) + " must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    /** Base64 (optionally a {@code data:image/png;base64,} URL) to bytes. */
    static byte[] base64(String field, String text) {
        String b64 = text.startsWith("data:") && text.contains(",") ? text.substring(text.indexOf(',') + 1) : text;
        byte[] bytes;
        try {
            bytes = Base64.getMimeDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(field, field + " must be a base64 PNG or JPEG image: it is not valid base64 (a truncated or"
                    + " altered string?)");
        }
        if (bytes.length == 0) { // the MIME decoder skips characters outside base64: "!!!" decodes to nothing
            throw new InvalidRequestException(field, field + " must be a base64 PNG or JPEG image, got "
                    + (text.isBlank() ? "an empty string" : "no base64 data"));
        }
        return bytes;
    }

    /**
     * A Jackson mapper for request bodies: strings as long as the HTTP body limit allows (a base64 image of tens of
     * megabytes; Jackson's default stops at 20 million characters).
     */
    static com.fasterxml.jackson.databind.ObjectMapper mapper() {
        return new com.fasterxml.jackson.databind.ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
                .streamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                        .maxStringLength(Integer.MAX_VALUE).build()).build());
    }

    /** A JSON parser's complaint without its "at [Source: ...]" location, one line. */
    static String parseError(Exception e) {
        String m = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        m = m == null ? e.getClass().getSimpleName() : m;
        return m.lines().findFirst().orElse(m);
    }

    /** "WxH" (OpenAI's size) to {width, height}. */
    static int[] size(String field, String text) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("([1-9][0-9]{0,4})x([1-9][0-9]{0,4})").matcher(text);
        if (!m.matches()) {
            throw new InvalidRequestException(field, field + " must be WIDTHxHEIGHT in pixels (e.g. 512x512), got '" + text + "'");
        }
        int[] wh = {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
        for (int side : wh) { // checked here: a 0 would reach the job as proto3's "not set", the native size
            GenerationRequest.checkSize(field, side);
        }
        return wh;
    }
}
