package dev.diffusion.orchestrator;

import com.google.protobuf.ByteString;
import dev.diffusion.core.image.GenerationParameters;
import dev.diffusion.core.image.Png;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import dev.diffusion.core.sampling.GuidedSampling;
import dev.diffusion.core.sampling.LatentShape;
import dev.diffusion.core.sampling.SamplerState;
import dev.diffusion.core.sampling.SamplingLoop;
import dev.diffusion.proto.Tensors;
import dev.diffusion.proto.v1.Cancelled;
import dev.diffusion.proto.v1.Completed;
import dev.diffusion.proto.v1.EncodeTextResponse;
import dev.diffusion.proto.v1.Failed;
import dev.diffusion.proto.v1.GeneratedImage;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.Progress;
import io.grpc.StatusRuntimeException;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * One job over the three services: encode the prompts (and the init image, for img2img), then per image the
 * {@link GuidedSampling} loop that {@link StableDiffusionPipeline} runs too, with the U-Net service as its predictor,
 * then decode — so its image equals the in-process pipeline's bit for bit. The sampler state lives here, per job; the
 * services hold none.
 */
public final class JobRunner {
    private static final Logger LOG = Logger.getLogger(JobRunner.class);

    /** Why a job stops between steps. */
    public enum Stop { NONE, CANCEL, ABANDON }

    public interface StopCheck {
        Stop check();
    }

    private final ModelClients clients;
    private final ModelSpec model;
    private final Optional<Path> outputDir;
    private final Timer stepTimer;
    private final long maxEventBytes;
    private final LatentPreview preview;

    /**
     * @param maxEventBytes the largest event the events topic takes (its {@code max.message.bytes}, less headroom for
     *                      the record's key and headers): a COMPLETED event above it carries the images' locations
     *                      only (with an output dir), or the job FAILs saying why
     */
    public JobRunner(ModelClients clients, ModelSpec model, Optional<Path> outputDir, MeterRegistry metrics,
                     long maxEventBytes) {
        this.clients = clients;
        this.model = model;
        this.outputDir = outputDir;
        this.maxEventBytes = maxEventBytes;
        this.preview = new LatentPreview(clients);
        this.stepTimer = Timer.builder("diffusion.job.step").description("one sampling step: U-Net call, guidance, sampler")
                .register(metrics);
    }

    /**
     * Runs a validated job, emitting STARTED and PROGRESS; returns the final event (COMPLETED, FAILED or CANCELLED),
     * or empty when the job was abandoned (its partition moved to another orchestrator, which runs it again).
     */
    public Optional<JobEvent> run(GenerationJob job, GenerationRequest request, StopCheck stop, Consumer<JobEvent> emit) {
        String id = job.getJobId();
        long t0 = System.currentTimeMillis();
        emit.accept(event(id, JobEvent.Type.STARTED).build());
        ModelClients.Interrupt interrupt = () -> stop.check() != Stop.NONE;
        try {
            List<LoraRef> loras = Jobs.loras(job);
            EncodeTextResponse encoded = clients.encode(List.of(request.negativePrompt(), request.prompt()), request.clipSkip(),
                    request.commaBacktrack(), loras, interrupt);
            Map<String, String> loraHashes = new LinkedHashMap<>();
            loras.forEach(l -> loraHashes.put(l.name(), encoded.getLoraHashesOrDefault(l.name(), "")));
            // per prompt [77 × chunks, D]: a long prompt and a short negative prompt run at their own lengths
            float[] uncondContext = Tensors.floats(encoded.getPromptHiddenStates(0), "prompt_hidden_states[0]");
            float[] condContext = Tensors.floats(encoded.getPromptHiddenStates(1), "prompt_hidden_states[1]");
            int hidden = (int) encoded.getPromptHiddenStates(1).getShape(1);
            boolean padded = StableDiffusionPipeline.padded(request, uncondContext.length, condContext.length);
            if (padded) { // A1111's pad_cond_uncond: the empty prompt's chunk, encoded as the prompts are
                float[] empty = Tensors.floats(clients.encode(List.of(""), request.clipSkip(), 0, loras, interrupt)
                        .getPromptHiddenStates(0), "prompt_hidden_states[0]");
                float[][] pair = GuidedSampling.padCondUncond(uncondContext, condContext, empty);
                uncondContext = pair[0];
                condContext = pair[1];
            }
            int lh = request.height() / model.vaeDownscale();
            int lw = request.width() / model.vaeDownscale();
            int channels = model.latentChannels();
            float[] initLatent = request.initImage() == null ? null
                    : clients.encodeImage(request.initImage().rgb(), request.height(), request.width(), interrupt)
                            .mode(model.scalingFactor(), model.shiftFactor());
            GuidedSampling.BatchPredictor unet = (latents, shape, timesteps, ctx) -> clients.predict(latents, shape.batch(),
                    shape.height(), shape.width(), shape.channels(), timesteps, ctx, ctx.length / (shape.batch() * hidden),
                    hidden, loras, interrupt);
            Completed.Builder completed = Completed.newBuilder();
            byte[] maskPixels = StableDiffusionPipeline.inpaintPixels(request); // once for all the job's images
            for (int image = 0; image < request.batchCount(); image++) {
                long seed = request.seed() + image;
                SamplingLoop loop = StableDiffusionPipeline.samplingLoop(request, model.schedulerConfig());
                SamplerState state = StableDiffusionPipeline.startState(request, loop, seed, initLatent,
                        LatentShape.nhwc(1, channels, lh, lw), maskPixels);
                int imageIndex = image;
                Stop[] stoppedBy = {Stop.NONE};
                float[] latent = new GuidedSampling(loop, unet, uncondContext, condContext, request.cfgScale()).run(state, new GuidedSampling.Observer() {
                    @Override
                    public boolean proceed(SamplerState s) {
                        stoppedBy[0] = stop.check();
                        return stoppedBy[0] == Stop.NONE;
                    }

                    @Override
                    public void onStep(GuidedSampling.Step step) {
                        stepTimer.record(step.nanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
                        Progress.Builder progress = Progress.newBuilder().setStep(step.number()).setTotalSteps(step.total())
                                .setImageIndex(imageIndex).setImageCount(request.batchCount())
                                .setStepMillis(step.nanos() / 1_000_000);
                        if (job.getPreviewEvery() > 0 && step.number() % job.getPreviewEvery() == 0) {
                            preview.png(step.denoised(), lh, lw).ifPresent(png -> progress.setPreviewPng(ByteString.copyFrom(png)));
                        }
                        emit.accept(event(id, JobEvent.Type.PROGRESS).setProgress(progress).build());
                    }
                });
                if (latent == null) {
                    return stoppedBy[0] == Stop.ABANDON ? Optional.empty()
                            : Optional.of(cancelled(id, "cancelled by request", state.stepIndex()));
                }
                byte[] rgb = StableDiffusionPipeline.finished(request, clients.decode(latent, lh, lw, channels, interrupt),
                        maskPixels);
                GenerationParameters parameters = StableDiffusionPipeline.withPadConds(StableDiffusionPipeline.withLoraHashes(
                        StableDiffusionPipeline.parameters(request, seed, model.name()), loraHashes), padded);
                Map<String, String> text = new LinkedHashMap<>();
                text.put("parameters", parameters.format());
                byte[] png = Png.encodeRgb(request.width(), request.height(), rgb, text);
                GeneratedImage.Builder out = GeneratedImage.newBuilder().setIndex(image).setSeed(seed)
                        .setWidth(request.width()).setHeight(request.height()).setParameters(parameters.format())
                        .setPng(ByteString.copyFrom(png));
                if (outputDir.isPresent()) {
                    out.setLocation(write(outputDir.get(), id, image, request.batchCount(), png));
                }
                completed.addImages(out);
            }
            completed.setTotalMillis(System.currentTimeMillis() - t0);
            return Optional.of(fitted(event(id, JobEvent.Type.COMPLETED).setCompleted(completed).build()));
        } catch (ModelClients.Stopped e) {
            Optional<JobEvent> stopped = stopped(stop, id, 0);
            return stopped != null ? stopped : Optional.of(failed(id, "", e.getMessage(), "ABORTED"));
        } catch (ModelClients.ServiceFailure e) {
            if (stop.check() == Stop.ABANDON) {
                return Optional.empty();
            }
            LOG.warnf("job %s failed: %s", id, e.getMessage());
            return Optional.of(failed(id, "", e.getMessage(), e.code().name()));
        } catch (StatusRuntimeException e) {
            if (stop.check() == Stop.ABANDON) {
                return Optional.empty();
            }
            // not retried: the service refused this job's input (INVALID_ARGUMENT, ...), naming its own field
            String description = e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription();
            LOG.warnf("job %s failed: %s", id, e.getStatus());
            return Optional.of(failed(id, Jobs.fieldOf(description), Jobs.refusalMessage(description),
                    e.getStatus().getCode().name()));
        } catch (RuntimeException e) {
            LOG.errorf(e, "job %s failed", id);
            return Optional.of(failed(id, "", e.toString(), "INTERNAL"));
        }
    }

    /**
     * The COMPLETED event as it can be written: with its PNG bytes when it fits the events topic; else, when the
     * images were written to the output dir, with their locations only; else a FAILED event that says why.
     */
    JobEvent fitted(JobEvent completed) {
        if (completed.getSerializedSize() <= maxEventBytes) {
            return completed;
        }
        boolean located = completed.getCompleted().getImagesList().stream().noneMatch(i -> i.getLocation().isEmpty());
        if (located) {
            JobEvent.Builder b = completed.toBuilder();
            b.getCompletedBuilder().getImagesBuilderList().forEach(GeneratedImage.Builder::clearPng);
            LOG.infof("job %s: %d bytes of images exceed the events topic's limit (%d): the event carries their locations",
                    completed.getJobId(), completed.getSerializedSize(), maxEventBytes);
            return b.build();
        }
        return failed(completed.getJobId(), "batch_count", "the images (" + completed.getSerializedSize()
                + " bytes) do not fit in one event of the events topic (max.message.bytes allows " + maxEventBytes
                + "); ask for fewer or smaller images, or set diffusion.jobs.output-dir so that images are written there"
                + " and the event carries their locations", "RESOURCE_EXHAUSTED");
    }

    /** null to go on; the CANCELLED event, or empty for an abandoned job. */
    private static Optional<JobEvent> stopped(StopCheck stop, String id, int stepsDone) {
        return switch (stop.check()) {
            case NONE -> null;
            case ABANDON -> Optional.empty();
            case CANCEL -> Optional.of(cancelled(id, "cancelled by request", stepsDone));
        };
    }

    private static String write(Path dir, String id, int image, int count, byte[] png) {
        String safe = id.replaceAll("[^A-Za-z0-9._-]", "_");
        Path file = dir.resolve(count == 1 ? safe + ".png" : safe + "-" + image + ".png");
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, safe, ".tmp");
            Files.write(tmp, png);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return file.toAbsolutePath().toString();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    public static JobEvent.Builder event(String jobId, JobEvent.Type type) {
        return JobEvent.newBuilder().setJobId(jobId).setType(type).setTimestampMillis(System.currentTimeMillis());
    }

    public static JobEvent failed(String jobId, String field, String reason, String code) {
        return event(jobId, JobEvent.Type.FAILED)
                .setFailed(Failed.newBuilder().setField(field).setReason(reason).setCode(code)).build();
    }

    public static JobEvent cancelled(String jobId, String reason, int stepsDone) {
        return event(jobId, JobEvent.Type.CANCELLED)
                .setCancelled(Cancelled.newBuilder().setReason(reason).setStepsDone(stepsDone)).build();
    }

    public static boolean isFinal(JobEvent.Type type) {
        return type == JobEvent.Type.COMPLETED || type == JobEvent.Type.FAILED || type == JobEvent.Type.CANCELLED;
    }
}
