package dev.diffusion.orchestrator;

import dev.diffusion.proto.v1.GeneratedImage;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

/**
 * Every orchestrator's view of all jobs: it reads the jobs, events and control topics (all partitions, no consumer
 * group, read_committed so aborted final events are never seen) into a map job id → job, latest event, cancel flag.
 * Get and Watch answer from it wherever the job runs; the job consumer asks it whether a delivered job already has a
 * final event (dedupe), after {@link #awaitCaughtUp} so that no event already written is missed.
 *
 * <p>Memory is bounded: at most {@code remembered} jobs, no previews or init images, PNG bytes of the newest results
 * only within {@code imageBytes} (older ones are read back from the events topic when asked for), and at startup
 * only the last {@code windowHours} of the topics are read. A 64-bit hash of every job id with a final event within
 * that window is kept (8 bytes a job) so dedupe does not depend on the map's size.
 */
public final class JobStore implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(JobStore.class);

    /** What is known of one job. */
    static final class Entry {
        GenerationJob job;
        JobEvent lastEvent;
        JobEvent finalEvent;
        /** Where the final event is, to read its PNG bytes back once they were dropped from memory. */
        TopicPartition finalAt;
        long finalOffset = -1;
        boolean imagesDropped;
        boolean cancelRequested;
        final List<Consumer<JobEvent>> listeners = new ArrayList<>();
    }

    /** The store's bounds. */
    public record Limits(int remembered, long imageBytes, int windowHours) {}

    private final String jobsTopic;
    private final String eventsTopic;
    private final String controlTopic;
    private final Properties props;
    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaConsumer<String, byte[]> endOffsets; // only for endOffsets() and read-back: used under its own lock
    private final Map<String, Entry> jobs;
    private final LongHashSet finished = new LongHashSet();
    /** Jobs whose final event holds PNG bytes, oldest first, and those bytes' total. */
    private final Deque<String> withImages = new ArrayDeque<>();
    private long imageBytesHeld;
    private final Map<TopicPartition, Long> positions = new HashMap<>();
    private final Thread thread;
    private final Limits limits;
    private volatile boolean running = true;
    private volatile boolean caughtUpOnce;
    private final int defaultSide;
    private List<TopicPartition> partitions = List.of();

    /**
     * @param common      the Kafka settings of every client (bootstrap servers, security)
     * @param defaultSide the width and height of a job that gives none (the model's native size)
     */
    public JobStore(Properties common, String jobsTopic, String eventsTopic, String controlTopic, Limits limits,
                    int defaultSide) {
        this.defaultSide = defaultSide;
        this.jobsTopic = jobsTopic;
        this.eventsTopic = eventsTopic;
        this.controlTopic = controlTopic;
        this.limits = limits;
        this.jobs = new LinkedHashMap<>(16, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Entry> eldest) {
                if (size() > limits.remembered() && eldest.getValue().listeners.isEmpty()) {
                    dropImages(eldest.getValue());
                    return true;
                }
                return false;
            }
        };
        this.props = props(common);
        this.consumer = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        this.endOffsets = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        this.thread = new Thread(this::loop, "job-store");
        this.thread.setDaemon(true);
    }

    private static Properties props(Properties common) {
        Properties p = new Properties();
        p.putAll(common);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(16 * 1024 * 1024));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "diffusion-orchestrator-store");
        return p;
    }

    /** Assigns every partition of the three topics and seeks to the start of the window. */
    public void start() {
        List<TopicPartition> all = new ArrayList<>();
        for (String topic : List.of(jobsTopic, eventsTopic, controlTopic)) {
            consumer.partitionsFor(topic, Duration.ofSeconds(30))
                    .forEach(p -> all.add(new TopicPartition(p.topic(), p.partition())));
        }
        partitions = List.copyOf(all);
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        long from = System.currentTimeMillis() - Duration.ofHours(limits.windowHours()).toMillis();
        Map<TopicPartition, Long> query = new HashMap<>();
        partitions.forEach(tp -> query.put(tp, from));
        Map<TopicPartition, OffsetAndTimestamp> starts = consumer.offsetsForTimes(query, Duration.ofSeconds(30));
        Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, Duration.ofSeconds(30));
        for (TopicPartition tp : partitions) {
            OffsetAndTimestamp at = starts.get(tp);
            if (at != null) {
                consumer.seek(tp, at.offset());
            } else if (ends.get(tp) != null && from > 0) {
                // nothing newer than the window start: only what is written from now on
                consumer.seek(tp, ends.get(tp));
            }
        }
        thread.start();
    }

    private void loop() {
        try {
            while (running) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    try {
                        apply(r);
                    } catch (Exception e) {
                        LOG.debugf("job store skips %s-%d@%d: %s", r.topic(), r.partition(), r.offset(), e.getMessage());
                    }
                }
                synchronized (this) {
                    for (TopicPartition tp : partitions) {
                        positions.put(tp, consumer.position(tp));
                    }
                    notifyAll();
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            LOG.error("job store stopped: /q/health/live reports DOWN", e);
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    private void apply(ConsumerRecord<String, byte[]> r) throws Exception {
        if (r.value() == null) {
            return;
        }
        if (r.topic().equals(jobsTopic)) {
            GenerationJob parsed = Codec.parseJob(r.value(), r.headers());
            if (!parsed.getJobId().isEmpty() && !parsed.getJobId().equals(r.key())) {
                return; // runs as its re-keyed copy (JobConsumer's rule), which this store reads too
            }
            // the init image can be megabytes: Get shows the job without it
            GenerationJob job = Jobs.withDefaults(parsed, JobConsumer.fallbackId(r), defaultSide).toBuilder().clearInitImage()
                    .clearMask().build();
            synchronized (this) {
                Entry e = jobs.computeIfAbsent(job.getJobId(), k -> new Entry());
                if (e.job == null) {
                    e.job = job;
                }
            }
        } else if (r.topic().equals(eventsTopic)) {
            JobEvent event = Codec.parseEvent(r.value(), r.headers());
            List<Consumer<JobEvent>> listeners;
            synchronized (this) {
                Entry e = jobs.computeIfAbsent(event.getJobId(), k -> new Entry());
                if (e.finalEvent != null) {
                    return; // the first final event is the job's outcome; anything later (a duplicate) is ignored
                }
                boolean isFinal = JobRunner.isFinal(event.getType());
                listeners = List.copyOf(e.listeners);
                // a preview is for the watchers of this moment: the store keeps the step, not the picture
                e.lastEvent = event.hasProgress() && !event.getProgress().getPreviewPng().isEmpty()
                        ? event.toBuilder().setProgress(event.getProgress().toBuilder().clearPreviewPng()).build() : event;
                if (isFinal) {
                    e.finalEvent = e.lastEvent;
                    e.finalAt = new TopicPartition(r.topic(), r.partition());
                    e.finalOffset = r.offset();
                    finished.add(hash(event.getJobId()));
                    e.listeners.clear();
                    holdImages(event.getJobId(), e);
                }
            }
            for (Consumer<JobEvent> l : listeners) {
                try {
                    l.accept(event);
                } catch (RuntimeException ex) {
                    LOG.debug("watcher failed", ex);
                }
            }
        } else if (r.topic().equals(controlTopic) && r.key() != null) {
            synchronized (this) {
                jobs.computeIfAbsent(r.key(), k -> new Entry()).cancelRequested = true;
            }
        }
    }

    private static long imageBytes(JobEvent event) {
        long n = 0;
        for (GeneratedImage i : event.getCompleted().getImagesList()) {
            n += i.getPng().size();
        }
        return n;
    }

    /** Counts a new result's PNG bytes and drops the oldest results' bytes past the budget. */
    private void holdImages(String jobId, Entry e) {
        long n = imageBytes(e.finalEvent);
        if (n == 0) {
            return;
        }
        withImages.addLast(jobId);
        imageBytesHeld += n;
        while (imageBytesHeld > limits.imageBytes() && !withImages.isEmpty()) {
            Entry oldest = jobs.get(withImages.pollFirst());
            if (oldest != null) {
                dropImages(oldest);
            }
        }
    }

    private void dropImages(Entry e) {
        if (e.finalEvent == null || e.imagesDropped || !e.finalEvent.hasCompleted()) {
            return;
        }
        long n = imageBytes(e.finalEvent);
        if (n == 0) {
            return;
        }
        imageBytesHeld -= n;
        JobEvent.Builder b = e.finalEvent.toBuilder();
        b.getCompletedBuilder().getImagesBuilderList().forEach(GeneratedImage.Builder::clearPng);
        e.finalEvent = b.build();
        if (e.lastEvent != null && JobRunner.isFinal(e.lastEvent.getType())) {
            e.lastEvent = e.finalEvent;
        }
        e.imagesDropped = true;
    }

    /** PNG bytes held in memory now (for tests and metrics). */
    public synchronized long imageBytesHeld() {
        return imageBytesHeld;
    }

    public synchronized int size() {
        return jobs.size();
    }

    static long hash(String jobId) {
        // FNV-1a 64 over UTF-8: a collision would make a new job look finished; at 2^-64 per pair it does not happen
        long h = 0xcbf29ce484222325L;
        for (byte b : jobId.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    /** Waits until this store has read everything written (and committed) to its topics before the call. */
    public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
        Map<TopicPartition, Long> ends;
        try {
            synchronized (endOffsets) {
                ends = endOffsets.endOffsets(partitions, timeout);
            }
        } catch (org.apache.kafka.common.KafkaException e) {
            return false; // the broker does not answer: the caller decides on what the store has
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (true) {
                boolean done = true;
                for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
                    if (positions.getOrDefault(e.getKey(), 0L) < e.getValue()) {
                        done = false;
                        break;
                    }
                }
                if (done) {
                    caughtUpOnce = true;
                    return true;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || !running) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
        }
    }

    /** Waits until the store has read the record at {@code offset} of {@code tp} (read-your-writes). */
    public boolean awaitRead(TopicPartition tp, long offset, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (positions.getOrDefault(tp, 0L) <= offset) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !running) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
            return true;
        }
    }

    public boolean ready() {
        return caughtUpOnce && thread.isAlive();
    }

    public boolean alive() {
        return thread.isAlive();
    }

    /** A job record with this id was read (not just an event or a cancel request). */
    public synchronized boolean knows(String jobId) {
        Entry e = jobs.get(jobId);
        return e != null && (e.job != null || e.lastEvent != null);
    }

    /** The job had a final event within the window, remembered or not. */
    public synchronized boolean hasFinalEvent(String jobId) {
        Entry e = jobs.get(jobId);
        return (e != null && e.finalEvent != null) || finished.contains(hash(jobId));
    }

    public synchronized boolean cancelRequested(String jobId) {
        Entry e = jobs.get(jobId);
        return e != null && e.cancelRequested;
    }

    public Optional<JobStatus> status(String jobId) {
        TopicPartition at;
        long offset;
        synchronized (this) {
            Entry e = jobs.get(jobId);
            if (e == null) {
                return Optional.empty();
            }
            if (!e.imagesDropped) {
                return Optional.of(status(jobId, e, e.lastEvent));
            }
            at = e.finalAt;
            offset = e.finalOffset;
        }
        // the PNG bytes left memory: read the final event back from the topic
        JobEvent full = readBack(at, offset);
        synchronized (this) {
            Entry e = jobs.get(jobId);
            return e == null ? Optional.empty() : Optional.of(status(jobId, e, full != null ? full : e.lastEvent));
        }
    }

    private static JobStatus status(String jobId, Entry e, JobEvent last) {
        JobStatus.Builder b = JobStatus.newBuilder().setJobId(jobId).setState(state(last));
        if (last != null) {
            b.setLastEvent(last);
            if (last.hasCompleted()) {
                b.addAllImages(last.getCompleted().getImagesList());
            }
        }
        if (e.job != null) {
            b.setJob(e.job);
        }
        return b.build();
    }

    private JobEvent readBack(TopicPartition tp, long offset) {
        if (tp == null || offset < 0) {
            return null;
        }
        synchronized (endOffsets) {
            try {
                endOffsets.assign(List.of(tp));
                endOffsets.seek(tp, offset);
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, byte[]> r : endOffsets.poll(Duration.ofMillis(200))) {
                        if (r.offset() == offset) {
                            return Codec.parseEvent(r.value(), r.headers());
                        }
                    }
                }
            } catch (Exception e) {
                LOG.warnf("cannot read back the result at %s@%d: %s", tp, offset, e.toString());
            } finally {
                endOffsets.unsubscribe();
            }
        }
        return null;
    }

    static JobStatus.State state(JobEvent last) {
        if (last == null) {
            return JobStatus.State.QUEUED;
        }
        return switch (last.getType()) {
            case QUEUED -> JobStatus.State.QUEUED;
            case STARTED, PROGRESS -> JobStatus.State.RUNNING;
            case COMPLETED -> JobStatus.State.COMPLETED;
            case FAILED -> JobStatus.State.FAILED;
            case CANCELLED -> JobStatus.State.CANCELLED;
            default -> JobStatus.State.STATE_UNSPECIFIED;
        };
    }

    /**
     * Registers a watcher of a job's events; returns the latest event so far (if any), atomically with the
     * registration so no event is missed or repeated. A watcher is dropped after the final event. A final event whose
     * PNG bytes left memory is returned without them (Get reads them back).
     */
    public synchronized Optional<JobEvent> watch(String jobId, Consumer<JobEvent> listener, boolean create) {
        Entry e = create ? jobs.computeIfAbsent(jobId, k -> new Entry()) : jobs.get(jobId);
        if (e == null) {
            return Optional.empty();
        }
        if (e.finalEvent == null) {
            e.listeners.add(listener);
        }
        return Optional.ofNullable(e.lastEvent);
    }

    public synchronized void unwatch(String jobId, Consumer<JobEvent> listener) {
        Entry e = jobs.get(jobId);
        if (e != null) {
            e.listeners.remove(listener);
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (endOffsets) {
            endOffsets.close(Duration.ofSeconds(2));
        }
    }
}
