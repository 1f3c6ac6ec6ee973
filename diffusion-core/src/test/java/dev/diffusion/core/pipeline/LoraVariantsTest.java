package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The cache of merged variants: while one set is being built (a model load), calls for the base and for cached sets
 * go on; calls for the set being built wait for that one build; the least recently used set is evicted and closed
 * once its last call is done; a failed build is not cached.
 */
class LoraVariantsTest {
    static final class Net implements AutoCloseable {
        final String name;
        volatile boolean closed;

        Net(String name) {
            this.name = name;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private static List<LoraRef> set(String name, double w) {
        return List.of(new LoraRef(name, w));
    }

    @Test
    void aBuildStallsOnlyTheCallsThatWaitForItsSet() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger builds = new AtomicInteger();
        Net base = new Net("base");
        LoraVariants<Net> v = new LoraVariants<>(base, loras -> {
            builds.incrementAndGet();
            if (loras.get(0).name().equals("slow")) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            return new Net(loras.get(0).name());
        }, 2);
        v.prepare(set("fast", 1));
        CompletableFuture<String> slow = CompletableFuture.supplyAsync(() -> {
            try (var lease = v.acquire(set("slow", 1))) {
                return lease.network().name;
            }
        });
        CompletableFuture<String> slowToo = CompletableFuture.supplyAsync(() -> {
            try (var lease = v.acquire(set("slow", 1))) {
                return lease.network().name;
            }
        });
        Thread.sleep(200);
        assertFalse(slow.isDone());
        // meanwhile: the base and the cached set answer at once
        CompletableFuture<String> other = CompletableFuture.supplyAsync(() -> {
            try (var a = v.acquire(List.of()); var b = v.acquire(set("fast", 1))) {
                return a.network().name + "+" + b.network().name;
            }
        });
        assertEquals("base+fast", other.get(5, TimeUnit.SECONDS));
        assertFalse(slowToo.isDone());
        release.countDown();
        assertEquals("slow", slow.get(5, TimeUnit.SECONDS));
        assertEquals("slow", slowToo.get(5, TimeUnit.SECONDS));
        assertEquals(2, builds.get()); // fast once, slow once (the second caller waited for the first's build)
        // weight 0 is the base; the same set in another order is the same variant
        try (var lease = v.acquire(set("slow", 0))) {
            assertSame(base, lease.network());
        }
    }

    @Test
    void theLeastRecentlyUsedSetIsClosedWhenItsLastCallEnds() {
        List<Net> made = new ArrayList<>();
        LoraVariants<Net> v = new LoraVariants<>(new Net("base"), loras -> {
            Net n = new Net(loras.get(0).name());
            made.add(n);
            return n;
        }, 1);
        var held = v.acquire(set("a", 1));
        v.prepare(set("b", 1)); // evicts a, still in use
        assertFalse(made.get(0).closed);
        held.close();
        assertTrue(made.get(0).closed);
        assertEquals(List.of(set("b", 1)), v.cachedSets());
        assertThrows(IllegalArgumentException.class, () -> new LoraVariants<>(new Net("x"), l -> {
            throw new IllegalArgumentException("loras: no LoRA named " + l.get(0).name());
        }, 1).acquire(set("zz", 1)));
    }

    @Test
    void aFailedBuildIsNotCached() {
        AtomicInteger tries = new AtomicInteger();
        LoraVariants<Net> v = new LoraVariants<>(new Net("base"), l -> {
            if (tries.incrementAndGet() == 1) {
                throw new IllegalArgumentException("loras: broken");
            }
            return new Net("ok");
        }, 1);
        assertThrows(IllegalArgumentException.class, () -> v.prepare(set("a", 1)));
        assertEquals(List.of(), v.cachedSets());
        try (var lease = v.acquire(set("a", 1))) {
            assertEquals("ok", lease.network().name);
        }
    }
}
