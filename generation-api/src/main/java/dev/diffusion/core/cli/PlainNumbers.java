package dev.diffusion.core.cli;

import java.util.regex.Pattern;

/**
 * Numbers as a person types them: ASCII digits, an optional sign, a decimal point and an exponent. Java's own parsers
 * also take what nobody means on a command line or in a prompt tag ({@code 7f}, {@code 1d}, {@code 0x1p3},
 * {@code NaN}, {@code Infinity}, digits of other scripts): those are refused here as not a number.
 */
public final class PlainNumbers {
    private static final Pattern WHOLE = Pattern.compile("[+-]?[0-9]+");
    private static final Pattern DECIMAL = Pattern.compile("[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?");

    private PlainNumbers() {}

    /** @throws NumberFormatException when {@code text} (trimmed) is not a plain whole number or out of int range */
    public static int parseInt(String text) {
        String t = text.trim();
        if (!WHOLE.matcher(t).matches()) {
            throw new NumberFormatException("not a whole number: '" + text + "'");
        }
        return Integer.parseInt(t);
    }

    /** @throws NumberFormatException when {@code text} (trimmed) is not a plain whole number or out of long range */
    public static long parseLong(String text) {
        String t = text.trim();
        if (!WHOLE.matcher(t).matches()) {
            throw new NumberFormatException("not a whole number: '" + text + "'");
        }
        return Long.parseLong(t);
    }

    /** @throws NumberFormatException when {@code text} (trimmed) is not a plain decimal number */
    public static double parseDouble(String text) {
        String t = text.trim();
        if (!DECIMAL.matcher(t).matches()) {
            throw new NumberFormatException("not a number: '" + text + "'");
        }
        return Double.parseDouble(t);
    }
}
