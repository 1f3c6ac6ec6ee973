package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import org.junit.jupiter.api.Test;

class MapWeightsTest {

    @Test
    void putAllCopiesEveryTensorAndReplacesThoseOfTheSameKey() {
        MapWeights from = new MapWeights().put("a", new long[] {2}, new float[] {1, 2}).put("b", new long[] {1, 1}, new float[] {3});
        MapWeights into = new MapWeights().put("a", new long[] {1}, new float[] {9}).put("c", new long[] {1}, new float[] {4});
        into.putAll(from);
        assertEquals(Set.of("a", "b", "c"), into.keys());
        assertArrayEquals(new float[] {1, 2}, into.floats("a"));
        assertArrayEquals(new long[] {2}, into.info("a").shape());
        assertArrayEquals(new long[] {1, 1}, into.info("b").shape());
        assertArrayEquals(new float[] {4}, into.floats("c"));
    }
}
