package dev.diffusion.orchestrator.http;

import jakarta.ws.rs.core.Response;
import java.util.LinkedHashMap;
import java.util.Map;

/** OpenAI's error object: {@code {"error": {"message", "type", "param", "code"}}}. */
final class OpenAiErrors {
    private OpenAiErrors() {}

    static Response error(int status, String message, String param, String code) {
        return Response.status(status).entity(body(status, message, param, code)).type("application/json").build();
    }

    static Map<String, Object> body(int status, String message, String param, String code) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("message", message);
        e.put("type", status >= 500 ? "server_error" : "invalid_request_error");
        e.put("param", param);
        e.put("code", code);
        return Map.of("error", e);
    }

    static Response invalid(String param, String message) {
        return error(400, message, param, null);
    }
}
