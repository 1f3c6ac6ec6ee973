package dev.diffusion.textencoder;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The text encoder's outputs by (model, prompt, clip skip, LoRA set), least recently used first out, within a byte budget
 * ({@code diffusion.text-encoder.cache-bytes}). Repeated prompts — and the empty negative prompt nearly every job
 * shares — are encoded once. Each prompt is encoded alone (batch 1), so a cached result is bit-identical to a fresh
 * one (a batch's composition changes float rounding).
 *
 * <p>Metrics: {@code diffusion_embedding_cache_requests_total{result="hit"|"miss"}},
 * {@code diffusion_embedding_cache_hit_ratio} (since start), {@code diffusion_embedding_cache_bytes},
 * {@code diffusion_embedding_cache_entries}.
 */
final class PromptEmbeddingCache {
    /**
     * A prompt as typed (its {@code <lora:...>} tags included), the clip skip, the comma backtracking (it moves tokens
     * between chunks) and the call's normalised LoRA set.
     */
    record Key(String model, String prompt, int clipSkip, int commaBacktrack,
               java.util.List<dev.diffusion.core.pipeline.LoraRef> loras) {
    }

    /** One prompt's hidden states [77 × chunks, hidden], its token count and chunk count. */
    record Entry(float[] hidden, int tokenCount, int chunks) {
        long bytes(Key key) {
            // the floats, the prompt's characters, and ~100 bytes of object headers and map links (+ ~50 per LoRA)
            return 4L * hidden.length + 2L * key.prompt().length() + 100 + 50L * key.loras().size();
        }
    }

    private final long budgetBytes;
    private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
    private final Counter hits;
    private final Counter misses;
    private long bytes;

    PromptEmbeddingCache(long budgetBytes, MeterRegistry registry) {
        this.budgetBytes = budgetBytes;
        hits = Counter.builder("diffusion.embedding.cache.requests").tag("result", "hit")
                .description("prompt encodings asked of the cache").register(registry);
        misses = Counter.builder("diffusion.embedding.cache.requests").tag("result", "miss")
                .description("prompt encodings asked of the cache").register(registry);
        Gauge.builder("diffusion.embedding.cache.hit.ratio", this, PromptEmbeddingCache::hitRatio)
                .description("share of prompt encodings served from the cache since start").register(registry);
        Gauge.builder("diffusion.embedding.cache.bytes", this, c -> c.sizeBytes()).baseUnit("bytes")
                .description("bytes the cached prompt encodings hold").register(registry);
        Gauge.builder("diffusion.embedding.cache.entries", this, c -> c.size())
                .description("prompt encodings cached").register(registry);
    }

    /** The cached entry, else {@code encode}'s (cached when it fits the budget). */
    Entry get(Key key, Supplier<Entry> encode) {
        synchronized (this) {
            Entry e = entries.get(key);
            if (e != null) {
                hits.increment();
                return e;
            }
        }
        misses.increment();
        Entry fresh = encode.get(); // outside the lock: two callers may encode one prompt at once, both get equal results
        long size = fresh.bytes(key);
        if (size > budgetBytes) {
            return fresh;
        }
        synchronized (this) {
            Entry old = entries.put(key, fresh);
            bytes += size - (old == null ? 0 : old.bytes(key));
            for (Iterator<Map.Entry<Key, Entry>> it = entries.entrySet().iterator(); bytes > budgetBytes && it.hasNext(); ) {
                Map.Entry<Key, Entry> eldest = it.next();
                bytes -= eldest.getValue().bytes(eldest.getKey());
                it.remove();
            }
        }
        return fresh;
    }

    synchronized long sizeBytes() {
        return bytes;
    }

    synchronized int size() {
        return entries.size();
    }

    double hitRatio() {
        double h = hits.count();
        double total = h + misses.count();
        return total == 0 ? 0 : h / total;
    }
}
