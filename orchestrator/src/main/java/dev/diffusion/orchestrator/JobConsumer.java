package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

/**
 * The consumer of {@code diffusion.jobs}: a plain KafkaConsumer loop (one thread owns the consumer) that hands
 * jobs to a pool of {@code maxConcurrent} workers and commits, per partition, only offsets below the oldest job
 * that has not yet written its final event. Jobs finish out of order; the committed position never passes an
 * unfinished one, so a crash re-delivers every job without a final event, and only those that
 * (by the dedupe check) have none are run again.
 */
public final class JobConsumer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(JobConsumer.class);
    public static final String ERROR_HEADER = "diffusion-error";

    /** One delivered job: its partition/offset and whether it must stop (its partition was taken away). */
    private static final class Task {
        final TopicPartition tp;
        final long offset;
        volatile boolean abandoned;
        volatile boolean done;

        Task(TopicPartition tp, long offset) {
            this.tp = tp;
            this.offset = offset;
        }
    }

    private final OrchestratorConfig config;
    private final JobStore store;
    private final EventPublisher publisher;
    private final JobRunner runner;
    private final ModelSpec model;
    private final MeterRegistry metrics;
    private final KafkaConsumer<String, byte[]> consumer;
    private final ExecutorService workers;
    private final Thread thread;
    private final int maxConcurrent;
    private volatile boolean running = true;

    // consumer thread only
    private final Map<TopicPartition, TreeSet<Long>> pending = new HashMap<>();
    private final Map<TopicPartition, Long> nextOffset = new HashMap<>();
    private final Map<TopicPartition, Long> committed = new HashMap<>();
    private final Set<TopicPartition> paused = new HashSet<>();
    // shared with workers
    private final Map<Long, Task> tasks = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> runningJobs = new ConcurrentHashMap<>();
    private final AtomicLong taskKeys = new AtomicLong();
    private final ConcurrentLinkedQueue<Task> finished = new ConcurrentLinkedQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger assignedPartitions = new AtomicInteger();
    private final AtomicInteger taskIds = new AtomicInteger();

    public JobConsumer(OrchestratorConfig config, JobStore store, EventPublisher publisher, JobRunner runner, ModelSpec model,
                       MeterRegistry metrics) {
        this.config = config;
        this.store = store;
        this.publisher = publisher;
        this.runner = runner;
        this.model = model;
        this.metrics = metrics;
        this.maxConcurrent = Math.max(1, config.jobs().maxConcurrent());
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.kafka().bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, config.kafka().groupId());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(maxConcurrent));
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(16 * 1024 * 1024));
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "15000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "3000");
        this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
        this.workers = Executors.newFixedThreadPool(maxConcurrent, r -> {
            Thread t = new Thread(r, "job-worker-" + taskIds.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.thread = new Thread(this::loop, "job-consumer");
        metrics.gauge("diffusion.jobs.in.flight", inFlight);
        metrics.gauge("diffusion.jobs.partitions.assigned", assignedPartitions);
    }

    public void start() {
        consumer.subscribe(List.of(config.topics().jobs()), new Rebalance());
        thread.start();
    }

    public boolean alive() {
        return thread.isAlive();
    }

    /** The job id of a record whose job has none: its key, else its position (stable across re-deliveries). */
    public static String fallbackId(ConsumerRecord<String, ?> r) {
        return r.key() != null && !r.key().isEmpty() ? r.key() : r.topic() + "-" + r.partition() + "-" + r.offset();
    }

    private void loop() {
        try {
            while (running) {
                drainFinished();
                commit(null);
                flowControl();
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    handle(r);
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            LOG.error("job consumer stopped", e);
        } finally {
            try {
                drainFinished();
                commit(null);
            } catch (RuntimeException e) {
                LOG.debug("final commit failed", e);
            }
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        nextOffset.put(tp, r.offset() + 1);
        GenerationJob job;
        try {
            job = Jobs.withDefaults(Codec.parseJob(r.value(), r.headers()), fallbackId(r), model.nativeImageSize());
        } catch (Exception e) {
            deadLetter(r, e);
            return;
        }
        Task task = new Task(tp, r.offset());
        pending.computeIfAbsent(tp, k -> new TreeSet<>()).add(r.offset());
        inFlight.incrementAndGet();
        long key = taskKeys.incrementAndGet();
        tasks.put(key, task);
        if (store.status(job.getJobId()).map(s -> !s.hasLastEvent()).orElse(true)) {
            publisher.event(JobRunner.event(job.getJobId(), JobEvent.Type.QUEUED).build());
        }
        workers.execute(() -> {
            try {
                work(job, task);
            } catch (RuntimeException e) {
                LOG.errorf(e, "job %s: unexpected failure", job.getJobId());
                try {
                    publisher.eventAndWait(JobRunner.failed(job.getJobId(), "", e.toString(), "INTERNAL"));
                } catch (RuntimeException again) {
                    // no final event written: keep the offset uncommitted, the job runs again after a restart
                    task.abandoned = true;
                }
            } finally {
                tasks.remove(key);
                task.done = true;
                finished.add(task);
                inFlight.decrementAndGet();
            }
        });
    }

    private void deadLetter(ConsumerRecord<String, byte[]> r, Exception e) {
        String error = "cannot parse a GenerationJob (" + (Codec.isJson(r.headers()) ? "proto3 JSON" : "protobuf") + "): "
                + e.getMessage();
        LOG.warnf("%s-%d@%d is not a job, sent to %s: %s", r.topic(), r.partition(), r.offset(), config.topics().dlq(), error);
        ProducerRecord<String, byte[]> dlq = new ProducerRecord<>(config.topics().dlq(), null, r.key(), r.value());
        r.headers().forEach(h -> dlq.headers().add(h));
        dlq.headers().add(new RecordHeader(ERROR_HEADER, error.getBytes(StandardCharsets.UTF_8)));
        dlq.headers().add(new RecordHeader("diffusion-source", (r.topic() + "-" + r.partition() + "@" + r.offset())
                .getBytes(StandardCharsets.UTF_8)));
        try {
            publisher.sendAndWait(dlq);
            metrics.counter("diffusion.jobs.dead.lettered").increment();
        } catch (RuntimeException writeFailed) {
            // not dead-lettered: never commit past it, so it is delivered again after a restart
            LOG.errorf("%s-%d@%d could not be written to %s: %s", r.topic(), r.partition(), r.offset(), config.topics().dlq(),
                    writeFailed.toString());
            pending.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), k -> new TreeSet<>()).add(r.offset());
        }
    }

    /** On a worker thread: one run of a job id at a time here (the same id delivered twice waits for the first). */
    private void work(GenerationJob job, Task task) {
        String id = job.getJobId();
        CountDownLatch mine = new CountDownLatch(1);
        try {
            CountDownLatch other;
            while ((other = runningJobs.putIfAbsent(id, mine)) != null) {
                other.await();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        try {
            workExclusive(job, task);
        } finally {
            runningJobs.remove(id, mine);
            mine.countDown();
        }
    }

    /** Dedupe, validate, run, write the final event. */
    private void workExclusive(GenerationJob job, Task task) {
        String id = job.getJobId();
        try {
            if (!store.awaitCaughtUp(Duration.ofSeconds(30))) {
                LOG.warnf("job %s: job store did not catch up in 30 s; deciding on what it has", id);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (store.finalEvent(id).isPresent()) {
            LOG.infof("job %s already has a final event (%s): delivered again, not run again", id,
                    store.finalEvent(id).get().getType());
            return;
        }
        if (task.abandoned) {
            return;
        }
        JobEvent result;
        if (store.cancelRequested(id)) {
            result = JobRunner.cancelled(id, "cancelled by request before it started", 0);
        } else {
            GenerationRequest request = null;
            JobEvent invalid = null;
            try {
                request = Jobs.toRequest(job, model, config.jobs().maxPromptChars());
            } catch (InvalidJobException e) {
                invalid = JobRunner.failed(id, e.field(), e.getMessage(), "INVALID_ARGUMENT");
            }
            if (invalid != null) {
                result = invalid;
            } else {
                Optional<JobEvent> outcome = runner.run(job, request, () -> task.abandoned ? JobRunner.Stop.ABANDON
                        : store.cancelRequested(id) ? JobRunner.Stop.CANCEL : JobRunner.Stop.NONE, publisher::event);
                if (outcome.isEmpty()) {
                    LOG.infof("job %s abandoned: its partition moved to another orchestrator", id);
                    return;
                }
                result = outcome.get();
            }
        }
        synchronized (task) {
            if (task.abandoned) {
                return;
            }
            // a second look just before writing: another orchestrator may have finished it meanwhile
            try {
                store.awaitCaughtUp(Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (store.finalEvent(id).isPresent()) {
                LOG.infof("job %s was finished elsewhere meanwhile; dropping this run's %s", id, result.getType());
                return;
            }
            publisher.eventAndWait(result);
        }
        metrics.counter("diffusion.jobs.finished", "outcome", result.getType().name().toLowerCase()).increment();
    }

    private void drainFinished() {
        Task t;
        while ((t = finished.poll()) != null) {
            TreeSet<Long> set = pending.get(t.tp);
            if (set != null && !t.abandoned) { // an abandoned task's offset belongs to the partition's next owner
                set.remove(t.offset);
            }
        }
    }

    /** Commits, for each owned partition (or only {@code only}), the offset below the oldest unfinished job. */
    private void commit(Collection<TopicPartition> only) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (Map.Entry<TopicPartition, Long> e : nextOffset.entrySet()) {
            TopicPartition tp = e.getKey();
            if (only != null && !only.contains(tp)) {
                continue;
            }
            TreeSet<Long> set = pending.get(tp);
            long position = set == null || set.isEmpty() ? e.getValue() : set.first();
            if (position > committed.getOrDefault(tp, -1L)) {
                offsets.put(tp, new OffsetAndMetadata(position));
            }
        }
        if (!offsets.isEmpty()) {
            try {
                consumer.commitSync(offsets);
                offsets.forEach((tp, o) -> committed.put(tp, o.offset()));
            } catch (CommitFailedException | RebalanceInProgressException | RetriableException e) {
                // the group is rebalancing: the next loop (or the revoke callback) commits again
                LOG.infof("commit of %s deferred: %s", offsets, e.toString());
            }
        }
    }

    /** Fetches no more jobs while maxConcurrent are queued or running. */
    private void flowControl() {
        Set<TopicPartition> assignment = consumer.assignment();
        if (inFlight.get() >= maxConcurrent) {
            Set<TopicPartition> toPause = new HashSet<>(assignment);
            toPause.removeAll(paused);
            if (!toPause.isEmpty()) {
                consumer.pause(toPause);
                paused.addAll(toPause);
            }
        } else if (!paused.isEmpty()) {
            Set<TopicPartition> toResume = new HashSet<>(paused);
            toResume.retainAll(assignment);
            consumer.resume(toResume);
            paused.clear();
        }
    }

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
            if (revoked.isEmpty()) {
                return;
            }
            // jobs of these partitions stop between steps and write no final event: the new owner runs them again
            List<Task> stopping = new ArrayList<>();
            for (Task t : tasks.values()) {
                if (revoked.contains(t.tp)) {
                    synchronized (t) {
                        t.abandoned = true;
                    }
                    stopping.add(t);
                }
            }
            long deadline = System.currentTimeMillis() + 10_000;
            for (Task t : stopping) {
                while (!t.done && System.currentTimeMillis() < deadline) {
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
            drainFinished();
            try {
                commit(revoked);
            } catch (RuntimeException e) {
                LOG.warn("commit on revoke failed", e);
            }
            forget(revoked);
            assignedPartitions.set(consumer.assignment().size() - revoked.size());
            LOG.infof("partitions revoked: %s (%d running jobs stopped)", revoked, stopping.size());
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> lost) {
            for (Task t : tasks.values()) {
                if (lost.contains(t.tp)) {
                    t.abandoned = true;
                }
            }
            forget(lost);
            assignedPartitions.set(0);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
            assignedPartitions.set(consumer.assignment().size());
            if (!assigned.isEmpty()) {
                LOG.infof("partitions assigned: %s", assigned);
            }
        }

        private void forget(Collection<TopicPartition> tps) {
            for (TopicPartition tp : tps) {
                pending.remove(tp);
                nextOffset.remove(tp);
                committed.remove(tp);
                paused.remove(tp);
            }
        }
    }

    @Override
    public void close() {
        running = false;
        for (Task t : tasks.values()) {
            t.abandoned = true;
        }
        consumer.wakeup();
        try {
            thread.join(15000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        workers.shutdownNow();
        try {
            workers.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
