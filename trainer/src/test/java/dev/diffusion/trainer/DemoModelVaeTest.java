package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.vae.AutoencoderKL;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The committed demo model's VAE, loaded as any diffusers VAE: its latent channel 0 reads the shape's
 * coverage for every shape colour on every background (trained so, see VaeTraining.MASK_SCALE), which a VAE
 * without that loss does not: there a shape's latent moves in a colour-dependent direction.
 */
class DemoModelVaeTest {

    @Test
    void latentChannelZeroIsHighOnTheShapeForEveryColourAndBackground() {
        try (ModelSource source = ModelSource.open(DemoModelAdherenceTest.demoModel().toString(), null);
             AutoencoderKL vae = source.vae(Precision.FP32, false, true)) {
            var config = vae.config();
            int l = 64 / config.downscale();
            int c = config.latentChannels();
            double trainedContrast = VaeTraining.MASK_SCALE * config.scalingFactor(); // inside minus outside, scaled
            for (Scene.Colour colour : Scene.Colour.values()) {
                for (Scene.Background bg : Scene.Background.values()) {
                    Scene s = Scene.of(Scene.Shape.SQUARE, colour, Scene.Position.CENTER, bg, new SplittableRandom(1), 64);
                    float[] pixels = new float[64 * 64 * 3];
                    Scene.toUnit(s.render(), pixels, 0);
                    float[] z = vae.encode(pixels, 1, 64, 64).mode(config.scalingFactor(), config.shiftFactor());
                    double inside = z[((l / 2) * l + l / 2) * c];
                    double outside = z[(1 * l + 1) * c];
                    String what = colour + " on " + bg + ": inside " + inside + ", outside " + outside;
                    assertTrue(inside - outside > 0.75 * trainedContrast, what);
                    assertTrue(inside - outside < 1.25 * trainedContrast, what);
                }
            }
        }
    }
}
