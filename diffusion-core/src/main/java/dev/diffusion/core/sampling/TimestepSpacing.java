package dev.diffusion.core.sampling;

import java.util.Locale;

/** diffusers' {@code timestep_spacing}: how inference timesteps are picked among the training ones. */
public enum TimestepSpacing {
    /** t = (n-1-i) * (T/n) + steps_offset (integer division): 751, 501, 251, 1 for SD with 4 steps. */
    LEADING,
    /** t = round(T - i*T/n) - 1: 999, 749, 499, 249. (Lin et al. 2023, "Common diffusion noise schedules...") */
    TRAILING,
    /** t = round(linspace(T-1, 0, n)): 999, 666, 333, 0. */
    LINSPACE;

    /** The n integer timesteps, from most to least noisy. */
    public int[] timesteps(int steps, int trainTimesteps, int stepsOffset) {
        if (steps < 1 || steps > trainTimesteps) {
            throw new IllegalArgumentException("steps must be in 1.." + trainTimesteps + ", got " + steps);
        }
        int[] t = new int[steps];
        switch (this) {
            case LEADING -> {
                int ratio = trainTimesteps / steps;
                for (int i = 0; i < steps; i++) {
                    t[i] = (steps - 1 - i) * ratio + stepsOffset;
                }
            }
            case TRAILING -> {
                double ratio = (double) trainTimesteps / steps;
                for (int i = 0; i < steps; i++) {
                    t[i] = (int) Math.rint(trainTimesteps - i * ratio) - 1;
                }
            }
            case LINSPACE -> {
                for (int i = 0; i < steps; i++) {
                    double v = steps == 1 ? trainTimesteps - 1
                            : (trainTimesteps - 1) * (double) (steps - 1 - i) / (steps - 1);
                    t[i] = (int) Math.rint(v);
                }
            }
        }
        for (int i = 0; i < steps; i++) {
            t[i] = Math.max(0, Math.min(trainTimesteps - 1, t[i]));
        }
        return t;
    }

    public static TimestepSpacing parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "leading" -> LEADING;
            case "trailing" -> TRAILING;
            case "linspace" -> LINSPACE;
            default -> throw new IllegalArgumentException(
                    "unknown timestep_spacing '" + name + "'; accepted: leading, trailing, linspace");
        };
    }

    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
