package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The recipe's two stages, as {@code ./sd train} runs them, and the options it refuses without a stage. */
class TrainCommandTest {

    @Test
    void stageTwoContinuesStageOnesFolderAtHalfTheRateAndThenTrainsTheDecoder() {
        DemoModelTrainer.Options one = DemoModelTrainer.Options.demo();
        DemoModelTrainer.Options two = DemoModelTrainer.Options.stage2(Path.of("x-stage1")).withSeed(one.seed());
        assertEquals(Path.of("x-stage1"), two.vaeFrom());
        assertEquals(Path.of("x-stage1"), two.unetFrom());
        assertEquals(one.unetLearningRate() / 2, two.unetLearningRate(), 1e-9);
        assertEquals(0.3, two.highTShare());
        assertEquals(DiffusionTraining.HIGH_T_SHARE, one.highTShare());
        assertEquals(0, one.decoderSteps());
        assertEquals(3000, two.decoderSteps());
        assertEquals(11000, two.unetSteps());
        assertEquals(32768, two.datasetSize());
        assertEquals(7L, two.withSeed(7).seed());
        // stage 1 and stage 2 (its decoder phase after its limit, ~0.27 s a step here) stay within 150 minutes
        double decoderSeconds = two.decoderSteps() * 0.27;
        assertTrue(one.maxSeconds() + two.maxSeconds() + decoderSeconds <= 150 * 60,
                "time limits " + one.maxSeconds() + " + " + two.maxSeconds() + " + " + decoderSeconds);
    }

    @Test
    void theWholeRecipeRefusesOptionsOfOneStage() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainCommand.main(new String[] {"--unet-steps", "3"}));
        assertTrue(e.getMessage().contains("--stage 1 or --stage 2") && e.getMessage().contains("--unet-steps"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TrainCommand.main(new String[] {"--stage", "3"}));
    }
}
