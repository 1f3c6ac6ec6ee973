package dev.diffusion.client.cli;

import dev.diffusion.core.cli.UsageException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --flag value} / {@code --flag=value} / {@code --switch}; errors name the flag (exit 2). Keeps the raw argv of each flag. */
final class CliArgs {
    private final Map<String, String> values = new LinkedHashMap<>();
    private final Map<String, List<String>> raw = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();

    CliArgs(String[] argv, Set<String> valueFlags, Set<String> switches) {
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) {
                positional.add(a);
                continue;
            }
            String name = a;
            String value = null;
            int eq = a.indexOf('=');
            if (eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            if (switches.contains(name)) {
                if (value != null) {
                    throw new UsageException(name + " takes no value");
                }
                values.put(name, "true");
                raw.put(name, List.of(name));
            } else if (valueFlags.contains(name)) {
                if (value == null) {
                    if (i + 1 >= argv.length) {
                        throw new UsageException(name + " needs a value");
                    }
                    value = argv[++i];
                }
                values.put(name, value);
                raw.put(name, List.of(name, value));
            } else {
                throw new UsageException("unknown option " + name + " (see ./sd help)");
            }
        }
    }

    List<String> positional() {
        return positional;
    }

    boolean has(String flag) {
        return values.containsKey(flag);
    }

    String string(String flag, String def) {
        return values.getOrDefault(flag, def);
    }

    /** The argv of the given flags only (to hand them to another parser). */
    String[] only(Set<String> flags) {
        List<String> out = new ArrayList<>();
        raw.forEach((k, v) -> {
            if (flags.contains(k)) {
                out.addAll(v);
            }
        });
        return out.toArray(String[]::new);
    }

    int integer(String flag, int def, int min, int max) {
        String v = values.get(flag);
        if (v == null) {
            return def;
        }
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(flag + " must be a whole number, got '" + v + "'");
        }
        if (n < min || n > max) {
            throw new UsageException(flag + " must be between " + min + " and " + max + ", got " + n);
        }
        return n;
    }

    /** A whole number without a range check (--no-check). */
    long anyLong(String flag, long def) {
        String v = values.get(flag);
        if (v == null) {
            return def;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(flag + " must be a whole number, got '" + v + "'");
        }
    }

    /** A number without a range check (--no-check). */
    double anyDouble(String flag, double def) {
        String v = values.get(flag);
        if (v == null) {
            return def;
        }
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(flag + " must be a number, got '" + v + "'");
        }
    }
}
