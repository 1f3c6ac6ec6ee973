package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.InvalidRequestException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.sampling.RngKind;
import dev.diffusion.proto.v1.GenerationJob;
import org.apache.kafka.common.header.internals.RecordHeaders;
import com.google.protobuf.InvalidProtocolBufferException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class JobsTest {
    private static final ModelSpec TINY = ModelSpec.open("tiny-random");

    private static InvalidRequestException invalid(GenerationJob.Builder job, int maxPromptChars) {
        GenerationJob full = Jobs.withDefaults(job.setJobId("j").build(), "fallback");
        return assertThrows(InvalidRequestException.class, () -> Jobs.toRequest(full, TINY, maxPromptChars));
    }

    @Test
    void proto3ZeroValuesMeanTheDocumentedDefaults() {
        GenerationJob job = Jobs.withDefaults(GenerationJob.newBuilder().setPrompt("a cat").build(), "key-1");
        assertEquals("key-1", job.getJobId());
        GenerationRequest r = Jobs.toRequest(job, TINY, 10_000);
        assertEquals(512, r.width());
        assertEquals(512, r.height());
        assertEquals(20, r.steps());
        assertEquals("euler", r.sampler());
        assertEquals(7.0, r.cfgScale());
        assertEquals(1, r.batchCount());
        assertEquals(1, r.clipSkip());
        assertEquals(RngKind.PHILOX, r.rng());
        // no seed: derived from the job id, so a re-delivered job samples the same noise
        assertEquals(Jobs.seedOf("key-1"), r.seed());
        assertEquals(r.seed(), Jobs.withDefaults(GenerationJob.newBuilder().setSeed(-1).build(), "key-1").getSeed());
        assertTrue(r.seed() >= 0 && r.seed() < (1L << 32));
        assertEquals(42, Jobs.withDefaults(GenerationJob.newBuilder().setSeed(42).build(), "k").getSeed());
    }

    @Test
    void loraSetIsTheTagsAndTheFieldMergedByName() {
        GenerationJob job = Jobs.withDefaults(GenerationJob.newBuilder().setPrompt("a cat <lora:b:0.5> <lora:a:1>")
                .addLoras(dev.diffusion.proto.v1.LoraWeight.newBuilder().setName("b").setWeight(0.25))
                .addLoras(dev.diffusion.proto.v1.LoraWeight.newBuilder().setName("zero").setWeight(0)).build(), "j");
        assertEquals(java.util.List.of(new dev.diffusion.core.pipeline.LoraRef("a", 1),
                new dev.diffusion.core.pipeline.LoraRef("b", 0.75)), Jobs.loras(job));
        Jobs.toRequest(job, TINY, 100);
        InvalidRequestException e = invalid(GenerationJob.newBuilder().setPrompt("x")
                .addLoras(dev.diffusion.proto.v1.LoraWeight.newBuilder().setName("../etc/passwd").setWeight(1)), 100);
        assertEquals("loras", e.field());
        assertEquals("prompt", invalid(GenerationJob.newBuilder().setPrompt("x <lora:a/b:1>"), 100).field());
        assertEquals("loras", invalid(GenerationJob.newBuilder().setPrompt("x")
                .addLoras(dev.diffusion.proto.v1.LoraWeight.newBuilder().setName("a").setWeight(50)), 100).field());
    }

    @Test
    void aTinyInitImageAndMaskSettingsWithoutAMaskAreRefusedNamingThem() {
        com.google.protobuf.ByteString tiny = com.google.protobuf.ByteString.copyFrom(
                dev.diffusion.core.image.Png.encodeRgb(5, 5, new byte[75], java.util.Map.of()));
        InvalidRequestException e = invalid(GenerationJob.newBuilder().setPrompt("x").setInitImage(tiny), 100);
        assertEquals("init_image", e.field());
        assertTrue(e.getMessage().startsWith("init_image is 5x5: its size"), e.getMessage());
        assertEquals("mask_blur", invalid(GenerationJob.newBuilder().setPrompt("x").setMaskBlur(3), 100).field());
        assertEquals("mask_invert", invalid(GenerationJob.newBuilder().setPrompt("x").setMaskInvert(true), 100).field());
    }

    @Test
    void promptsOverTheTokenLimitAreRefusedBeforeTheJobRuns() {
        // tiny-random's byte-level tokens: "word, " is 5 tokens, 800 of them far over 10 chunks of 75
        InvalidRequestException e = invalid(GenerationJob.newBuilder().setPrompt("word, ".repeat(160)), 100_000);
        assertEquals("prompt", e.field());
        assertTrue(e.getMessage().startsWith("prompt is 800 tokens in 11 chunks of 75; the limit is 10 chunks (750 tokens)"),
                e.getMessage());
        e = invalid(GenerationJob.newBuilder().setPrompt("x").setNegativePrompt("word, ".repeat(160)), 100_000);
        assertEquals("negative_prompt", e.field());
        assertTrue(e.getMessage().startsWith("negative_prompt is 800 tokens"), e.getMessage());
        // a model whose tokenizer is not readable here: the text encoder refuses it when the job runs
        ModelSpec noTokenizer = new ModelSpec(TINY.name(), TINY.schedulerConfig(), TINY.latentChannels(), TINY.vaeDownscale(),
                TINY.hiddenSize(), TINY.nativeImageSize(), TINY.textEncoderLayers(), TINY.scalingFactor(), TINY.shiftFactor(),
                TINY.unet(), java.util.Optional.empty());
        Jobs.toRequest(Jobs.withDefaults(GenerationJob.newBuilder().setPrompt("word, ".repeat(160)).build(), "j"),
                noTokenizer, 100_000);
    }

    @Test
    void anInitImageGivesTheDefaultSizeAndIsResizedToTheJobs() {
        byte[] rgb = new byte[70 * 99 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i % 251);
        }
        dev.diffusion.core.image.Png.Image image = new dev.diffusion.core.image.Png.Image(70, 99, rgb, java.util.Map.of());
        com.google.protobuf.ByteString png = com.google.protobuf.ByteString.copyFrom(
                dev.diffusion.core.image.Png.encodeRgb(70, 99, rgb, java.util.Map.of()));
        // no size: the image's, down to a multiple of 8 (64x96), the image resized to it
        GenerationJob job = Jobs.withDefaults(GenerationJob.newBuilder().setPrompt("x").setInitImage(png).build(), "j");
        assertEquals(64, job.getWidth());
        assertEquals(96, job.getHeight());
        GenerationRequest r = Jobs.toRequest(job, TINY, 100);
        assertEquals(64, r.initImage().width());
        org.junit.jupiter.api.Assertions.assertArrayEquals(
                dev.diffusion.core.image.LanczosResize.resize(image, 64, 96).rgb(), r.initImage().rgb());
        // a size of its own: resized to it (A1111's "Just resize")
        r = Jobs.toRequest(Jobs.withDefaults(GenerationJob.newBuilder().setPrompt("x").setInitImage(png).setWidth(128)
                .setHeight(64).build(), "j"), TINY, 100);
        assertEquals(128, r.initImage().width());
        assertEquals(64, r.initImage().height());
        org.junit.jupiter.api.Assertions.assertArrayEquals(
                dev.diffusion.core.image.LanczosResize.resize(image, 128, 64).rgb(), r.initImage().rgb());
    }

    @Test
    void promptOptionsReachTheRequestAndMalformedWeightsNameTheirField() {
        GenerationRequest plain = Jobs.toRequest(Jobs.withDefaults(GenerationJob.newBuilder().setPrompt("x").build(), "j"),
                TINY, 100);
        assertEquals(0, plain.commaBacktrack()); // sd.cpp's default, not A1111's 20
        assertEquals(false, plain.padCondUncond());
        GenerationRequest set = Jobs.toRequest(Jobs.withDefaults(GenerationJob.newBuilder().setPrompt("x")
                .setCommaPaddingBacktrack(20).setPadCondUncond(true).build(), "j"), TINY, 100);
        assertEquals(20, set.commaBacktrack());
        assertEquals(true, set.padCondUncond());
        InvalidRequestException e = invalid(GenerationJob.newBuilder().setPrompt("x").setCommaPaddingBacktrack(75), 100);
        assertEquals("comma_padding_backtrack", e.field());
        assertEquals("comma_padding_backtrack must be between 0 and 74 tokens, got 75", e.getMessage());
        assertEquals("comma_padding_backtrack", Jobs.fieldOf("comma_padding_backtrack: must be 0 to 74 tokens (0 = off), got -1"));
        // A1111 fails a prompt whose weight Python's float() cannot read; so do we, before the job starts
        // seeds: 0..2^63-1 for every image of the job (image i uses seed + i)
        e = invalid(GenerationJob.newBuilder().setPrompt("x").setSeed(-5), 100);
        assertEquals("seed", e.field());
        e = invalid(GenerationJob.newBuilder().setPrompt("x").setSeed(Long.MAX_VALUE).setBatchCount(2), 100);
        assertEquals("seed", e.field());
        assertTrue(e.getMessage().contains("image i uses seed + i"), e.getMessage());
        e = invalid(GenerationJob.newBuilder().setPrompt("a (cat:1.2.3)"), 100);
        assertEquals("prompt", e.field());
        assertEquals("prompt: the weight in ':1.2.3)' is not a number ('1.2.3'; write it as 1.2, .5 or 2)", e.getMessage());
        e = invalid(GenerationJob.newBuilder().setPrompt("x").setNegativePrompt("(blurry:.)"), 100);
        assertEquals("negative_prompt", e.field());
        assertTrue(e.getMessage().startsWith("negative_prompt: the weight in ':.)'"), e.getMessage());
        assertEquals("negative_prompt", invalid(GenerationJob.newBuilder().setPrompt("x").setNegativePrompt("<lora:a/b:1>"),
                100).field());
    }

    @Test
    void cfgScaleKeepsTheDecimalTheSubmitterWrote() {
        GenerationJob job = Jobs.withDefaults(GenerationJob.newBuilder().setCfgScale(7.3f).setJobId("j").build(), "j");
        assertEquals(7.3, Jobs.toRequest(job, TINY, 100).cfgScale());
    }

    @Test
    void invalidJobsNameTheField() {
        InvalidRequestException e = invalid(GenerationJob.newBuilder().setWidth(65), 100);
        assertEquals("width", e.field());
        assertEquals("width must be a multiple of 8 between 64 and 2048, got 65", e.getMessage());
        assertEquals("height", invalid(GenerationJob.newBuilder().setHeight(4096), 100).field());
        e = invalid(GenerationJob.newBuilder().setSteps(151), 100);
        assertEquals("steps", e.field());
        assertEquals("steps must be between 1 and 150, got 151", e.getMessage());
        e = invalid(GenerationJob.newBuilder().setSampler("warp drive"), 100);
        assertEquals("sampler", e.field());
        assertTrue(e.getMessage().startsWith("unknown sampler 'warp drive'"), e.getMessage());
        assertEquals("scheduler", invalid(GenerationJob.newBuilder().setScheduler("cosine"), 100).field());
        assertEquals("cfg_scale", invalid(GenerationJob.newBuilder().setCfgScale(31), 100).field());
        assertEquals("batch_count", invalid(GenerationJob.newBuilder().setBatchCount(65), 100).field());
        assertEquals("rng", invalid(GenerationJob.newBuilder().setRng("dice"), 100).field());
        e = invalid(GenerationJob.newBuilder().setPrompt("x".repeat(101)), 100);
        assertEquals("prompt", e.field());
        assertEquals("prompt is 101 characters; the limit is 100", e.getMessage());
        assertEquals("negative_prompt", invalid(GenerationJob.newBuilder().setNegativePrompt("y".repeat(101)), 100).field());
        assertEquals("model", invalid(GenerationJob.newBuilder().setModel("sdxl"), 100).field());
        assertEquals("init_image", invalid(GenerationJob.newBuilder()
                .setInitImage(com.google.protobuf.ByteString.copyFromUtf8("png")), 100).field());
        assertEquals("preview_every", invalid(GenerationJob.newBuilder().setPreviewEvery(-1), 100).field());
    }

    @Test
    void limitsOfTheServicesAreCheckedAtSubmission() {
        // tiny-random: a 2-layer text encoder
        assertEquals(2, TINY.textEncoderLayers());
        InvalidRequestException e = invalid(GenerationJob.newBuilder().setClipSkip(3), 100);
        assertEquals("clip_skip", e.field());
        assertEquals("clip_skip must be 1 to 2 (the text encoder's layers), got 3", e.getMessage());
        // sizes: the U-Net service takes latents up to GenerationRequest.MAX_SIZE / the VAE's downscale (ModelSource's
        // maxLatentSide), so a size that passes Submit passes the service: the largest image, 2048, for both models
        for (String name : new String[] {"demo", "tiny-random"}) {
            ModelSpec spec = ModelSpec.open(name);
            try (ModelSource source = ModelSource.open(name, null)) {
                assertEquals(GenerationRequest.MAX_SIZE, source.maxLatentSide() * spec.vaeDownscale(), name);
            }
            Jobs.toRequest(Jobs.withDefaults(GenerationJob.newBuilder().setJobId("j").setWidth(2048).setHeight(2048).build(), "j",
                    64), spec, 100);
        }
        assertEquals("width", invalid(GenerationJob.newBuilder().setWidth(2056), 100).field());
    }

    /** The tiny model attends at latent level 0 with 2 heads: a CFG pair at 512² (64² latents) holds 2·2·4096² floats. */
    @Test
    void aJobWhoseAttentionExceedsTheUnetsBudgetIsRefusedNamingWidth() {
        GenerationJob job = Jobs.withDefaults(GenerationJob.newBuilder().setJobId("a").setPrompt("x").setWidth(512)
                .setHeight(512).build(), "a");
        dev.diffusion.proto.v1.ModelInfo budget = dev.diffusion.proto.v1.ModelInfo.newBuilder().setMaxAttentionBytes(256L << 20).build();
        Jobs.checkAttention(job, TINY, budget); // exactly 256 MiB: fits
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> Jobs.checkAttention(job, TINY, budget.toBuilder().setMaxAttentionBytes((256L << 20) - 1).build()));
        assertEquals("width", e.field());
        assertTrue(e.getMessage().startsWith("512x512 needs 0.25 GiB for attention in one U-Net call (a CFG pair)"), e.getMessage());
        // sliced attention on the service lowers what a job needs; no budget: no limit
        Jobs.checkAttention(job, TINY, budget.toBuilder().setMaxAttentionBytes(128L << 20).setAttentionSliceBytes(64L << 20).build());
        Jobs.checkAttention(job.toBuilder().setWidth(2048).setHeight(2048).build(), TINY,
                dev.diffusion.proto.v1.ModelInfo.getDefaultInstance());
    }

    @Test
    void aJobSentAgainUnderItsIdMustAskForTheSame() {
        GenerationJob known = Jobs.withDefaults(GenerationJob.newBuilder().setJobId("t1").setPrompt("red").setSeed(1)
                .setSubmittedAtMillis(1000).build(), "t1");
        GenerationJob retry = known.toBuilder().setSubmittedAtMillis(2000).setPreviewEvery(1).build();
        assertTrue(JobSubmission.sameSettings(known, retry));
        assertTrue(!JobSubmission.sameSettings(known, known.toBuilder().setPrompt("blue").build()));
        assertTrue(!JobSubmission.sameSettings(known, known.toBuilder().setSeed(2).build()));
    }

    @Test
    void serviceMessagesNameTheJobsField() {
        assertEquals("clip_skip", Jobs.fieldOf("clip_skip: must be 1 to 12 (0 means 1), got 13"));
        assertEquals("steps", Jobs.fieldOf("steps must be between 1 and 150, got 151"));
        assertEquals("width", Jobs.fieldOf("latents: height and width must be at most 256, got 300x8"));
        assertEquals("prompt", Jobs.fieldOf("prompts[1]: too long"));
        // the services get [negative_prompt, prompt]
        assertEquals("negative_prompt", Jobs.fieldOf("prompts[0]: prompt is 2000 tokens; the limit is 750"));
        assertEquals("loras", Jobs.fieldOf("loras: the job asks for LoRA foo but this service has no LoRA folder"));
        assertEquals("", Jobs.fieldOf("the unet is still loading"));
        assertEquals("", Jobs.fieldOf(null));
    }

    @Test
    void serviceRefusalsReadInTheJobsTerms() {
        assertEquals("prompt: prompt is 300 tokens; the limit is 225",
                Jobs.refusalMessage("prompts[1]: prompt is 300 tokens; the limit is 225"));
        assertEquals("negative_prompt: 20001 characters; the limit is 20000",
                Jobs.refusalMessage("prompts[0]: 20001 characters; the limit is 20000"));
        assertEquals("clip_skip: must be 1 to 12 (0 means 1), got 13",
                Jobs.refusalMessage("clip_skip: must be 1 to 12 (0 means 1), got 13"));
        assertEquals("model service refused the job: latents: height and width must be at most 256, got 300x8",
                Jobs.refusalMessage("latents: height and width must be at most 256, got 300x8"));
        assertEquals("model service refused the job", Jobs.refusalMessage(""));
    }

    @Test
    void jsonJobsUseTheProto3JsonMapping() throws Exception {
        RecordHeaders headers = new RecordHeaders();
        headers.add(Codec.CONTENT_TYPE, "application/json".getBytes(StandardCharsets.UTF_8));
        GenerationJob job = Codec.parseJob("{\"jobId\":\"j1\",\"prompt\":\"a red circle\",\"steps\":20,\"seed\":42}"
                .getBytes(StandardCharsets.UTF_8), headers);
        assertEquals(GenerationJob.newBuilder().setJobId("j1").setPrompt("a red circle").setSteps(20).setSeed(42).build(), job);
        // the proto field names are accepted too
        assertEquals("j2", Codec.parseJob("{\"job_id\":\"j2\",\"cfg_scale\":5}".getBytes(StandardCharsets.UTF_8), headers)
                .getJobId());
        assertThrows(InvalidProtocolBufferException.class,
                () -> Codec.parseJob("{\"prompt\":".getBytes(StandardCharsets.UTF_8), headers));
        assertThrows(InvalidProtocolBufferException.class,
                () -> Codec.parseJob("{\"colour\":\"red\"}".getBytes(StandardCharsets.UTF_8), headers));
        // without the header the bytes are protobuf: JSON text is not a valid job
        assertThrows(InvalidProtocolBufferException.class,
                () -> Codec.parseJob("{\"prompt\":\"x\"}".getBytes(StandardCharsets.UTF_8), new RecordHeaders()));
        assertThrows(InvalidProtocolBufferException.class, () -> Codec.parseJob(new byte[0], new RecordHeaders()));
    }

    @Test
    void eventsRoundTripInBothFormats() throws Exception {
        var event = JobRunner.failed("j", "steps", "steps must be between 1 and 150, got 151", "INVALID_ARGUMENT");
        RecordHeaders json = new RecordHeaders();
        json.add(Codec.CONTENT_TYPE, Codec.contentType(true));
        assertEquals(event, Codec.parseEvent(Codec.encode(event, true), json));
        assertTrue(new String(Codec.encode(event, true), StandardCharsets.UTF_8).contains("\"type\":\"FAILED\""));
        assertEquals(event, Codec.parseEvent(Codec.encode(event, false), new RecordHeaders()));
    }
}
