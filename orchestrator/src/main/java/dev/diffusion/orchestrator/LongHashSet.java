package dev.diffusion.orchestrator;

import java.util.Arrays;

/** A set of longs in one open-addressing array (8 bytes an element at most 2x over): the job store's finished ids. */
final class LongHashSet {
    private static final long EMPTY = 0;
    private long[] slots = new long[1024];
    private int size;
    private boolean hasZero;

    boolean add(long v) {
        if (v == EMPTY) {
            boolean added = !hasZero;
            hasZero = true;
            return added;
        }
        if ((size + 1) * 2 > slots.length) {
            grow();
        }
        int i = index(v, slots.length);
        while (slots[i] != EMPTY) {
            if (slots[i] == v) {
                return false;
            }
            i = (i + 1) & (slots.length - 1);
        }
        slots[i] = v;
        size++;
        return true;
    }

    boolean contains(long v) {
        if (v == EMPTY) {
            return hasZero;
        }
        int i = index(v, slots.length);
        while (slots[i] != EMPTY) {
            if (slots[i] == v) {
                return true;
            }
            i = (i + 1) & (slots.length - 1);
        }
        return false;
    }

    int size() {
        return size + (hasZero ? 1 : 0);
    }

    private static int index(long v, int length) {
        long h = v * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32)) & (length - 1);
    }

    private void grow() {
        long[] old = slots;
        slots = new long[old.length * 2];
        Arrays.fill(slots, EMPTY);
        size = 0;
        for (long v : old) {
            if (v != EMPTY) {
                add(v);
            }
        }
    }
}
