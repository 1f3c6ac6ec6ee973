package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The committed demo model uses all four kinds of attribute word: swapping one for another value
 * multiplies the noise-prediction loss (measured on 48 scenes at t = 700: colour x11.1, background x21.1,
 * shape x4.8, and x4.5 on the test's 16; position only where the layout is still open, t = 950: x10.6, and
 * x1.00 at t = 700, where the shape already shows through the noise). The model before the current one
 * ignored circle vs square (x1.00 for that swap) and had shape x3.0.
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
        assertTrue(r.shape() > 2.5, r.toString());
        WordProbe.Row noisiest = rows.get(rows.size() - 1);
        assertEquals(950, noisiest.t());
        assertTrue(noisiest.position() > 3.0, noisiest.toString());
        // the loss falls as t grows (less signal to recover, more of the noise is visible in x_t)
        assertTrue(rows.get(0).right() > rows.get(rows.size() - 1).right(), rows.toString());
    }
}
