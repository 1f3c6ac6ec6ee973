package dev.diffusion.orchestrator.http;

import dev.diffusion.orchestrator.JobSubmission;
import dev.diffusion.orchestrator.ModelSpec;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.Progress;
import io.vertx.core.http.HttpServerResponse;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The jobs submitted over HTTP to this orchestrator (A1111, OpenAI and the page), newest last, with their latest event
 * and latent preview: what {@code /sdapi/v1/progress} and the page show. Each is a normal job (see
 * {@link JobSubmission}); this only remembers the last {@link #REMEMBERED} of them, without their images.
 */
@ApplicationScoped
public class HttpJobs {
    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(HttpJobs.class);
    static final int REMEMBERED = 50;
    /** Every step of an HTTP job carries a preview (one pixel per latent pixel: cheap). */
    static final int PREVIEW_EVERY = 1;
    /** How long a request waits for its job's final event before answering 504 (the job goes on). */
    static final Duration WAIT = Duration.ofMinutes(30);

    @Inject
    JobSubmission submission;

    /** One job as the HTTP side sees it. */
    public static final class Tracked {
        public final GenerationJob job;
        public final long submittedMillis = System.currentTimeMillis();
        /** Whether this submission created the job (its id was not known before). */
        final boolean created;
        final CompletableFuture<JobEvent> done;
        private volatile JobEvent last;
        private volatile Progress lastProgress;
        private volatile byte[] preview;
        private volatile long startedMillis;

        Tracked(GenerationJob job, boolean created, CompletableFuture<JobEvent> done) {
            this.job = job;
            this.created = created;
            this.done = done;
        }

        void onEvent(JobEvent e) {
            last = e;
            if (e.getType() == JobEvent.Type.STARTED) {
                startedMillis = e.getTimestampMillis();
            }
            if (e.hasProgress()) {
                lastProgress = e.getProgress();
                if (!e.getProgress().getPreviewPng().isEmpty()) {
                    preview = e.getProgress().getPreviewPng().toByteArray();
                }
                if (startedMillis == 0) {
                    startedMillis = e.getTimestampMillis() - e.getProgress().getStepMillis();
                }
            }
        }

        public String id() {
            return job.getJobId();
        }

        public JobEvent lastEvent() {
            return last;
        }

        public Progress lastProgress() {
            return lastProgress;
        }

        public byte[] preview() {
            return preview;
        }

        public long startedMillis() {
            return startedMillis;
        }

        public boolean finished() {
            return done.isDone();
        }

        /** Share of the job's sampling steps done, 0 to 1 (all images of the batch). */
        public double fraction() {
            if (last != null && last.getType() == JobEvent.Type.COMPLETED) {
                return 1;
            }
            Progress p = lastProgress;
            if (p == null || p.getTotalSteps() == 0) {
                return 0;
            }
            return (p.getImageIndex() * (double) p.getTotalSteps() + p.getStep()) / ((double) p.getTotalSteps() * p.getImageCount());
        }
    }

    private final Map<String, Tracked> recent = new LinkedHashMap<>();

    /** Accepts (throws InvalidRequestException naming the field), enqueues on the jobs topic and starts watching. */
    public Tracked submit(GenerationJob request) throws InterruptedException {
        boolean created = request.getJobId().isEmpty() || !submission.orchestrator().store().knows(request.getJobId());
        GenerationJob job = submission.accept(request.toBuilder().setPreviewEvery(PREVIEW_EVERY).build());
        submission.enqueue(job);
        Tracked[] holder = new Tracked[1];
        List<JobEvent> early = new ArrayList<>();
        CompletableFuture<JobEvent> done = submission.watch(job.getJobId(), e -> {
            synchronized (early) {
                if (holder[0] == null) {
                    early.add(e);
                    return;
                }
            }
            holder[0].onEvent(e);
        });
        Tracked t = new Tracked(job.toBuilder().clearInitImage().clearMask().build(), created, done); // without its megabytes
        synchronized (early) {
            early.forEach(t::onEvent);
            holder[0] = t;
        }
        synchronized (recent) {
            recent.put(t.id(), t);
            if (recent.size() > REMEMBERED) {
                recent.remove(recent.keySet().iterator().next());
            }
        }
        return t;
    }

    /**
     * The final event with the images, or empty when it did not come within {@link #WAIT}. Should the client hang up
     * first, the job is cancelled if this request created it ({@code diffusion.api.cancel-on-disconnect}).
     */
    public Optional<JobEvent> awaitFinal(Tracked t, HttpServerResponse response) throws InterruptedException {
        if (t.created && submission.orchestrator().config().api().cancelOnDisconnect()) {
            response.closeHandler(closed -> {
                if (!t.finished()) {
                    CompletableFuture.runAsync(() -> { // off the event loop: cancelling writes to Kafka and waits
                        try {
                            LOG.infof("job %s: the HTTP client hung up before the answer; cancelling it", t.id());
                            submission.cancel(t.id());
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        } catch (RuntimeException e) {
                            LOG.warnf("job %s: cancelling after the client hung up failed: %s", t.id(), e.toString());
                        }
                    });
                }
            });
        }
        return submission.awaitFinal(t.done, WAIT);
    }

    public boolean cancel(String jobId) throws InterruptedException {
        return submission.cancel(jobId);
    }

    /** Newest first. */
    public List<Tracked> recent() {
        synchronized (recent) {
            List<Tracked> out = new ArrayList<>(recent.values());
            java.util.Collections.reverse(out);
            return out;
        }
    }

    public Optional<Tracked> get(String jobId) {
        synchronized (recent) {
            return Optional.ofNullable(recent.get(jobId));
        }
    }

    /**
     * A1111's "current job": the most recently submitted HTTP job that is sampling (has started and not finished), else
     * the most recent one still queued.
     */
    public Optional<Tracked> current() {
        List<Tracked> open = recent().stream().filter(t -> !t.finished()).toList();
        return open.stream().filter(t -> t.startedMillis() > 0).findFirst().or(() -> open.stream().findFirst());
    }

    public ModelSpec model() {
        return submission.orchestrator().model();
    }

    public JobSubmission submission() {
        return submission;
    }
}
