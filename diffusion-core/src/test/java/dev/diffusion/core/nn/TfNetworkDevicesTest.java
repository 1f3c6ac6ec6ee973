package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.clip.ClipTextConfig;
import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.testing.TestWeights;
import dev.diffusion.core.weights.MapWeights;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Where TensorFlow placed a loaded network, read from the traced weight-loading runs (the services log it). */
class TfNetworkDevicesTest {
    @Test
    void aNetworkLoadedOnThisGpuLessMachineSitsOnTheFirstCpu() {
        ClipTextConfig tiny = new ClipTextConfig(64, 8, 16, 1, 2, 77, "quick_gelu", 1e-5);
        MapWeights weights = TestWeights.random(3, 0.2,
                nn -> ClipTextModel.build(nn, tiny, TestWeights.tokenIds(nn, tiny.maxPositionEmbeddings())));
        try (ClipTextModel model = new ClipTextModel(weights, tiny, Precision.FP32)) {
            // CI and the development machines have no GPU; with one, TensorFlow would say /device:GPU:0
            assertEquals(List.of("/device:CPU:0"), model.devices());
            assertTrue(TfNetwork.processDevices().contains("/device:CPU:0"), TfNetwork.processDevices().toString());
        }
    }
}
