package dev.diffusion.core.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Streaming a tensor chunk by chunk gives exactly the values of reading it whole, in every dtype and through views. */
class ReadChunksTest {
    @Test
    void chunkedReadEqualsWholeRead(@TempDir Path dir) {
        int n = 200_003; // several 65,536-value chunks and a ragged tail
        float[] values = new float[n];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < n; i++) {
            values[i] = (float) (r.nextDouble() * 8 - 4);
        }
        MapWeights source = new MapWeights().put("m.w", new long[] {n}, values);
        for (TensorDtype dtype : new TensorDtype[] {TensorDtype.F32, TensorDtype.F16, TensorDtype.BF16}) {
            Path file = dir.resolve("t-" + dtype + ".safetensors");
            SafeTensorsWriter.write(file, source, dtype, Map.of());
            try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
                float[] whole = f.floats("m.w");
                float[] streamed = new float[n];
                int[] at = {0};
                int[] calls = {0};
                f.prefixed("m.").readChunks("w", (chunk, len) -> {
                    System.arraycopy(chunk, 0, streamed, at[0], len);
                    at[0] += len;
                    calls[0]++;
                });
                assertArrayEquals(whole, streamed, dtype.name());
                assertTrue(calls[0] >= 4, "expected several chunks, got " + calls[0]);
            }
        }
    }
}
