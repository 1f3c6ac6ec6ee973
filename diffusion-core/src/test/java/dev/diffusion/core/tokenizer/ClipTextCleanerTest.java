package dev.diffusion.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ClipTextCleanerTest {
    @Test
    void htmlUnescape() {
        assertEquals("a & b < c > d \" e ' f", ClipTextCleaner.htmlUnescape("a &amp; b &lt; c &gt; d &quot; e &#39; f"));
        assertEquals("\u00e9 \u00e9 \u2014", ClipTextCleaner.htmlUnescape("&#233; &#xE9; &mdash;"));
        assertEquals("&x &unknown; & ;", ClipTextCleaner.htmlUnescape("&ampx &unknown; & ;"));
        assertEquals("\uFFFD", ClipTextCleaner.htmlUnescape("&#0;"));
    }

    @Test
    void cleanCollapsesWhitespaceStripsAndLowercases() {
        assertEquals("a photo of a cat", ClipTextCleaner.clean("\t A\u00A0 PHOTO\r\n of  a Cat \u3000"));
        // ftfy unescapes once (only when there is no '<'), then CLIP twice more
        assertEquals("&amp;", ClipTextCleaner.clean("&amp;amp;amp;amp;"));
        assertEquals("<b> &amp;", ClipTextCleaner.clean("<b> &amp;amp;amp;"));
        assertEquals("", ClipTextCleaner.clean("   "));
    }

    @Test
    void ftfyDefaultsThatAreRedone() {
        assertEquals("it's \"fine\"", ClipTextCleaner.clean("It\u2019s \u201c\uFB01ne\u201d"));
        assertEquals("abc 123!", ClipTextCleaner.clean("\uFF21\uFF22\uFF23\u3000\uFF11\uFF12\uFF13\uFF01"));
        assertEquals("caf\u00e9", ClipTextCleaner.clean("cafe\u0301"));                 // NFC
        assertEquals("red", ClipTextCleaner.clean("\u001B[31mred\u001B[0m\u0000\uFEFF")); // escapes, controls, BOM
    }
}
