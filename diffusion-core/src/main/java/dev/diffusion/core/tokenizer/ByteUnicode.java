package dev.diffusion.core.tokenizer;

/**
 * GPT-2/CLIP's reversible map from the 256 byte values to printable Unicode characters, so that
 * BPE symbols are strings without whitespace or control characters. Printable Latin-1 bytes map
 * to themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) map to U+0100 and up,
 * in byte order.
 */
final class ByteUnicode {
    /** The bytes in vocabulary order: the printable ranges first, then the rest (CLIP's vocab order). */
    static final int[] BYTES_IN_VOCAB_ORDER = new int[256];
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        boolean[] printable = new boolean[256];
        int next = 0;
        for (int b = 0; b < 256; b++) {
            if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
                printable[b] = true;
                BYTE_TO_CHAR[b] = (char) b;
                BYTES_IN_VOCAB_ORDER[next++] = b;
            }
        }
        int shifted = 0;
        for (int b = 0; b < 256; b++) {
            if (!printable[b]) {
                BYTE_TO_CHAR[b] = (char) (256 + shifted++);
                BYTES_IN_VOCAB_ORDER[next++] = b;
            }
        }
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        for (int b = 0; b < 256; b++) {
            CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
        }
    }

    private ByteUnicode() {}

    static char charOf(byte b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    static char charOf(int unsignedByte) {
        return BYTE_TO_CHAR[unsignedByte];
    }

    /** The byte a symbol character stands for, or -1 when the character is not a byte symbol. */
    static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }
}
