package dev.diffusion.core.pipeline;

import dev.diffusion.core.image.InpaintMask;
import dev.diffusion.core.image.LanczosResize;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.sampling.SamplerSpec;

/**
 * One text-to-image request. {@link #validate()} checks every field against its limit and names
 * the field in its message, so the command line, the services and the orchestrator refuse bad
 * input the same way before any work starts.
 *
 * @param scheduler "discrete", "karras", or null for the sampler name's own choice
 *                  ("DPM++ 2M Karras" means karras)
 * @param seed      image i of the batch uses seed + i
 * @param clipSkip  1 = last CLIP layer, 2 = penultimate (A1111's numbering)
 * @param initImage img2img: the image to start from, resized to width × height if it has another size, or null
 * @param strength  img2img: how much of the schedule to run, (0, 1]; 1 = from pure noise
 * @param commaBacktrack A1111's {@code comma_padding_backtrack}: when a 75-token chunk fills up and its last comma is
 *                  at most this many tokens back, the words after that comma start the next chunk; 0 (ours, and
 *                  sd.cpp's) = off, A1111's default is 20; 0 to {@link #MAX_COMMA_BACKTRACK}
 * @param padCondUncond A1111's {@code pad_cond_uncond}: when the prompt and the negative prompt differ in chunk
 *                  count, the shorter gets empty-prompt chunks appended so both run in one U-Net call; off by default
 *                  (each then runs at its own length)
 */
public record GenerationRequest(
        String prompt,
        String negativePrompt,
        int width,
        int height,
        int steps,
        String sampler,
        String scheduler,
        double cfgScale,
        long seed,
        int batchCount,
        int clipSkip,
        RngKind rng,
        Png.Image initImage,
        double strength,
        int commaBacktrack,
        boolean padCondUncond,
        Inpaint inpaint) {

    /**
     * Inpainting: {@code mask} as {@link InpaintMask#binary} made it (white = repaint), any size (resized with the
     * image); {@code blur} A1111's mask_blur in pixels, 0 to {@link InpaintMask#MAX_BLUR}; {@code invert} repaints the
     * black part instead.
     */
    public record Inpaint(Png.Image mask, int blur, boolean invert) {}

    public static final int MIN_SIZE = 64;
    public static final int MAX_SIZE = 2048;
    public static final int MAX_STEPS = 150;
    public static final double MAX_CFG = 30;
    public static final int MAX_BATCH_COUNT = 64;
    public static final int MAX_PROMPT_CHARS = 10_000;
    /** A1111's slider for {@code comma_padding_backtrack} ends at 74: a chunk holds 75 tokens. */
    public static final int MAX_COMMA_BACKTRACK = 74;
    /** The largest side of an img2img image (it is resized to width × height; 8192 is 192 MiB of RGB). */
    public static final int MAX_INIT_IMAGE_SIDE = 8192;

    public GenerationRequest {
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        rng = rng == null ? RngKind.PHILOX : rng;
        // an init image of another size is resized to width × height (sizes out of limits are left for validate())
        if (initImage != null && (initImage.width() != width || initImage.height() != height)
                && initImage.width() <= MAX_INIT_IMAGE_SIDE && initImage.height() <= MAX_INIT_IMAGE_SIDE
                && width >= MIN_SIZE && width <= MAX_SIZE && height >= MIN_SIZE && height <= MAX_SIZE) {
            initImage = LanczosResize.resize(initImage, width, height);
        }
    }

    /** Without inpainting. */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
                             String scheduler, double cfgScale, long seed, int batchCount, int clipSkip, RngKind rng,
                             Png.Image initImage, double strength, int commaBacktrack, boolean padCondUncond) {
        this(prompt, negativePrompt, width, height, steps, sampler, scheduler, cfgScale, seed, batchCount, clipSkip, rng,
                initImage, strength, commaBacktrack, padCondUncond, null);
    }

    /** With an inpainting mask (see {@link Inpaint}); null = none. */
    public GenerationRequest withInpaint(Inpaint mask) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, scheduler, cfgScale, seed,
                batchCount, clipSkip, rng, initImage, strength, commaBacktrack, padCondUncond, mask);
    }

    /** Without the prompt options (comma backtracking off, no padding). */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
                             String scheduler, double cfgScale, long seed, int batchCount, int clipSkip, RngKind rng,
                             Png.Image initImage, double strength) {
        this(prompt, negativePrompt, width, height, steps, sampler, scheduler, cfgScale, seed, batchCount, clipSkip, rng,
                initImage, strength, 0, false);
    }

    /** Text to image (no init image). */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, int steps, String sampler,
                             String scheduler, double cfgScale, long seed, int batchCount, int clipSkip, RngKind rng) {
        this(prompt, negativePrompt, width, height, steps, sampler, scheduler, cfgScale, seed, batchCount, clipSkip, rng,
                null, 1.0);
    }

    /**
     * Image to image from {@code image} at {@code denoisingStrength}. An image of another size than width × height is
     * resized to it (by every constructor) as A1111's img2img "Just resize" does (Pillow's Lanczos,
     * {@link LanczosResize}), so set the size first; a side over {@link #MAX_INIT_IMAGE_SIDE} is refused by
     * {@link #validate()}.
     */
    public GenerationRequest withInitImage(Png.Image image, double denoisingStrength) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, scheduler, cfgScale, seed,
                batchCount, clipSkip, rng, image, denoisingStrength, commaBacktrack, padCondUncond, inpaint);
    }

    /**
     * An img2img job's default side from its image's: the same, down to a multiple of 8 (as diffusers' image processor
     * rounds it); the image is then resized to it.
     */
    public static int imageSide(int side) {
        return side - side % 8;
    }

    /** Steps actually run: all for text to image; floor(steps × strength), at least 1, for img2img (A1111 and diffusers agree). */
    public int stepsToRun() {
        return initImage == null ? steps : Math.max(1, (int) Math.floor(steps * strength));
    }

    /** Defaults of the command line: 512×512, 20 steps, Euler, cfg 7, seed 42, Philox. */
    public static GenerationRequest of(String prompt) {
        return new GenerationRequest(prompt, "", 512, 512, 20, "euler", null, 7.0, 42, 1, 1, RngKind.PHILOX);
    }

    public GenerationRequest withSize(int w, int h) {
        return new GenerationRequest(prompt, negativePrompt, w, h, steps, sampler, scheduler, cfgScale, seed, batchCount,
                clipSkip, rng, initImage, strength, commaBacktrack, padCondUncond, inpaint);
    }

    public GenerationRequest withSampling(String samplerName, String schedulerName, int stepCount, double cfg) {
        return new GenerationRequest(prompt, negativePrompt, width, height, stepCount, samplerName, schedulerName, cfg,
                seed, batchCount, clipSkip, rng, initImage, strength, commaBacktrack, padCondUncond, inpaint);
    }

    public GenerationRequest withSeed(long s) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, scheduler, cfgScale, s,
                batchCount, clipSkip, rng, initImage, strength, commaBacktrack, padCondUncond, inpaint);
    }

    public GenerationRequest withNegativePrompt(String negative) {
        return new GenerationRequest(prompt, negative, width, height, steps, sampler, scheduler, cfgScale, seed,
                batchCount, clipSkip, rng, initImage, strength, commaBacktrack, padCondUncond, inpaint);
    }

    /** With A1111's {@code comma_padding_backtrack} and {@code pad_cond_uncond} (see the record's parameters). */
    public GenerationRequest withPromptOptions(int backtrack, boolean pad) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, sampler, scheduler, cfgScale, seed,
                batchCount, clipSkip, rng, initImage, strength, backtrack, pad, inpaint);
    }

    /** The sampler with the scheduler choice applied. */
    public SamplerSpec samplerSpec() {
        SamplerSpec spec = SamplerSpec.parse(sampler);
        if (scheduler == null || scheduler.isBlank()) {
            return spec;
        }
        return switch (scheduler.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "karras" -> new SamplerSpec(spec.kind(), true);
            case "discrete", "normal", "default" -> new SamplerSpec(spec.kind(), false);
            case "automatic" -> spec; // what the sampler's name says, as A1111's "Automatic" (the PNG's Schedule type)
            default -> throw new InvalidRequestException("scheduler", "scheduler must be 'discrete', 'karras' or 'automatic', got '"
                    + scheduler + "'");
        };
    }

    /** Checks every field; throws {@link InvalidRequestException} naming the field ({@code field()}) and its limit. */
    public GenerationRequest validate() {
        if (prompt == null) {
            throw new InvalidRequestException("prompt", "prompt is required");
        }
        if (prompt.length() > MAX_PROMPT_CHARS) {
            throw new InvalidRequestException("prompt", "prompt is " + prompt.length() + " characters; the limit is "
                    + MAX_PROMPT_CHARS);
        }
        if (negativePrompt.length() > MAX_PROMPT_CHARS) {
            throw new InvalidRequestException("negative_prompt", "negative_prompt is " + negativePrompt.length()
                    + " characters; the limit is " + MAX_PROMPT_CHARS);
        }
        checkSize("width", width);
        checkSize("height", height);
        if (steps < 1 || steps > MAX_STEPS) {
            throw new InvalidRequestException("steps", "steps must be between 1 and " + MAX_STEPS + ", got " + steps);
        }
        if (!(cfgScale >= 0 && cfgScale <= MAX_CFG)) {
            throw new InvalidRequestException("cfg_scale", "cfg_scale must be between 0 and " + MAX_CFG + ", got " + cfgScale);
        }
        if (batchCount < 1 || batchCount > MAX_BATCH_COUNT) {
            throw new InvalidRequestException("batch_count", "batch_count must be between 1 and " + MAX_BATCH_COUNT + ", got "
                    + batchCount);
        }
        if (seed < 0) {
            throw new InvalidRequestException("seed", "seed must be 0 or more (-1 asks for a random one), got " + seed);
        }
        if (seed > Long.MAX_VALUE - (batchCount - 1)) {
            throw new InvalidRequestException("seed", "seed " + seed + " is too large for " + batchCount
                    + " images: image i uses seed + i, and the last must be at most " + Long.MAX_VALUE);
        }
        if (clipSkip < 1) {
            throw new InvalidRequestException("clip_skip", "clip_skip must be at least 1, got " + clipSkip);
        }
        if (commaBacktrack < 0 || commaBacktrack > MAX_COMMA_BACKTRACK) {
            throw new InvalidRequestException("comma_padding_backtrack", "comma_padding_backtrack must be between 0 and "
                    + MAX_COMMA_BACKTRACK + " tokens, got " + commaBacktrack);
        }
        try {
            samplerSpec(); // names an unknown sampler or scheduler
        } catch (InvalidRequestException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("sampler", e.getMessage());
        }
        if (initImage != null) {
            if (!(strength > 0 && strength <= 1)) {
                throw new InvalidRequestException("strength", "strength must be greater than 0 and at most 1, got " + strength);
            }
            if (initImage.width() > MAX_INIT_IMAGE_SIDE || initImage.height() > MAX_INIT_IMAGE_SIDE) {
                throw new InvalidRequestException("init_image", "init_image is " + initImage.width() + "x" + initImage.height()
                        + "; the limit is " + MAX_INIT_IMAGE_SIDE + " pixels a side");
            }
            if (inpaint != null && (inpaint.blur() < 0 || inpaint.blur() > InpaintMask.MAX_BLUR)) {
                throw new InvalidRequestException("mask_blur", "mask_blur must be between 0 and " + InpaintMask.MAX_BLUR
                        + " pixels, got " + inpaint.blur());
            }
            if (inpaint != null && (inpaint.mask().width() > MAX_INIT_IMAGE_SIDE || inpaint.mask().height() > MAX_INIT_IMAGE_SIDE)) {
                throw new InvalidRequestException("mask", "mask is " + inpaint.mask().width() + "x" + inpaint.mask().height()
                        + "; the limit is " + MAX_INIT_IMAGE_SIDE + " pixels a side");
            }
            if (initImage.width() != width || initImage.height() != height) { // a size changed after withInitImage
                throw new InvalidRequestException("init_image", "init_image is " + initImage.width() + "x" + initImage.height()
                        + " but width x height is " + width + "x" + height + "; they must be equal");
            }
        }
        if (inpaint != null && initImage == null) {
            throw new InvalidRequestException("mask", "mask is for img2img: it needs an init image");
        }
        return this;
    }

    /** An image side: a multiple of 8 from {@link #MIN_SIZE} to {@link #MAX_SIZE}, refused naming {@code field}. */
    public static void checkSize(String field, int v) {
        if (v < MIN_SIZE || v > MAX_SIZE || v % 8 != 0) {
            throw new InvalidRequestException(field, field + " must be a multiple of 8 between " + MIN_SIZE + " and " + MAX_SIZE
                    + ", got " + v);
        }
    }
}
