/**
 * Sampling for Stable Diffusion 1.x, pure Java: noise schedules ({@link dev.diffusion.core.sampling.NoiseSchedule},
 * {@link dev.diffusion.core.sampling.SigmaSchedule}), samplers in k-diffusion's sigma form
 * ({@link dev.diffusion.core.sampling.Sampler}: Euler, Euler ancestral, DPM++ 2M, DDIM, DDPM, LMS, iPNDM, LCM; Heun, DPM2, DPM2 a and DPM++ 2S a as
 * {@link dev.diffusion.core.sampling.TwoStageSampler}s), prediction types,
 * classifier-free guidance ({@link dev.diffusion.core.sampling.Guidance}) and seeded noise
 * ({@link dev.diffusion.core.sampling.PhiloxGenerator}, {@link dev.diffusion.core.sampling.TorchCpuGenerator}).
 *
 * <p>Latents inside a sampler are in the variance-exploding scale x = x0 + sigma * eps; the U-Net gets
 * x * c_in. Everything a job carries between steps is in its {@link dev.diffusion.core.sampling.SamplerState};
 * {@link dev.diffusion.core.sampling.SamplingLoop} ties a sampler, a schedule and a predictor together.
 */
package dev.diffusion.core.sampling;
