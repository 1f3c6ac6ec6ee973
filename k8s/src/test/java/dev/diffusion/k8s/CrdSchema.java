package dev.diffusion.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A custom resource checked against the openAPIV3Schema of its published CustomResourceDefinition, as the API server's
 * strict field validation would: types (with x-kubernetes-int-or-string), required fields, enums, minimum/maximum,
 * patterns, oneOf (on required fields, the way Strimzi uses it), and unknown fields (refused unless the schema says
 * x-kubernetes-preserve-unknown-fields or gives additionalProperties). Not the whole OpenAPI: formats and CEL rules
 * are not checked.
 */
final class CrdSchema {
    private final String kind;
    private final Map<String, JsonNode> schemaByVersion = new java.util.HashMap<>();
    private final String group;

    private CrdSchema(JsonNode crd) {
        this.kind = crd.at("/spec/names/kind").asText();
        this.group = crd.at("/spec/group").asText();
        for (JsonNode v : crd.at("/spec/versions")) {
            if (v.path("served").asBoolean()) {
                schemaByVersion.put(v.get("name").asText(), v.at("/schema/openAPIV3Schema"));
            }
        }
    }

    /** The CRD in test resource {@code crds/<file>}. */
    static CrdSchema load(String file) throws IOException {
        try (InputStream in = CrdSchema.class.getResourceAsStream("/crds/" + file)) {
            if (in == null) {
                throw new IOException("no test resource crds/" + file);
            }
            for (JsonNode d : K8sManifestsTest.YAML.readerFor(JsonNode.class).readValues(in).readAll().stream()
                    .map(JsonNode.class::cast).toList()) {
                if ("CustomResourceDefinition".equals(d.path("kind").asText())) {
                    return new CrdSchema(d);
                }
            }
        }
        throw new IOException("crds/" + file + " holds no CustomResourceDefinition");
    }

    String kind() {
        return kind;
    }

    /** What is wrong with {@code object} (empty when it validates): each entry names the field's path. */
    List<String> validate(JsonNode object) {
        List<String> errors = new ArrayList<>();
        String apiVersion = object.path("apiVersion").asText();
        String name = kind + "/" + object.at("/metadata/name").asText();
        if (!apiVersion.startsWith(group + "/")) {
            errors.add(name + ": apiVersion " + apiVersion + " is not of group " + group);
            return errors;
        }
        JsonNode schema = schemaByVersion.get(apiVersion.substring(group.length() + 1));
        if (schema == null) {
            errors.add(name + ": version " + apiVersion + " is not served (served: " + schemaByVersion.keySet() + ")");
            return errors;
        }
        // metadata is the API server's ObjectMeta, not the CRD's to describe
        JsonNode body = object.deepCopy();
        ((com.fasterxml.jackson.databind.node.ObjectNode) body).remove("metadata");
        check(body, schema, name, errors);
        return errors;
    }

    private static void check(JsonNode value, JsonNode schema, String path, List<String> errors) {
        if (schema == null || schema.isMissingNode()) {
            return;
        }
        boolean intOrString = schema.path("x-kubernetes-int-or-string").asBoolean();
        String type = schema.path("type").asText("");
        if (intOrString) {
            if (!value.isIntegralNumber() && !value.isTextual()) {
                errors.add(path + ": " + value + " is neither an integer nor a string");
            }
        } else if (!type.isEmpty() && !hasType(value, type)) {
            errors.add(path + ": " + abbreviate(value) + " is not of type " + type);
            return;
        }
        if (schema.has("enum")) {
            boolean found = false;
            for (JsonNode e : schema.get("enum")) {
                found |= e.equals(value) || (e.isTextual() && value.isTextual() && e.asText().equals(value.asText()));
            }
            if (!found) {
                errors.add(path + ": " + value + " is not one of " + schema.get("enum"));
            }
        }
        if (value.isNumber()) {
            BigDecimal v = value.decimalValue();
            if (schema.has("minimum") && v.compareTo(schema.get("minimum").decimalValue()) < 0) {
                errors.add(path + ": " + v + " is below the minimum " + schema.get("minimum"));
            }
            if (schema.has("maximum") && v.compareTo(schema.get("maximum").decimalValue()) > 0) {
                errors.add(path + ": " + v + " is above the maximum " + schema.get("maximum"));
            }
        }
        if (value.isTextual() && schema.has("pattern")
                && !Pattern.compile(schema.get("pattern").asText()).matcher(value.asText()).find()) {
            errors.add(path + ": \"" + value.asText() + "\" does not match " + schema.get("pattern").asText());
        }
        if (value.isObject()) {
            for (JsonNode r : schema.path("required")) {
                if (!value.has(r.asText())) {
                    errors.add(path + ": required field " + r.asText() + " is missing");
                }
            }
            if (schema.has("oneOf")) {
                int matching = 0;
                for (JsonNode branch : schema.get("oneOf")) {
                    boolean all = true;
                    for (JsonNode r : branch.path("required")) {
                        all &= value.has(r.asText());
                    }
                    matching += all ? 1 : 0;
                }
                if (matching != 1) {
                    errors.add(path + ": matches " + matching + " of the oneOf alternatives " + schema.get("oneOf"));
                }
            }
            JsonNode properties = schema.path("properties");
            JsonNode additional = schema.get("additionalProperties");
            boolean preserve = schema.path("x-kubernetes-preserve-unknown-fields").asBoolean();
            for (Iterator<Map.Entry<String, JsonNode>> it = value.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                String at = path + "." + f.getKey();
                if (properties.has(f.getKey())) {
                    check(f.getValue(), properties.get(f.getKey()), at, errors);
                } else if (additional != null && additional.isObject()) {
                    check(f.getValue(), additional, at, errors);
                } else if (!preserve && !(additional != null && additional.asBoolean(false))) {
                    errors.add(at + ": unknown field (the schema knows " + fieldNames(properties) + ")");
                }
            }
        }
        if (value.isArray()) {
            int i = 0;
            for (JsonNode item : value) {
                check(item, schema.get("items"), path + "[" + i++ + "]", errors);
            }
        }
    }

    private static boolean hasType(JsonNode value, String type) {
        return switch (type) {
            case "object" -> value.isObject();
            case "array" -> value.isArray();
            case "string" -> value.isTextual();
            case "integer" -> value.isIntegralNumber();
            case "number" -> value.isNumber();
            case "boolean" -> value.isBoolean();
            default -> true;
        };
    }

    private static List<String> fieldNames(JsonNode properties) {
        List<String> names = new ArrayList<>();
        properties.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static String abbreviate(JsonNode value) {
        String s = value.toString();
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }
}
