package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.vae.AutoencoderKL;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The committed demo model's VAE, loaded as any diffusers VAE: its latent channel 0 reads the shape's
 * coverage times the shape's gain (circle 0.5, triangle 1, square 1.5) for every shape colour on every
 * background (trained so, see VaeTraining.MASK_SCALE and shapeGain), which a VAE without that loss does not:
 * there a shape's latent moves in a colour-dependent direction, and a circle and a square differ only at
 * their corners.
 */
class DemoModelVaeTest {

    @Test
    void latentChannelZeroReadsCoverageTimesTheShapesGainForEveryColourAndBackground() {
        try (ModelSource source = ModelSource.open(DemoModelAdherenceTest.demoModel().toString(), null);
             AutoencoderKL vae = source.vae(Precision.FP32, false, true)) {
            var config = vae.config();
            int l = 64 / config.downscale();
            int c = config.latentChannels();
            for (Scene.Shape shape : Scene.Shape.values()) {
                // inside minus outside, scaled, for a block the shape covers whole
                double trainedContrast = VaeTraining.MASK_SCALE * VaeTraining.shapeGain(shape) * config.scalingFactor();
                for (Scene.Colour colour : Scene.Colour.values()) {
                    for (Scene.Background bg : Scene.Background.values()) {
                        Scene s = new Scene(shape, colour, Scene.Position.CENTER, bg, 32, 32, 12, 64);
                        float[] pixels = new float[64 * 64 * 3];
                        Scene.toUnit(s.render(), pixels, 0);
                        float[] z = vae.encode(pixels, 1, 64, 64).mode(config.scalingFactor(), config.shiftFactor());
                        double inside = z[((l / 2) * l + l / 2) * c]; // block (8, 8): pixels 32..35, inside all three
                        double outside = z[(1 * l + 1) * c];
                        String what = colour + " " + shape + " on " + bg + ": inside " + inside + ", outside " + outside
                                + ", trained contrast " + trainedContrast;
                        assertTrue(inside - outside > 0.75 * trainedContrast, what);
                        assertTrue(inside - outside < 1.25 * trainedContrast, what);
                    }
                }
            }
        }
    }
}
