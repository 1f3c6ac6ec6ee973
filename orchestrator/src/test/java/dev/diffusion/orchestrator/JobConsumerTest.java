package dev.diffusion.orchestrator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.junit.jupiter.api.Test;

/** The commit metadata that tells a partition's next owner which jobs above the committed offset are finished. */
class JobConsumerTest {
    @Test
    void finishedOffsetsRoundTripThroughTheCommitMetadata() {
        // committed position 1000 (the oldest unfinished job); 1001, 1002, 1040 and 2295 finished
        String m = JobConsumer.metadata(1000, List.of(1001L, 1002L, 1040L, 2295L));
        assertEquals("done1:1,2,14,zz", m); // distances in base 36: 1, 2, 40 = "14", 1295 = "zz"
        assertEquals(new TreeSet<>(List.of(1001L, 1002L, 1040L, 2295L)), JobConsumer.finishedOffsets(new OffsetAndMetadata(1000, m)));
        assertEquals(new TreeSet<>(), JobConsumer.finishedOffsets(new OffsetAndMetadata(7, JobConsumer.metadata(7, List.of()))));
        // a commit by something else (no metadata, other metadata) lists nothing
        assertEquals(new TreeSet<>(), JobConsumer.finishedOffsets(new OffsetAndMetadata(7)));
        assertEquals(new TreeSet<>(), JobConsumer.finishedOffsets(new OffsetAndMetadata(7, "hello")));
        assertEquals(new TreeSet<>(), JobConsumer.finishedOffsets(null));
    }

    @Test
    void metadataStaysWithinTheBrokersLimit() {
        TreeSet<Long> many = new TreeSet<>();
        for (long o = 1; o <= 5000; o++) {
            many.add(o * 1000);
        }
        String m = JobConsumer.metadata(0, many);
        assertTrue(m.length() <= 4096, m.length() + " chars");
        TreeSet<Long> back = JobConsumer.finishedOffsets(new OffsetAndMetadata(0, m));
        assertFalse(back.isEmpty());
        assertEquals(many.headSet(back.last(), true), back); // a prefix: the oldest finished are listed first
    }

    @Test
    void longHashSetHoldsWhatWasAdded() {
        LongHashSet set = new LongHashSet();
        Random r = new Random(1);
        TreeSet<Long> want = new TreeSet<>();
        for (int i = 0; i < 50_000; i++) {
            long v = r.nextLong();
            want.add(v);
            set.add(v);
        }
        set.add(0);
        assertEquals(want.size() + 1, set.size());
        for (long v : want) {
            assertTrue(set.contains(v));
        }
        assertTrue(set.contains(0));
        Random other = new Random(2);
        for (int i = 0; i < 50_000; i++) {
            long v = other.nextLong();
            assertEquals(want.contains(v), set.contains(v));
        }
        assertFalse(set.add(want.first()));
    }
}
