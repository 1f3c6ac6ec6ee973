package dev.diffusion.core.sampling;

import java.util.Arrays;

/**
 * The noise levels one generation walks through: {@code sigmas} has steps + 1 entries (the last is
 * where sampling ends, usually 0), {@code timesteps} the steps values given to the U-Net, and
 * {@code initNoiseSigma} scales unit noise into the first latent. All samplers here work in
 * k-diffusion's variance-exploding scale: latent x at level sigma is x0 + sigma * eps.
 */
public record SigmaSchedule(double[] sigmas, double[] timesteps, double initNoiseSigma) {

    public SigmaSchedule {
        if (sigmas.length < 2 || timesteps.length != sigmas.length - 1) {
            throw new IllegalArgumentException("need steps + 1 sigmas and steps timesteps, got " + sigmas.length
                    + " and " + timesteps.length);
        }
        sigmas = sigmas.clone();
        timesteps = timesteps.clone();
    }

    public int steps() {
        return timesteps.length;
    }

    public double sigma(int step) {
        return sigmas[step];
    }

    public double timestep(int step) {
        return timesteps[step];
    }

    @Override
    public double[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public double[] timesteps() {
        return timesteps.clone();
    }

    /**
     * The schedule from {@code step} on (img2img with strength: skip the first steps and start from the
     * encoded image noised to {@code sigma(step)}); initNoiseSigma becomes that sigma.
     */
    public SigmaSchedule fromStep(int step) {
        if (step < 0 || step >= steps()) {
            throw new IllegalArgumentException("step must be in 0.." + (steps() - 1) + ", got " + step);
        }
        return new SigmaSchedule(Arrays.copyOfRange(sigmas, step, sigmas.length),
                Arrays.copyOfRange(timesteps, step, timesteps.length), sigmas[step]);
    }

    /**
     * A1111 / stable-diffusion.cpp "discrete" (k-diffusion {@code get_sigmas}): timesteps evenly spaced
     * from T-1 down to 0, sigma by log-sigma interpolation at each, then a final 0. SD, 4 steps: t = 999,
     * 666, 333, 0.
     */
    public static SigmaSchedule discrete(NoiseSchedule table, int steps) {
        checkSteps(steps);
        double tMax = table.trainTimesteps() - 1;
        double[] sigmas = new double[steps + 1];
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) {
            ts[i] = steps == 1 ? tMax : tMax - tMax * i / (steps - 1);
            sigmas[i] = table.tToSigma(ts[i]);
        }
        return new SigmaSchedule(sigmas, ts, sigmas[0]);
    }

    /**
     * Karras et al. 2022 (eq. 5): sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho
     * between the table's sigma_min and sigma_max, then 0; the U-Net gets the fractional timestep of each.
     */
    public static SigmaSchedule karras(NoiseSchedule table, int steps, double rho) {
        return karras(table, steps, table.sigmaMin(), table.sigmaMax(), rho);
    }

    public static SigmaSchedule karras(NoiseSchedule table, int steps) {
        return karras(table, steps, 7.0);
    }

    public static SigmaSchedule karras(NoiseSchedule table, int steps, double sigmaMin, double sigmaMax, double rho) {
        checkSteps(steps);
        double minInvRho = Math.pow(sigmaMin, 1 / rho);
        double maxInvRho = Math.pow(sigmaMax, 1 / rho);
        double[] sigmas = new double[steps + 1];
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) {
            double ramp = steps == 1 ? 0 : (double) i / (steps - 1);
            sigmas[i] = Math.pow(maxInvRho + ramp * (minInvRho - maxInvRho), rho);
            ts[i] = table.sigmaToT(sigmas[i]);
        }
        return new SigmaSchedule(sigmas, ts, sigmas[0]);
    }

    /**
     * diffusers-style integer timesteps (DDIM, DDPM): sigma_i is the table's sigma at t_i, and sampling
     * ends at {@code finalSigma} (0, or sigma_0 for DDIM with {@code set_alpha_to_one = false}). The
     * first latent is unit noise in the model's variance-preserving scale, i.e. sqrt(sigma_0^2 + 1) here.
     * Each step goes to the next listed timestep (diffusers' DDIM uses t - T/n instead, which is the same
     * for leading and trailing spacing with n dividing T, and differs for linspace).
     */
    public static SigmaSchedule spaced(NoiseSchedule table, int steps, TimestepSpacing spacing, int stepsOffset,
            double finalSigma) {
        checkSteps(steps);
        int[] t = spacing.timesteps(steps, table.trainTimesteps(), stepsOffset);
        double[] sigmas = new double[steps + 1];
        double[] ts = new double[steps];
        for (int i = 0; i < steps; i++) {
            ts[i] = t[i];
            sigmas[i] = table.sigma(t[i]);
        }
        sigmas[steps] = finalSigma;
        return new SigmaSchedule(sigmas, ts, Math.sqrt(sigmas[0] * sigmas[0] + 1));
    }

    /**
     * The schedule a sampler runs on by default: Karras sigmas when the spec asks for them; otherwise
     * "discrete" for the k-diffusion samplers (all but DDIM and DDPM; the config's spacing for cosine
     * schedules, see below), and the config's diffusers
     * spacing for DDIM (ending at alpha_bar = 1 or alpha_bar_0 per set_alpha_to_one) and DDPM (ending at 0).
     */
    public static SigmaSchedule forSampler(SamplerSpec spec, SchedulerConfig config, NoiseSchedule table, int steps) {
        if (spec.kind() == SamplerKind.DPM2 || spec.kind() == SamplerKind.DPM2_ANCESTRAL) {
            // A1111 and ComfyUI drop DPM2's next-to-last sigma (its step there would be tiny): the schedule of one
            // step more, without it
            return withoutNextToLast(forSampler(new SamplerSpec(SamplerKind.EULER, spec.karras()), config, table, steps + 1));
        }
        if (spec.karras()) {
            return karras(table, steps);
        }
        return switch (spec.kind()) {
            // A cosine schedule's last beta is clipped to 0.999, so sigma at t = 999 is ~2e4: an epsilon model's
            // error is amplified that much on the first step. A1111 / sd.cpp have no cosine models to match, so
            // these follow diffusers instead and start at the config's spacing ("leading": t = 951 for 20 steps).
            case DDIM -> spaced(table, steps, config.timestepSpacing(), config.stepsOffset(),
                    config.setAlphaToOne() ? 0.0 : table.sigma(0));
            case DDPM -> spaced(table, steps, config.timestepSpacing(), config.stepsOffset(), 0.0);
            default -> config.betaSchedule() == BetaSchedule.SQUAREDCOS_CAP_V2 // the k-diffusion samplers
                    ? spaced(table, steps, config.timestepSpacing(), config.stepsOffset(), 0.0)
                    : discrete(table, steps);
        };
    }

    /** This schedule without the sigma (and timestep) before the last: one step fewer. */
    static SigmaSchedule withoutNextToLast(SigmaSchedule s) {
        int n = s.sigmas().length;
        double[] sigmas = Arrays.copyOf(s.sigmas(), n - 1);
        sigmas[n - 2] = s.sigmas()[n - 1];
        return new SigmaSchedule(sigmas, Arrays.copyOf(s.timesteps(), n - 2), s.initNoiseSigma());
    }

    private static void checkSteps(int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SigmaSchedule s && Arrays.equals(sigmas, s.sigmas) && Arrays.equals(timesteps, s.timesteps)
                && Double.compare(initNoiseSigma, s.initNoiseSigma) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(sigmas) + Arrays.hashCode(timesteps);
    }

    @Override
    public String toString() {
        return "SigmaSchedule[sigmas=" + Arrays.toString(sigmas) + ", timesteps=" + Arrays.toString(timesteps) + "]";
    }
}
