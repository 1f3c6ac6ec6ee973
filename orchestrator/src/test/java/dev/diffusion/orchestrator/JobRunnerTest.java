package dev.diffusion.orchestrator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.diffusion.proto.v1.Completed;
import dev.diffusion.proto.v1.GeneratedImage;
import dev.diffusion.proto.v1.JobEvent;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** A result must fit one event of the events topic: locations only when the files were written, else FAILED saying why. */
class JobRunnerTest {
    private static JobEvent completed(boolean located) {
        Completed.Builder c = Completed.newBuilder();
        for (int i = 0; i < 2; i++) {
            GeneratedImage.Builder img = GeneratedImage.newBuilder().setIndex(i).setPng(ByteString.copyFrom(new byte[1000]));
            if (located) {
                img.setLocation("/images/j-" + i + ".png");
            }
            c.addImages(img);
        }
        return JobRunner.event("j", JobEvent.Type.COMPLETED).setCompleted(c).build();
    }

    private static JobRunner runner(long maxEventBytes) {
        return new JobRunner(null, ModelSpec.open("tiny-random"), Optional.empty(), new SimpleMeterRegistry(), maxEventBytes);
    }

    @Test
    void aResultThatFitsIsLeftAsItIs() {
        JobEvent e = completed(false);
        assertTrue(e.getSerializedSize() > 2000 && e.getSerializedSize() < 2100, e.getSerializedSize() + " bytes");
        assertSame(e, runner(2100).fitted(e));
    }

    @Test
    void aResultTooLargeCarriesTheLocationsOnly() {
        JobEvent fitted = runner(1500).fitted(completed(true));
        assertEquals(JobEvent.Type.COMPLETED, fitted.getType());
        assertEquals(2, fitted.getCompleted().getImagesCount());
        for (GeneratedImage i : fitted.getCompleted().getImagesList()) {
            assertTrue(i.getPng().isEmpty());
            assertEquals("/images/j-" + i.getIndex() + ".png", i.getLocation());
        }
    }

    @Test
    void aResultTooLargeWithoutAnOutputDirFailsSayingWhy() {
        JobEvent fitted = runner(1500).fitted(completed(false));
        assertEquals(JobEvent.Type.FAILED, fitted.getType());
        assertEquals("RESOURCE_EXHAUSTED", fitted.getFailed().getCode());
        assertEquals("batch_count", fitted.getFailed().getField());
        assertTrue(fitted.getFailed().getReason().contains("max.message.bytes allows 1500"), fitted.getFailed().getReason());
        assertTrue(fitted.getFailed().getReason().contains("diffusion.jobs.output-dir"), fitted.getFailed().getReason());
    }
}
