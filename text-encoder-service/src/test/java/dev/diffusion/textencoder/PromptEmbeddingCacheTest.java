package dev.diffusion.textencoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class PromptEmbeddingCacheTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final AtomicInteger encoded = new AtomicInteger();

    /** An entry of 1,000 floats: 4,000 bytes + 2 per prompt character + 100. */
    private PromptEmbeddingCache.Entry encode(String prompt) {
        encoded.incrementAndGet();
        return new PromptEmbeddingCache.Entry(new float[1000], prompt.length(), 1);
    }

    private PromptEmbeddingCache.Entry get(PromptEmbeddingCache cache, String prompt, int clipSkip) {
        return cache.get(new PromptEmbeddingCache.Key("m", prompt, clipSkip, 0, java.util.List.of()), () -> encode(prompt));
    }

    @Test
    void aRepeatedPromptIsEncodedOnceAndClipSkipAndModelAreOtherEntries() {
        PromptEmbeddingCache cache = new PromptEmbeddingCache(1 << 20, registry);
        PromptEmbeddingCache.Entry first = get(cache, "", 1);
        assertSame(first, get(cache, "", 1));
        get(cache, "", 2);
        cache.get(new PromptEmbeddingCache.Key("other model", "", 1, 0, java.util.List.of()), () -> encode(""));
        assertEquals(3, encoded.get());
        assertEquals(1.0 / 4, cache.hitRatio(), 1e-12);
        assertEquals(1.0, registry.get("diffusion.embedding.cache.requests").tag("result", "hit").counter().count());
        assertEquals(3.0, registry.get("diffusion.embedding.cache.requests").tag("result", "miss").counter().count());
        assertEquals(3 * 4100.0, registry.get("diffusion.embedding.cache.bytes").gauge().value());
    }

    @Test
    void theBudgetEvictsTheLeastRecentlyUsed() {
        // room for two entries of 4,102 bytes (prompt "a"), not three
        PromptEmbeddingCache cache = new PromptEmbeddingCache(2 * 4102 + 100, registry);
        get(cache, "a", 1);
        get(cache, "b", 1);
        get(cache, "a", 1); // "a" is now the most recently used
        get(cache, "c", 1); // evicts "b"
        assertEquals(2, cache.size());
        assertEquals(2 * 4102, cache.sizeBytes());
        int before = encoded.get();
        get(cache, "a", 1);
        get(cache, "c", 1);
        assertEquals(before, encoded.get(), "a and c stayed");
        get(cache, "b", 1);
        assertEquals(before + 1, encoded.get(), "b was evicted");
    }

    @Test
    void anEntryLargerThanTheBudgetIsReturnedButNotKept() {
        PromptEmbeddingCache cache = new PromptEmbeddingCache(1000, registry);
        get(cache, "x", 1);
        get(cache, "x", 1);
        assertEquals(2, encoded.get());
        assertEquals(0, cache.size());
        assertEquals(0, cache.sizeBytes());
    }
}
