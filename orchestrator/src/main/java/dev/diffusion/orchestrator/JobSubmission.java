package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.core.sampling.SamplerSpec;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * The one way a job enters through an API of this orchestrator (gRPC Submit/Generate and the HTTP APIs): an id and a
 * seed where it has none, validation naming the field, then a record on the jobs topic, the same path as a job sent
 * to Kafka directly. Events are read back from the events topic through the {@link JobStore}.
 */
@ApplicationScoped
public class JobSubmission {
    private static final Duration READ_BACK = Duration.ofSeconds(30);

    @Inject
    Orchestrator orchestrator;

    /** The job with an id, a random 32-bit seed (where it has none or -1) and every default; throws {@link InvalidRequestException}. */
    public GenerationJob accept(GenerationJob request) {
        GenerationJob.Builder b = request.toBuilder();
        if (b.getJobId().isEmpty()) {
            b.setJobId(UUID.randomUUID().toString());
        }
        Jobs.checkJobId(b.getJobId());
        Optional<GenerationJob> known = orchestrator.store().status(b.getJobId())
                .filter(s -> s.hasJob()).map(s -> s.getJob());
        if (known.isPresent() && (!b.hasSeed() || b.getSeed() == -1)) {
            b.setSeed(known.get().getSeed()); // the same job sent again (a client's retry): its seed was drawn then
        }
        if (!b.hasSeed() || b.getSeed() == -1) {
            b.setSeed(ThreadLocalRandom.current().nextLong(1L << 32));
        }
        if (b.getSubmittedAtMillis() == 0) {
            b.setSubmittedAtMillis(System.currentTimeMillis());
        }
        GenerationJob job = Jobs.withDefaults(b.build(), b.getJobId(), orchestrator.model().nativeImageSize());
        Jobs.toRequest(job, orchestrator.model(), orchestrator.config().jobs().maxPromptChars());
        orchestrator.unetInfo().ifPresent(info -> Jobs.checkAttention(job, orchestrator.model(), info));
        checkSize(job, orchestrator.maxJobBytes());
        if (known.isPresent() && !sameSettings(known.get(), job)) {
            throw new InvalidRequestException("job_id", "job id '" + job.getJobId() + "' is taken by a job with other settings;"
                    + " a job id names one job: send it again only with the same settings (to get that job), or use a new id");
        }
        return job;
    }

    /**
     * Refuses a job too large for one record of the jobs topic, naming its largest image (or the job): Kafka would
     * refuse the record.
     */
    static void checkSize(GenerationJob job, long maxBytes) {
        int size = job.getSerializedSize();
        if (size <= maxBytes) {
            return;
        }
        String field = job.getInitImage().size() >= job.getMask().size() ? "init_image" : "mask";
        int image = Math.max(job.getInitImage().size(), job.getMask().size());
        if (image < size / 2) {
            field = "job";
        }
        throw new InvalidRequestException(field, "the job is " + size + " bytes" + (field.equals("job") ? ""
                : " with its " + field + " of " + image + " bytes") + "; one record of the jobs topic takes at most " + maxBytes
                + " (its max.message.bytes and the producer's max.request.size): send a smaller PNG");
    }

    /**
     * Whether a job sent again under a known id asks for what the known one asked: every setting but when it was
     * sent, how often it reports previews, and the init image and mask (the store keeps jobs without them); a sampler
     * and scheduler compare by what they resolve to ("Euler" = "euler" with "discrete" or none).
     */
    static boolean sameSettings(GenerationJob known, GenerationJob again) {
        return neutral(known).equals(neutral(again));
    }

    private static GenerationJob neutral(GenerationJob job) {
        GenerationJob.Builder b = job.toBuilder().clearSubmittedAtMillis().clearPreviewEvery().clearInitImage().clearMask();
        try {
            SamplerSpec spec = new GenerationRequest("", "", GenerationRequest.MIN_SIZE, GenerationRequest.MIN_SIZE, 1,
                    job.getSampler(), job.getScheduler().isEmpty() ? null : job.getScheduler(), 1, 0, 1, 1, null).samplerSpec();
            b.setSampler(spec.kind().name()).setScheduler(spec.karras() ? "karras" : "discrete");
        } catch (RuntimeException e) {
            // not a sampler: compared as written
        }
        return b.setRng(job.getRng().toLowerCase(java.util.Locale.ROOT)).build();
    }

    /** Writes an accepted job to the jobs topic (unless its id is known already) and waits until the store has read it. */
    public void enqueue(GenerationJob job) throws InterruptedException {
        if (orchestrator.store().knows(job.getJobId())) {
            return;
        }
        EventPublisher.TopicPartitionOffset at = orchestrator.publisher().submit(job);
        // read-your-writes: once this returns, Get/Watch on this orchestrator know the job
        orchestrator.store().awaitRead(at.partition(), at.offset(), READ_BACK);
    }

    /**
     * Calls {@code listener} with the latest event so far and each new one (previews included) until the final
     * event, which the returned future completes with.
     */
    public CompletableFuture<JobEvent> watch(String jobId, Consumer<JobEvent> listener) {
        CompletableFuture<JobEvent> done = new CompletableFuture<>();
        Object lock = new Object();
        Consumer<JobEvent> each = event -> {
            synchronized (lock) {
                if (done.isDone()) {
                    return;
                }
                listener.accept(event);
                if (JobRunner.isFinal(event.getType())) {
                    done.complete(event);
                }
            }
        };
        synchronized (lock) {
            Optional<JobEvent> last = orchestrator.store().watch(jobId, each, true);
            last.ifPresent(each);
        }
        done.whenComplete((e, t) -> orchestrator.store().unwatch(jobId, each));
        return done;
    }

    /** The final event, read back with the job's images (the store's final event may have dropped them), or empty after {@code timeout}. */
    public Optional<JobEvent> awaitFinal(CompletableFuture<JobEvent> watching, Duration timeout) throws InterruptedException {
        try {
            JobEvent last = watching.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return Optional.of(orchestrator.store().status(last.getJobId()).filter(s -> s.hasLastEvent()
                    && JobRunner.isFinal(s.getLastEvent().getType())).map(s -> s.getLastEvent()).orElse(last));
        } catch (TimeoutException e) {
            return Optional.empty();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Asks for the job's cancellation (when it has no final event yet) and waits until the store has read the request. */
    public boolean cancel(String jobId) throws InterruptedException {
        JobStore store = orchestrator.store();
        if (!store.knows(jobId)) {
            return false;
        }
        if (!store.hasFinalEvent(jobId)) {
            EventPublisher.TopicPartitionOffset at = orchestrator.publisher().cancel(jobId);
            store.awaitRead(at.partition(), at.offset(), READ_BACK);
        }
        return true;
    }

    public Orchestrator orchestrator() {
        return orchestrator;
    }
}
