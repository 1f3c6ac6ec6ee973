package dev.diffusion.core.vae;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

class VaeConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** runwayml/stable-diffusion-v1-5 vae/config.json as diffusers writes it. */
    private static final String SD15_JSON = """
            {
              "_class_name": "AutoencoderKL",
              "_diffusers_version": "0.6.0",
              "act_fn": "silu",
              "block_out_channels": [128, 256, 512, 512],
              "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
              "in_channels": 3,
              "latent_channels": 4,
              "layers_per_block": 2,
              "norm_num_groups": 32,
              "out_channels": 3,
              "sample_size": 512,
              "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
            }
            """;

    @Test
    void sd15ConfigParsesToTheSd15Defaults() throws Exception {
        VaeConfig c = VaeConfig.fromJson(JSON.readTree(SD15_JSON));
        assertEquals(VaeConfig.sd15(), c);
        assertEquals(List.of(128, 256, 512, 512), c.blockOutChannels());
        assertEquals(0.18215, c.scalingFactor());
        assertEquals(1e-6, c.normEps());
        assertEquals(8, c.downscale());
        assertTrue(c.midBlockAttention() && c.useQuantConv() && c.usePostQuantConv());
    }

    @Test
    void readsNewerFields() throws Exception {
        VaeConfig c = VaeConfig.fromJson(JSON.readTree("""
                {"block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4, "latent_channels": 4,
                 "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
                 "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
                 "scaling_factor": 0.13025, "shift_factor": null, "mid_block_add_attention": false,
                 "use_quant_conv": false, "use_post_quant_conv": true}
                """));
        assertEquals(List.of(8, 16), c.blockOutChannels());
        assertEquals(2, c.downscale());
        assertEquals(0.13025, c.scalingFactor());
        assertEquals(0.0, c.shiftFactor());
        assertEquals(false, c.midBlockAttention());
        assertEquals(false, c.useQuantConv());
    }

    @Test
    void refusesWhatItCannotBuild() {
        assertThrows(IllegalArgumentException.class, () -> VaeConfig.fromJson(JSON.readTree("{\"act_fn\": \"gelu\"}")));
        assertThrows(IllegalArgumentException.class, () -> VaeConfig.fromJson(JSON.readTree(
                "{\"block_out_channels\": [8, 16], \"down_block_types\": [\"DownBlock2D\", \"DownEncoderBlock2D\"]}")));
        assertThrows(IllegalArgumentException.class, () -> VaeConfig.fromJson(JSON.readTree(
                "{\"block_out_channels\": [8, 16], \"up_block_types\": [\"UpDecoderBlock2D\"]}")));
        assertThrows(IllegalArgumentException.class, () -> VaeConfig.fromJson(JSON.readTree(
                "{\"block_out_channels\": [8, 12], \"norm_num_groups\": 8}")));
    }
}
