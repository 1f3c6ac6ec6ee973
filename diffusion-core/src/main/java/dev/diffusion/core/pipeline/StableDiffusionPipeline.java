package dev.diffusion.core.pipeline;

import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.clip.PromptEncoder;
import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.InpaintMask;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.sampling.GuidedSampling;
import dev.diffusion.core.sampling.LatentShape;
import dev.diffusion.core.sampling.NoiseSchedule;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.core.sampling.SamplerSpec;
import dev.diffusion.core.sampling.SamplerState;
import dev.diffusion.core.sampling.SamplingLoop;
import dev.diffusion.core.sampling.SchedulerConfig;
import dev.diffusion.core.sampling.SigmaSchedule;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.core.unet.UNet2DConditionModel;
import dev.diffusion.core.vae.AutoencoderKL;
import dev.diffusion.core.weights.LoraDirectory;
import dev.diffusion.core.weights.LoraSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Text to image in one process: tokenizer → CLIP text encoder → seeded noise → sampling loop
 * over the U-Net with classifier-free guidance → VAE decoder → PNG. This is the reference the
 * distributed path (services + orchestrator) must match bit for bit on CPU, so every step is
 * built from the same pieces the services expose: {@link #encodePrompts}, {@link #predictNoise},
 * {@link #decode}.
 */
public final class StableDiffusionPipeline implements AutoCloseable {
    private final String modelName;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final SchedulerConfig schedulerConfig;
    private final long loadMillis;
    private final long weightBytes;
    private final int nativeImageSize;
    private final LoraSet loras;

    private StableDiffusionPipeline(String modelName, ClipTokenizer tokenizer, ClipTextModel textEncoder,
                                    UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfig schedulerConfig,
                                    long loadMillis, long weightBytes, int nativeImageSize, LoraSet loras) {
        this.modelName = modelName;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.schedulerConfig = schedulerConfig;
        this.loadMillis = loadMillis;
        this.weightBytes = weightBytes;
        this.nativeImageSize = nativeImageSize;
        this.loras = loras;
    }

    /**
     * Loads a diffusers folder or a single-file checkpoint. {@code tokenizerPath} (a diffusers
     * {@code tokenizer/} folder or {@code bpe_simple_vocab_16e6.txt.gz}) overrides the model's own
     * and is required for single files, which carry none.
     */
    public static StableDiffusionPipeline load(Path modelPath, Path tokenizerPath, Precision precision) {
        return load(modelPath.toString(), tokenizerPath, precision);
    }

    /** As {@link #load(Path, Path, Precision)}; {@value ModelSource#TINY_RANDOM} selects the tiny built-in model. */
    public static StableDiffusionPipeline load(String model, Path tokenizerPath, Precision precision) {
        return load(model, tokenizerPath, precision, null, List.of());
    }

    /**
     * As {@link #load(String, Path, Precision)} with LoRAs merged into the text encoder and U-Net: {@code loras} are
     * names in {@code loraDir} with their multipliers (what a prompt's {@code <lora:name:w>} tags say; see
     * {@link LoraRef#extract}). Requests to this pipeline must then name exactly these LoRAs.
     */
    public static StableDiffusionPipeline load(String model, Path tokenizerPath, Precision precision, Path loraDir,
                                               List<LoraRef> loras) {
        long start = System.nanoTime();
        try (ModelSource source = ModelSource.open(model, tokenizerPath)) {
            source.checkCompatible();
            ClipTokenizer tokenizer = source.tokenizer();
            LoraSet loraSet = source.loras(loraDir == null ? null : new LoraDirectory(loraDir), loras);
            ClipTextModel text = null;
            UNet2DConditionModel unet = null;
            try {
                text = source.textEncoder(precision, loraSet);
                unet = source.unet(precision, loraSet);
                AutoencoderKL vae = source.vae(precision, true, true);
                long millis = (System.nanoTime() - start) / 1_000_000;
                return new StableDiffusionPipeline(source.name(), tokenizer, text, unet, vae, source.schedulerConfig(), millis,
                        source.weightBytes(), source.nativeImageSize(), loraSet);
            } catch (RuntimeException e) {
                if (text != null) {
                    text.close();
                }
                if (unet != null) {
                    unet.close();
                }
                throw e;
            }
        }
    }

    /**
     * The tiny model with seeded random weights and a byte-level tokenizer: the same code path as
     * SD 1.5 at toy size. Its images are coloured noise; it exists so that the pipeline, the CLI
     * and the services run end to end with no weights at hand.
     */
    public static StableDiffusionPipeline tinyRandom(Precision precision) {
        return load(ModelSource.TINY_RANDOM, null, precision);
    }

    // ------------------------------------------------------------------------------------ steps

    /**
     * Encodes [negative, prompt] and returns them one after the other, uncond first: [2, 77, D] for prompts of up to
     * 75 tokens; see {@link #encodePair} for prompts whose chunk counts differ.
     */
    public float[] encodePrompts(String negativePrompt, String prompt, int clipSkip, ProgressListener listener) {
        float[][] pair = encodePair(negativePrompt, prompt, clipSkip, listener);
        float[] out = java.util.Arrays.copyOf(pair[0], pair[0].length + pair[1].length);
        System.arraycopy(pair[1], 0, out, pair[0].length, pair[1].length);
        return out;
    }

    /**
     * The negative prompt's and the prompt's hidden states, [77 × chunks, D] each, in A1111's prompt syntax
     * ({@link dev.diffusion.core.tokenizer.PromptSyntax}: weights, {@code BREAK}, chunks of 75 tokens); the prompt's {@code <lora:...>} tags are
     * removed first. Each prompt's chunks run through CLIP as a batch of their own (see {@link PromptEncoder}).
     */
    public float[][] encodePair(String negativePrompt, String prompt, int clipSkip, ProgressListener listener) {
        return encodePair(negativePrompt, prompt, clipSkip, 0, listener);
    }

    /** As {@link #encodePair(String, String, int, ProgressListener)} with A1111's comma backtracking (0 = off). */
    public float[][] encodePair(String negativePrompt, String prompt, int clipSkip, int commaBacktrack,
                                ProgressListener listener) {
        PromptEncoder.Encoded[] e = PromptEncoder.encode(tokenizer, textEncoder, List.of(negativePrompt, prompt),
                List.of("negative_prompt", "prompt"), clipSkip, commaBacktrack);
        return new float[][] {e[0].hidden(), e[1].hidden()};
    }

    /**
     * The empty prompt's hidden states, one 77-token chunk, encoded as prompts are (this clip skip, this pipeline's
     * LoRAs): what A1111's {@code pad_cond_uncond} pads with ({@link GuidedSampling#padCondUncond}).
     */
    public float[] emptyChunk(int clipSkip) {
        return PromptEncoder.encode(tokenizer, textEncoder, List.of(""), List.of("negative_prompt"), clipSkip)[0].hidden();
    }

    /** Whether A1111's {@code pad_cond_uncond} pads this request's contexts (lengths in floats or tokens). */
    public static boolean padded(GenerationRequest request, int uncondLength, int condLength) {
        return request.padCondUncond() && uncondLength != condLength;
    }

    /** A1111's {@code Pad conds: True} in the parameters when the contexts were padded (A1111 writes it then only). */
    public static GenerationParameters withPadConds(GenerationParameters p, boolean padded) {
        if (!padded) {
            return p;
        }
        Map<String, String> s = new LinkedHashMap<>(p.settings());
        s.put("Pad conds", "True");
        return new GenerationParameters(p.prompt(), p.negativePrompt(), s);
    }

    /**
     * One U-Net call on a batch: each sample has its own latent, timestep and context, so steps of
     * different jobs can share a call.
     */
    public float[] predictNoise(float[] latentsNhwc, int batch, int latentHeight, int latentWidth, float[] timesteps,
                                float[] context) {
        int contextLength = context.length / (batch * textEncoder.hiddenSize());
        return unet.predict(latentsNhwc, batch, latentHeight, latentWidth, timesteps, context, contextLength);
    }

    /** Latents (the U-Net's scale, NHWC) → decoder output NHWC in ≈[−1, 1]. */
    public float[] decode(float[] latentsNhwc, int batch, int latentHeight, int latentWidth) {
        return vae.decode(latentsNhwc, batch, latentHeight, latentWidth);
    }

    /** The sampling loop of a request, from the model's scheduler config. */
    public SamplingLoop samplingLoop(GenerationRequest request) {
        return samplingLoop(request, schedulerConfig);
    }

    /** The sampling loop of a request under a model's scheduler config (the orchestrator has the config, not the model). */
    public static SamplingLoop samplingLoop(GenerationRequest request, SchedulerConfig schedulerConfig) {
        SamplingLoop loop = SamplingLoop.of(request.samplerSpec(), request.steps(), schedulerConfig);
        // img2img: the full schedule for `steps`, entered at the step that leaves stepsToRun() to go
        return request.initImage() != null ? loop.fromStep(request.steps() - request.stepsToRun()) : loop;
    }

    /**
     * The starting state of one image: seeded noise at the schedule's first sigma, or for img2img the encoded init
     * image plus that noise ({@link SamplingLoop#startFrom}).
     */
    public static SamplerState startState(GenerationRequest request, SamplingLoop loop, long seed, float[] initLatent,
                                          LatentShape shape) {
        return startState(request, loop, seed, initLatent, shape, inpaintPixels(request));
    }

    /** As above, with the request's {@link #inpaintPixels} computed once for all its images (null: no inpainting). */
    public static SamplerState startState(GenerationRequest request, SamplingLoop loop, long seed, float[] initLatent,
                                          LatentShape shape, byte[] maskPixels) {
        if (initLatent == null) {
            return loop.start(request.rng(), seed, shape);
        }
        SamplerState state = loop.startFrom(request.rng(), seed, shape, initLatent);
        if (maskPixels != null) { // keep the init image's latent outside the mask (InpaintMask)
            state.keepOutsideMask(initLatent, InpaintMask.latentRepaint(maskPixels, request.width(), request.height(),
                    shape.width(), shape.height()));
        }
        return state;
    }

    /**
     * An img2img request's inpainting mask at the image's size, one byte per pixel (255 = repaint), or null without
     * one: blurred and resized, so a job computes it once for all its images.
     */
    public static byte[] inpaintPixels(GenerationRequest request) {
        GenerationRequest.Inpaint in = request.inpaint();
        return in == null || request.initImage() == null ? null
                : InpaintMask.pixels(in.mask(), in.invert(), in.blur(), request.width(), request.height());
    }

    /**
     * A decoded image (RGB8) as the request's result: for inpainting ({@code maskPixels} from {@link #inpaintPixels}),
     * the init image pasted back where the mask keeps it ({@link InpaintMask#overlay}); else the image itself.
     */
    public static byte[] finished(GenerationRequest request, byte[] rgb, byte[] maskPixels) {
        return maskPixels == null ? rgb : InpaintMask.overlay(rgb, request.initImage().rgb(), maskPixels);
    }

    /**
     * An RGB8 image → U-Net latent (NHWC, scaled): the mode of the VAE encoder's distribution.
     * We take the mean rather than a sample so img2img is deterministic without a second noise
     * stream (A1111 samples from torch's global generator, which cannot be reproduced anyway).
     */
    public float[] encodeImage(Png.Image image) {
        var moments = vae.encode(AutoencoderKL.fromRgb8(image.rgb()), 1, image.height(), image.width());
        return moments.mode(vae.config().scalingFactor(), vae.config().shiftFactor());
    }

    /** The image side the model was trained at (unet sample_size × VAE downscale; 512 when unknown). */
    public int nativeImageSize() {
        return nativeImageSize;
    }

    public int latentScale() {
        return vae.config().downscale();
    }

    public int latentChannels() {
        return vae.config().latentChannels();
    }

    // ------------------------------------------------------------------------------------ text to image

    public List<GeneratedImage> generate(GenerationRequest request, ProgressListener listener) {
        request.validate();
        List<LoraRef> asked = LoraRef.extract(request.prompt()).loras();
        if (!asked.equals(loraRefs())) {
            throw new IllegalArgumentException("the request asks for LoRAs " + asked + " but this pipeline was loaded with "
                    + loraRefs() + " (LoRAs are merged at load: load the pipeline with the request's LoRAs)");
        }
        int scale = latentScale();
        if (request.width() % scale != 0 || request.height() % scale != 0) {
            throw new IllegalArgumentException("width and height must be multiples of " + scale + " for this model");
        }
        int lh = request.height() / scale;
        int lw = request.width() / scale;
        long t0 = System.nanoTime();
        float[][] context = encodePair(request.negativePrompt(), request.prompt(), request.clipSkip(),
                request.commaBacktrack(), listener);
        boolean padded = padded(request, context[0].length, context[1].length);
        if (padded) {
            context = GuidedSampling.padCondUncond(context[0], context[1], emptyChunk(request.clipSkip()));
        }
        listener.onStage("encode", (System.nanoTime() - t0) / 1_000_000);
        List<GeneratedImage> images = new ArrayList<>();
        float[] initLatent = null;
        if (request.initImage() != null) {
            long e0 = System.nanoTime();
            initLatent = encodeImage(request.initImage());
            listener.onStage("encode-image", (System.nanoTime() - e0) / 1_000_000);
        }
        byte[] maskPixels = inpaintPixels(request);
        for (int i = 0; i < request.batchCount(); i++) {
            long seed = request.seed() + i;
            long i0 = System.nanoTime();
            float[] latent = sample(request, context, seed, initLatent, maskPixels, lh, lw, i, listener);
            long d0 = System.nanoTime();
            float[] decoded = decode(latent, 1, lh, lw);
            listener.onStage("decode", (System.nanoTime() - d0) / 1_000_000);
            byte[] rgb = finished(request, AutoencoderKL.toRgb8(decoded), maskPixels);
            GenerationParameters params = withPadConds(parameters(request, seed), padded);
            Map<String, String> text = new LinkedHashMap<>();
            text.put("parameters", params.format());
            byte[] png = Png.encodeRgb(request.width(), request.height(), rgb, text);
            images.add(new GeneratedImage(i, seed, request.width(), request.height(), rgb, png, params, latent, decoded));
            listener.onImage(i, (System.nanoTime() - i0) / 1_000_000);
        }
        return images;
    }

    /** The sampling loop of one image: returns the final latent (NHWC, the U-Net's scale). */
    public float[] sample(GenerationRequest request, float[][] context, long seed, float[] initLatent, int lh, int lw,
                          int imageIndex, ProgressListener listener) {
        return sample(request, context, seed, initLatent, inpaintPixels(request), lh, lw, imageIndex, listener);
    }

    private float[] sample(GenerationRequest request, float[][] context, long seed, float[] initLatent, byte[] maskPixels,
                           int lh, int lw, int imageIndex, ProgressListener listener) {
        SamplingLoop loop = samplingLoop(request);
        SamplerState state = startState(request, loop, seed, initLatent, LatentShape.nhwc(1, latentChannels(), lh, lw),
                maskPixels);
        GuidedSampling sampling = new GuidedSampling(loop, (latents, shape, timesteps, ctx) ->
                predictNoise(latents, shape.batch(), shape.height(), shape.width(), timesteps, ctx), context[0], context[1],
                request.cfgScale());
        return sampling.run(state, new GuidedSampling.Observer() {
            @Override
            public void onStep(GuidedSampling.Step s) {
                listener.onStepTrace(new ProgressListener.StepTrace(imageIndex, s.number(), s.sigma(), s.timestep(), s.x(),
                        s.uncond(), s.cond(), s.denoised()));
                listener.onStep(imageIndex, s.number(), s.total(), s.nanos() / 1_000_000);
            }
        });
    }

    /** The settings as A1111 writes them into the PNG. */
    public GenerationParameters parameters(GenerationRequest request, long seed) {
        GenerationParameters p = parameters(request, seed, modelName);
        Map<String, String> hashes = new LinkedHashMap<>();
        for (LoraSet.Applied a : loras.loras()) {
            hashes.put(a.lora().name(), a.lora().shortHash());
        }
        return withLoraHashes(p, hashes);
    }

    /**
     * The parameters with A1111's {@code Lora hashes: "name: 0123456789ab, other: ..."} entry (the hash of each
     * LoRA the image used; see {@link dev.diffusion.core.weights.Lora#shortHash()}); unchanged when there are none.
     */
    public static GenerationParameters withLoraHashes(GenerationParameters p, Map<String, String> hashes) {
        if (hashes.isEmpty()) {
            return p;
        }
        Map<String, String> s = new LinkedHashMap<>(p.settings());
        StringBuilder v = new StringBuilder();
        hashes.forEach((name, hash) -> v.append(v.length() == 0 ? "" : ", ").append(name).append(": ").append(hash));
        s.put("Lora hashes", v.toString());
        return new GenerationParameters(p.prompt(), p.negativePrompt(), s);
    }

    /** The LoRAs merged into this pipeline's networks, with their multipliers. */
    public List<LoraRef> loraRefs() {
        List<LoraRef> out = new ArrayList<>();
        for (LoraSet.Applied a : loras.loras()) {
            out.add(new LoraRef(a.lora().name(), a.multiplier()));
        }
        return out;
    }

    /** Warnings about the loaded LoRAs: tensors that matched no layer, by name. */
    public List<String> loraWarnings() {
        List<String> out = new ArrayList<>();
        for (LoraSet.Applied a : loras.loras()) {
            if (a.lora().unmatchedWarning() != null) {
                out.add(a.lora().unmatchedWarning());
            }
        }
        return out;
    }

    /**
     * As {@link #parameters(GenerationRequest, long)} for a model known by name only: the
     * orchestrator writes the same {@code parameters} chunk without holding the networks.
     */
    public static GenerationParameters parameters(GenerationRequest request, long seed, String modelName) {
        SamplerSpec spec = request.samplerSpec();
        Map<String, String> s = new LinkedHashMap<>();
        s.put("Steps", Integer.toString(request.steps()));
        s.put("Sampler", new SamplerSpec(spec.kind(), false).a1111Name());
        s.put("Schedule type", spec.karras() ? "Karras" : "Automatic");
        s.put("CFG scale", formatNumber(request.cfgScale()));
        s.put("Seed", Long.toString(seed));
        s.put("Size", request.width() + "x" + request.height());
        s.put("Model", modelName);
        if (request.clipSkip() != 1) {
            s.put("Clip skip", Integer.toString(request.clipSkip()));
        }
        s.put("RNG", request.rng() == RngKind.PHILOX ? "NV" : "CPU");
        if (request.initImage() != null) {
            s.put("Denoising strength", formatNumber(request.strength()));
        }
        if (request.inpaint() != null) { // as A1111 writes an inpainting job's
            if (request.inpaint().blur() > 0) {
                s.put("Mask blur", Integer.toString(request.inpaint().blur()));
            }
            if (request.inpaint().invert()) {
                s.put("Mask mode", "Inpaint not masked");
            }
        }
        return new GenerationParameters(request.prompt(), request.negativePrompt(), s);
    }

    private static String formatNumber(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    public String modelName() {
        return modelName;
    }

    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    public long loadMillis() {
        return loadMillis;
    }

    public long weightBytes() {
        return weightBytes;
    }

    /** Parameters held by the three networks. */
    public long parameterCount() {
        return textEncoder.parameterCount() + unet.parameterCount() + vae.parameterCount();
    }

    @Override
    public void close() {
        textEncoder.close();
        unet.close();
        vae.close();
    }
}
