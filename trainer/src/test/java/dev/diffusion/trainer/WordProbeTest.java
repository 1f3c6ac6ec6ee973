package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The committed demo model uses all four kinds of attribute word: swapping one for another value
 * multiplies the noise-prediction loss (measured on 48 scenes at t = 700: colour x6.1, background x27.7,
 * shape x3.0; position only where the layout is still open, t = 950: x2.85, and x1.00 at t = 700, where
 * the shape already shows through the noise).
 */
class WordProbeTest {

    @Test
    void swappingAnAttributeWordRaisesTheLossOfTheCommittedModel() {
        String model = DemoModelAdherenceTest.demoModel().toString();
        List<WordProbe.Row> rows = WordProbe.run(model, 16, 2024);
        assertEquals(WordProbe.TIMESTEPS.length, rows.size());
        WordProbe.Row r = rows.stream().filter(row -> row.t() == 700).findFirst().orElseThrow();
        System.out.println("probe: " + r);
        assertTrue(r.colour() > 1.5, r.toString());
        assertTrue(r.background() > 3.0, r.toString());
        assertTrue(r.shape() > 1.5, r.toString());
        WordProbe.Row noisiest = rows.get(rows.size() - 1);
        assertEquals(950, noisiest.t());
        assertTrue(noisiest.position() > 1.5, noisiest.toString());
        // the loss falls as t grows (less signal to recover, more of the noise is visible in x_t)
        assertTrue(rows.get(0).right() > rows.get(rows.size() - 1).right(), rows.toString());
    }
}
