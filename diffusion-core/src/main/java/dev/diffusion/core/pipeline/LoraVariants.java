package dev.diffusion.core.pipeline;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * A service's network with LoRAs merged in, per LoRA set: the base network, and at most {@code maxVariants} merged
 * copies, least recently used first out. A set not cached is built by the first call that asks for it (the model
 * re-read, the LoRAs merged in); calls for the same set wait for that build, calls for the base or for any other
 * cached set run meanwhile — a job that changes LoRA never stalls those that don't. An evicted copy is closed
 * when its last call returns.
 *
 * <p>Why merged copies and not the low-rank update at run time: see the README ("LoRA and prompt syntax").
 */
public final class LoraVariants<N extends AutoCloseable> implements AutoCloseable {
    /** Builds the network with a LoRA set merged in (throws for an unknown LoRA, a wrong architecture, ...). */
    @FunctionalInterface
    public interface Builder<N> {
        N build(List<LoraRef> loras);
    }

    /** A network held for one call: close it when the call is done. */
    public final class Lease implements AutoCloseable {
        private final Entry entry;
        private final N network;
        private boolean closed;

        private Lease(Entry entry, N network) {
            this.entry = entry;
            this.network = network;
        }

        public N network() {
            return network;
        }

        @Override
        public void close() {
            if (entry == null || closed) {
                return;
            }
            closed = true;
            release(entry);
        }
    }

    private final class Entry {
        final CompletableFuture<N> network = new CompletableFuture<>();
        int inUse;
        boolean evicted;
    }

    private final N base;
    private final Builder<N> builder;
    private final int maxVariants;
    private final LinkedHashMap<List<LoraRef>, Entry> cache = new LinkedHashMap<>(16, 0.75f, true);
    private long builds;

    public LoraVariants(N base, Builder<N> builder, int maxVariants) {
        if (maxVariants < 0) {
            throw new IllegalArgumentException("maxVariants must be >= 0, got " + maxVariants);
        }
        this.base = base;
        this.builder = builder;
        this.maxVariants = maxVariants;
    }

    /** The set as a cache key: weight-0 LoRAs dropped (they change nothing), the rest sorted by name. */
    public static List<LoraRef> key(List<LoraRef> loras) {
        List<LoraRef> out = new ArrayList<>();
        for (LoraRef l : LoraRef.merge(loras)) {
            if (l.weight() != 0) {
                out.add(l);
            }
        }
        out.sort(Comparator.comparing(LoraRef::name));
        return List.copyOf(out);
    }

    /**
     * Builds (or touches) the variant of {@code loras} without holding it: services call this before they take a
     * compute slot, so that the build — a model load — never holds a slot other jobs' calls wait for.
     */
    public void prepare(List<LoraRef> loras) {
        acquire(loras).close();
    }

    /** The network for {@code loras} (the base for none), built now if it is not cached. */
    public Lease acquire(List<LoraRef> loras) {
        List<LoraRef> key = key(loras);
        if (key.isEmpty()) {
            return new Lease(null, base);
        }
        if (maxVariants == 0) {
            throw new IllegalArgumentException("loras: this service keeps no LoRA variants (diffusion.lora.max-variants = 0)");
        }
        Entry entry;
        boolean mine = false;
        synchronized (this) {
            entry = cache.get(key);
            if (entry == null) {
                entry = new Entry();
                cache.put(key, entry);
                mine = true;
                evictBeyondLimit();
            }
            entry.inUse++;
        }
        if (mine) {
            try {
                entry.network.complete(builder.build(key));
                synchronized (this) {
                    builds++;
                }
            } catch (RuntimeException | Error e) {
                synchronized (this) {
                    cache.remove(key, entry);
                }
                entry.network.completeExceptionally(e);
            }
        }
        try {
            return new Lease(entry, entry.network.get());
        } catch (ExecutionException e) {
            release(entry);
            Throwable cause = e.getCause();
            throw cause instanceof RuntimeException r ? r : new IllegalStateException(cause);
        } catch (InterruptedException e) {
            release(entry);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while a LoRA variant was built", e);
        }
    }

    private void evictBeyondLimit() {
        Iterator<Map.Entry<List<LoraRef>, Entry>> it = cache.entrySet().iterator();
        while (cache.size() > maxVariants && it.hasNext()) {
            Entry oldest = it.next().getValue();
            it.remove();
            oldest.evicted = true;
            if (oldest.inUse == 0) {
                closeLater(oldest);
            }
        }
    }

    private void release(Entry entry) {
        boolean close;
        synchronized (this) {
            entry.inUse--;
            close = entry.evicted && entry.inUse == 0;
        }
        if (close) {
            closeLater(entry);
        }
    }

    private void closeLater(Entry entry) {
        entry.network.thenAccept(n -> {
            try {
                n.close();
            } catch (Exception e) {
                // closing a TensorFlow session does not fail in practice; nothing to do for an evicted copy
            }
        });
    }

    /** The LoRA sets cached now, least recently used first. */
    public synchronized List<List<LoraRef>> cachedSets() {
        return List.copyOf(cache.keySet());
    }

    /** Variants built so far (a measure of switching). */
    public synchronized long builds() {
        return builds;
    }

    public N base() {
        return base;
    }

    @Override
    public synchronized void close() throws Exception {
        for (Entry e : cache.values()) {
            e.evicted = true;
            if (e.inUse == 0) {
                closeLater(e);
            }
        }
        cache.clear();
        base.close();
    }
}
