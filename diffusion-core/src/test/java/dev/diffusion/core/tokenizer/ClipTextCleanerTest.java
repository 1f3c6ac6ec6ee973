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
        assertEquals("&amp;", ClipTextCleaner.clean("&amp;amp;amp;")); // unescaped exactly twice
        assertEquals("", ClipTextCleaner.clean("   "));
    }
}
