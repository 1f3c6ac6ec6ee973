package dev.diffusion.orchestrator;

import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import dev.diffusion.proto.v1.JobStatus;
import java.time.Duration;
import java.util.ArrayList;
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
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

/**
 * Every orchestrator's view of all jobs: it reads the jobs, events and control topics from the beginning (all
 * partitions, no consumer group) into a map job id → job, latest event, cancel flag. Get and Watch answer from it
 * wherever the job runs; the job consumer asks it whether a delivered job already has a final event (dedupe), after
 * {@link #awaitCaughtUp} so that no event already written is missed.
 */
public final class JobStore implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(JobStore.class);

    /** What is known of one job. */
    public static final class Entry {
        GenerationJob job;
        JobEvent lastEvent;
        JobEvent finalEvent;
        boolean cancelRequested;
        final List<Consumer<JobEvent>> listeners = new ArrayList<>();

        public Optional<JobEvent> finalEvent() {
            return Optional.ofNullable(finalEvent);
        }
    }

    private final String jobsTopic;
    private final String eventsTopic;
    private final String controlTopic;
    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaConsumer<String, byte[]> endOffsets; // only for endOffsets(): used under its own lock
    private final Map<String, Entry> jobs;
    private final Map<TopicPartition, Long> positions = new HashMap<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile boolean caughtUpOnce;
    private final int defaultSide;
    private List<TopicPartition> partitions = List.of();

    public JobStore(String bootstrapServers, String jobsTopic, String eventsTopic, String controlTopic, int remembered) {
        this(bootstrapServers, jobsTopic, eventsTopic, controlTopic, remembered, 512);
    }

    /** @param defaultSide the width and height of a job that gives none (the model's native size) */
    public JobStore(String bootstrapServers, String jobsTopic, String eventsTopic, String controlTopic, int remembered,
                    int defaultSide) {
        this.defaultSide = defaultSide;
        this.jobsTopic = jobsTopic;
        this.eventsTopic = eventsTopic;
        this.controlTopic = controlTopic;
        this.jobs = new LinkedHashMap<>(16, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Entry> eldest) {
                return size() > remembered && eldest.getValue().listeners.isEmpty();
            }
        };
        this.consumer = new KafkaConsumer<>(props(bootstrapServers), new StringDeserializer(), new ByteArrayDeserializer());
        this.endOffsets = new KafkaConsumer<>(props(bootstrapServers), new StringDeserializer(), new ByteArrayDeserializer());
        this.thread = new Thread(this::loop, "job-store");
        this.thread.setDaemon(true);
    }

    private static Properties props(String bootstrapServers) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(16 * 1024 * 1024));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "diffusion-orchestrator-store");
        return p;
    }

    public void start() {
        List<TopicPartition> all = new ArrayList<>();
        for (String topic : List.of(jobsTopic, eventsTopic, controlTopic)) {
            consumer.partitionsFor(topic, Duration.ofSeconds(30))
                    .forEach(p -> all.add(new TopicPartition(p.topic(), p.partition())));
        }
        partitions = List.copyOf(all);
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
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
            LOG.error("job store stopped", e);
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    private void apply(ConsumerRecord<String, byte[]> r) throws Exception {
        if (r.value() == null) {
            return;
        }
        if (r.topic().equals(jobsTopic)) {
            GenerationJob job = Jobs.withDefaults(Codec.parseJob(r.value(), r.headers()), JobConsumer.fallbackId(r), defaultSide);
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
                e.lastEvent = event;
                if (JobRunner.isFinal(event.getType())) {
                    e.finalEvent = event;
                }
                listeners = List.copyOf(e.listeners);
                if (e.finalEvent != null) {
                    e.listeners.clear();
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

    /** Waits until this store has read everything written to its topics before the call. */
    public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
        Map<TopicPartition, Long> ends;
        synchronized (endOffsets) {
            ends = endOffsets.endOffsets(partitions, timeout);
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

    public synchronized boolean knows(String jobId) {
        return jobs.containsKey(jobId);
    }

    public synchronized Optional<JobEvent> finalEvent(String jobId) {
        Entry e = jobs.get(jobId);
        return e == null ? Optional.empty() : e.finalEvent();
    }

    public synchronized boolean cancelRequested(String jobId) {
        Entry e = jobs.get(jobId);
        return e != null && e.cancelRequested;
    }

    public synchronized Optional<JobStatus> status(String jobId) {
        Entry e = jobs.get(jobId);
        if (e == null) {
            return Optional.empty();
        }
        JobStatus.Builder b = JobStatus.newBuilder().setJobId(jobId).setState(state(e.lastEvent));
        if (e.lastEvent != null) {
            b.setLastEvent(e.lastEvent);
            if (e.lastEvent.hasCompleted()) {
                b.addAllImages(e.lastEvent.getCompleted().getImagesList());
            }
        }
        if (e.job != null) {
            b.setJob(e.job);
        }
        return Optional.of(b.build());
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
     * registration so no event is missed or repeated. A watcher is dropped after the final event.
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
