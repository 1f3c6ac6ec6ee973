package dev.diffusion.core.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --flag value} / {@code --flag=value} / {@code --switch} parsing with errors that name the flag
 * ({@link UsageException}, exit 2). Shared by every {@code ./sd} command; keeps each flag's raw argv so
 * a command can hand some flags on to another command's parser ({@link #only}).
 */
public final class Args {
    private final Map<String, String> values = new LinkedHashMap<>();
    private final Map<String, List<String>> raw = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();

    public Args(String[] argv, Set<String> valueFlags, Set<String> switches) {
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) {
                if (a.length() > 1 && a.charAt(0) == '-' && Character.isLetter(a.charAt(1))) { // -q, -prompt: not ours
                    String name = a.split("=", 2)[0];
                    throw new UsageException("unknown option " + name + (switches.contains("-" + name)
                            || valueFlags.contains("-" + name) ? ": did you mean -" + name + "?"
                            : " (options are long, starting with --; see ./sd help)"));
                }
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

    public List<String> positional() {
        return positional;
    }

    public boolean has(String flag) {
        return values.containsKey(flag);
    }

    public String string(String flag, String def) {
        return values.getOrDefault(flag, def);
    }

    public int integer(String flag, int def, int min, int max) {
        String v = values.get(flag);
        if (v == null) {
            return def;
        }
        int n;
        try {
            n = PlainNumbers.parseInt(v);
        } catch (NumberFormatException e) {
            if (v.trim().matches("[-+]?[0-9]+")) { // a whole number, too large for an int
                throw new UsageException(flag + " must be between " + min + " and " + max + ", got " + v.trim());
            }
            throw new UsageException(flag + " must be a whole number, got '" + v + "'");
        }
        if (n < min || n > max) {
            throw new UsageException(flag + " must be between " + min + " and " + max + ", got " + n);
        }
        return n;
    }

    public long longValue(String flag, long def) {
        String v = values.get(flag);
        if (v == null) {
            return def;
        }
        try {
            return PlainNumbers.parseLong(v);
        } catch (NumberFormatException e) {
            if (v.trim().matches("[-+]?[0-9]+")) {
                throw new UsageException(flag + " must be between " + Long.MIN_VALUE + " and " + Long.MAX_VALUE + ", got "
                        + v.trim());
            }
            throw new UsageException(flag + " must be a whole number, got '" + v + "'");
        }
    }

    public double decimal(String flag, double def, double min, double max) {
        String v = values.get(flag);
        if (v == null) {
            return def;
        }
        double d;
        try {
            d = PlainNumbers.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException(flag + " must be a number, got '" + v + "'");
        }
        if (!(d >= min && d <= max)) {
            throw new UsageException(flag + " must be between " + min + " and " + max + ", got " + v);
        }
        return d;
    }

    /** A number without a range check (for values another party checks). */
    public double anyDouble(String flag, double def) {
        String v = values.get(flag);
        if (v == null) {
            return def;
        }
        try {
            return PlainNumbers.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException(flag + " must be a number, got '" + v + "'");
        }
    }

    /** The argv of the given flags only, in the order given (to hand them to another parser). */
    public String[] only(Set<String> flags) {
        List<String> out = new ArrayList<>();
        raw.forEach((k, v) -> {
            if (flags.contains(k)) {
                out.addAll(v);
            }
        });
        return out.toArray(String[]::new);
    }
}
