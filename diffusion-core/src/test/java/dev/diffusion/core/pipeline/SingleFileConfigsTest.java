package dev.diffusion.core.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.diffusion.core.clip.ClipTextConfig;
import dev.diffusion.core.testing.Fixtures;
import dev.diffusion.core.unet.UNetConfig;
import dev.diffusion.core.vae.VaeConfig;
import dev.diffusion.core.weights.StableDiffusionModel;
import org.junit.jupiter.api.Test;

/** The configs read off a real SD 1.5 single file are exactly the SD 1.x configs. */
class SingleFileConfigsTest {
    @Test
    void sd15CheckpointShapesGiveTheSd15Configs() {
        try (StableDiffusionModel m = StableDiffusionModel.open(Fixtures.sd15Checkpoint())) {
            assertEquals(ClipTextConfig.sd15(), ClipTextConfig.fromJson(SingleFileConfigs.textEncoder(m.textEncoder())));
            assertEquals(UNetConfig.sd15(), UNetConfig.fromJson(SingleFileConfigs.unet(m.unet())));
            assertEquals(VaeConfig.sd15(), VaeConfig.fromJson(SingleFileConfigs.vae(m.vae())));
        }
    }
}
