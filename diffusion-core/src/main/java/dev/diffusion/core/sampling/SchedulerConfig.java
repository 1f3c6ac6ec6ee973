package dev.diffusion.core.sampling;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The training noise schedule and diffusers scheduler options, as in a diffusers
 * {@code scheduler/scheduler_config.json}; {@link #sd15()} holds the Stable Diffusion 1.x values.
 */
public record SchedulerConfig(
        double betaStart,
        double betaEnd,
        BetaSchedule betaSchedule,
        int numTrainTimesteps,
        PredictionType predictionType,
        TimestepSpacing timestepSpacing,
        int stepsOffset,
        boolean setAlphaToOne) {

    public SchedulerConfig {
        if (numTrainTimesteps < 2) {
            throw new IllegalArgumentException("num_train_timesteps must be >= 2, got " + numTrainTimesteps);
        }
        if (!(betaStart > 0) || !(betaEnd > 0) || betaStart >= 1 || betaEnd >= 1) {
            throw new IllegalArgumentException("betas must be in (0, 1): " + betaStart + ", " + betaEnd);
        }
        if (stepsOffset < 0) {
            throw new IllegalArgumentException("steps_offset must be >= 0, got " + stepsOffset);
        }
    }

    /** Stable Diffusion 1.x (as its scheduler_config.json for PNDM/DDIM says). */
    public static SchedulerConfig sd15() {
        return new SchedulerConfig(0.00085, 0.012, BetaSchedule.SCALED_LINEAR, 1000, PredictionType.EPSILON,
                TimestepSpacing.LEADING, 1, false);
    }

    /** Fields present in {@code json} override the SD 1.x defaults; others (class name, clip_sample...) are ignored. */
    public static SchedulerConfig fromJson(JsonNode json) {
        SchedulerConfig d = sd15();
        return new SchedulerConfig(
                json.path("beta_start").asDouble(d.betaStart),
                json.path("beta_end").asDouble(d.betaEnd),
                json.hasNonNull("beta_schedule") ? BetaSchedule.parse(json.get("beta_schedule").asText())
                        : d.betaSchedule,
                json.path("num_train_timesteps").asInt(d.numTrainTimesteps),
                json.hasNonNull("prediction_type") ? PredictionType.parse(json.get("prediction_type").asText())
                        : d.predictionType,
                json.hasNonNull("timestep_spacing") ? TimestepSpacing.parse(json.get("timestep_spacing").asText())
                        : d.timestepSpacing,
                json.path("steps_offset").asInt(d.stepsOffset),
                json.path("set_alpha_to_one").asBoolean(d.setAlphaToOne));
    }

    /** {@code modelDir/scheduler/scheduler_config.json} when present, else {@link #sd15()}. */
    public static SchedulerConfig forModelDirectory(Path modelDir) {
        Path file = modelDir.resolve("scheduler").resolve("scheduler_config.json");
        if (!Files.isRegularFile(file)) {
            return sd15();
        }
        try {
            return fromJson(new ObjectMapper().readTree(file.toFile()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    public SchedulerConfig withPredictionType(PredictionType type) {
        return new SchedulerConfig(betaStart, betaEnd, betaSchedule, numTrainTimesteps, type, timestepSpacing,
                stepsOffset, setAlphaToOne);
    }

    public SchedulerConfig withTimestepSpacing(TimestepSpacing spacing) {
        return new SchedulerConfig(betaStart, betaEnd, betaSchedule, numTrainTimesteps, predictionType, spacing,
                stepsOffset, setAlphaToOne);
    }
}
