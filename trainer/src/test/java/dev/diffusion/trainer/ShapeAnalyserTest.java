package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The analyser names every attribute of drawn (not generated) scenes, for every combination, at the size extremes. */
class ShapeAnalyserTest {

    @Test
    void namesEveryAttributeOfEveryDrawnCombination() {
        SplittableRandom rng = new SplittableRandom(7);
        List<String> wrong = new ArrayList<>();
        int checked = 0;
        for (Scene.Shape shape : Scene.Shape.values()) {
            for (Scene.Colour colour : Scene.Colour.values()) {
                for (Scene.Position position : Scene.Position.values()) {
                    for (Scene.Background bg : Scene.Background.values()) {
                        for (int k = 0; k < 3; k++) {
                            Scene s = Scene.of(shape, colour, position, bg, rng, 64);
                            if (k < 2) { // the smallest and the largest size, with jitter
                                double half = k == 0 ? Scene.MIN_HALF : Scene.MAX_HALF;
                                s = new Scene(shape, colour, position, bg, s.centerX(), s.centerY(), half, 64);
                            }
                            ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(s.render(), 64, 64);
                            checked++;
                            if (!a.matches(shape, colour, position, bg)) {
                                wrong.add(s + " (half " + s.halfExtent() + ") seen as " + a);
                            }
                        }
                    }
                }
            }
        }
        assertEquals(810, checked);
        assertTrue(wrong.isEmpty(), wrong.size() + " wrong:\n" + String.join("\n", wrong));
    }

    @Test
    void fillRatiosAreTheGeometricOnes() {
        SplittableRandom rng = new SplittableRandom(1);
        Scene circle = Scene.of(Scene.Shape.CIRCLE, Scene.Colour.RED, Scene.Position.CENTER, Scene.Background.WHITE, rng, 64);
        Scene square = Scene.of(Scene.Shape.SQUARE, Scene.Colour.RED, Scene.Position.CENTER, Scene.Background.WHITE, rng, 64);
        Scene triangle = Scene.of(Scene.Shape.TRIANGLE, Scene.Colour.RED, Scene.Position.CENTER, Scene.Background.WHITE, rng, 64);
        assertEquals(Math.PI / 4, ShapeAnalyser.analyse(circle.render(), 64, 64).fill(), 0.06);
        assertEquals(1.0, ShapeAnalyser.analyse(square.render(), 64, 64).fill(), 0.08);
        assertEquals(0.5, ShapeAnalyser.analyse(triangle.render(), 64, 64).fill(), 0.06);
    }
}
