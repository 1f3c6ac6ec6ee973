package dev.diffusion.core.tokenizer;

import java.text.Normalizer;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The text normalisation OpenAI's CLIP tokenizer applies before BPE: {@code ftfy.fix_text}, HTML
 * unescaping (twice), whitespace collapse, strip, lower case.
 *
 * <p>ftfy is a Python library with no Java port. Its cheap, table-free default fixes are redone
 * here: HTML unescaping when the text has no '<', terminal escapes removed, Latin ligatures split,
 * full-width ASCII made half-width, curly quotes straightened, control characters removed, NFC.
 * Its main fix, repairing mojibake ("schÃ¶n" back to "schön"), is not: such prompts tokenize as
 * written. HTML unescaping covers numeric references and the common named entities, not all
 * 2,231 HTML5 names that Python's {@code html.unescape} knows.
 */
final class ClipTextCleaner {
    private static final Map<String, String> NAMED_ENTITIES = Map.ofEntries(
            Map.entry("amp", "&"), Map.entry("lt", "<"), Map.entry("gt", ">"),
            Map.entry("quot", "\""), Map.entry("apos", "'"), Map.entry("nbsp", "\u00A0"),
            Map.entry("ndash", "\u2013"), Map.entry("mdash", "\u2014"),
            Map.entry("lsquo", "\u2018"), Map.entry("rsquo", "\u2019"),
            Map.entry("ldquo", "\u201C"), Map.entry("rdquo", "\u201D"),
            Map.entry("hellip", "\u2026"), Map.entry("copy", "\u00A9"), Map.entry("reg", "\u00AE"),
            Map.entry("trade", "\u2122"), Map.entry("deg", "\u00B0"), Map.entry("times", "\u00D7"),
            Map.entry("eacute", "\u00E9"), Map.entry("egrave", "\u00E8"), Map.entry("agrave", "\u00E0"),
            Map.entry("uuml", "\u00FC"), Map.entry("ouml", "\u00F6"), Map.entry("auml", "\u00E4"),
            Map.entry("szlig", "\u00DF"), Map.entry("ntilde", "\u00F1"), Map.entry("ccedil", "\u00E7"));
    /** Names HTML allows without the closing semicolon (the legacy ones Python also accepts so). */
    private static final java.util.Set<String> LEGACY_WITHOUT_SEMICOLON =
            java.util.Set.of("amp", "lt", "gt", "quot", "nbsp", "copy", "reg", "deg", "times");

    private ClipTextCleaner() {}

    private static final Pattern TERMINAL_ESCAPE = Pattern.compile("\u001B\\[[0-9;]*[a-zA-Z]");

    static String clean(String text) {
        // CLIP unescapes twice so that doubly escaped web captions ("&amp;amp;") come out right.
        String unescaped = htmlUnescape(htmlUnescape(fixTextLite(text)));
        return collapseWhitespace(unescaped).toLowerCase(Locale.ROOT);
    }

    /** The subset of ftfy's default {@code fix_text} described in the class comment, in ftfy's order. */
    static String fixTextLite(String text) {
        if (text.indexOf('<') < 0) {
            text = htmlUnescape(text);  // ftfy leaves text that may be HTML markup alone
        }
        if (text.indexOf('\u001B') >= 0) {
            text = TERMINAL_ESCAPE.matcher(text).replaceAll("");
        }
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            i += Character.charCount(c);
            if (isLatinLigature(c)) {
                out.append(c == 0xFB05 ? "\u017Ft" : Normalizer.normalize(Character.toString(c), Normalizer.Form.NFKC));
            } else if (c == 0x3000) {
                out.append(' ');
            } else if (c >= 0xFF01 && c < 0xFFF0) {
                // full-width ASCII and half-width katakana: their compatibility form, when it is one character
                String narrow = Normalizer.normalize(Character.toString(c), Normalizer.Form.NFKC);
                out.append(narrow.codePointCount(0, narrow.length()) == 1 ? narrow : Character.toString(c));
            } else if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
                out.append('\'');
            } else if (c >= 0x201C && c <= 0x201F) {
                out.append('"');
            } else if (!isRemovedControl(c)) {
                out.appendCodePoint(c);
            }
        }
        return Normalizer.isNormalized(out, Normalizer.Form.NFC) ? out.toString()
                : Normalizer.normalize(out, Normalizer.Form.NFC);
    }

    private static boolean isLatinLigature(int c) {
        return c == 0x0132 || c == 0x0133 || c == 0x0149 || (c >= 0x01C4 && c <= 0x01CC)
                || (c >= 0x01F1 && c <= 0x01F3) || (c >= 0xFB00 && c <= 0xFB06);
    }

    /** Controls ftfy removes: C0 except tab, line feed, form feed, carriage return; DEL; BOM; and a few format characters. */
    private static boolean isRemovedControl(int c) {
        return (c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7F
                || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC)
                || (c >= 0x1D173 && c <= 0x1D17A) || (c >= 0xE0000 && c <= 0xE007F);
    }

    /** Python's {@code str.isspace}: Java's whitespace plus the no-break spaces Java leaves out. */
    static boolean isPythonWhitespace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
    }

    /** Every run of whitespace becomes one space; leading and trailing whitespace go. */
    static String collapseWhitespace(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean pendingSpace = false;
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            i += Character.charCount(c);
            if (isPythonWhitespace(c)) {
                pendingSpace = out.length() > 0;
            } else {
                if (pendingSpace) {
                    out.append(' ');
                    pendingSpace = false;
                }
                out.appendCodePoint(c);
            }
        }
        return out.toString();
    }

    static String htmlUnescape(String text) {
        int amp = text.indexOf('&');
        if (amp < 0) {
            return text;
        }
        StringBuilder out = new StringBuilder(text.length());
        int i = 0;
        while (amp >= 0) {
            out.append(text, i, amp);
            i = amp + 1 + appendEntity(text, amp + 1, out);
            amp = text.indexOf('&', i);
        }
        out.append(text, i, text.length());
        return out.toString();
    }

    /**
     * Appends the character(s) of the reference that starts after an '&' at {@code from} and
     * returns how many characters after the '&' it used; when there is no reference there,
     * appends '&' and returns 0.
     */
    private static int appendEntity(String text, int from, StringBuilder out) {
        int n = text.length();
        if (from < n && text.charAt(from) == '#') {
            boolean hex = from + 1 < n && (text.charAt(from + 1) == 'x' || text.charAt(from + 1) == 'X');
            int start = from + (hex ? 2 : 1);
            int end = start;
            while (end < n && (hex ? Character.digit(text.charAt(end), 16) >= 0
                    : text.charAt(end) >= '0' && text.charAt(end) <= '9')) {
                end++;
            }
            if (end == start) {
                out.append('&');
                return 0;
            }
            int codePoint;
            try {
                codePoint = Integer.parseInt(text.substring(start, end), hex ? 16 : 10);
            } catch (NumberFormatException tooLong) {
                codePoint = -1;
            }
            boolean valid = codePoint > 0 && codePoint <= Character.MAX_CODE_POINT
                    && !(codePoint >= Character.MIN_SURROGATE && codePoint <= Character.MAX_SURROGATE);
            out.appendCodePoint(valid ? codePoint : 0xFFFD);
            boolean semicolon = end < n && text.charAt(end) == ';';
            return end - from + (semicolon ? 1 : 0);
        }
        int end = from;
        while (end < n && end - from < 32 && Character.isLetterOrDigit(text.charAt(end))) {
            end++;
        }
        String name = text.substring(from, end);
        String replacement = NAMED_ENTITIES.get(name);
        boolean semicolon = end < n && text.charAt(end) == ';';
        if (replacement != null && (semicolon || LEGACY_WITHOUT_SEMICOLON.contains(name))) {
            out.append(replacement);
            return end - from + (semicolon ? 1 : 0);
        }
        // "&ampx" is "&x" in HTML: a legacy name may end without a semicolon, even mid-word.
        String longestLegacy = null;
        for (String legacy : LEGACY_WITHOUT_SEMICOLON) {
            if (name.startsWith(legacy) && (longestLegacy == null || legacy.length() > longestLegacy.length())) {
                longestLegacy = legacy;
            }
        }
        if (longestLegacy != null) {
            out.append(NAMED_ENTITIES.get(longestLegacy));
            return longestLegacy.length();
        }
        out.append('&');
        return 0;
    }
}
