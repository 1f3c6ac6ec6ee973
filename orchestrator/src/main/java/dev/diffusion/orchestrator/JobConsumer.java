package dev.diffusion.orchestrator;

import dev.diffusion.core.pipeline.InvalidRequestException;

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
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

/**
 * The consumer of {@code diffusion.jobs}: a plain KafkaConsumer loop (one thread owns the consumer) that hands jobs
 * to a pool of {@code maxConcurrent} workers. What a record leaves behind — a job's final event, a dead-letter copy,
 * a re-keyed copy — is written by this thread in one Kafka transaction with the consumed offsets (KIP-447), so it is
 * either written and its offset committed, or neither; an orchestrator that lost its partitions cannot commit.
 *
 * <p>Jobs finish out of order. Per partition, the committed offset is the oldest record not yet finished, and the
 * commit's metadata lists the finished offsets above it; the next owner of a partition (after a crash or a
 * rebalance) skips those, so a job gets one final event whatever fails. Hand-rolled rather than SmallRye's commit
 * strategies because those commit consumer offsets outside the producer's transaction.
 *
 * <p>Rules: a record whose key is not its job's {@code job_id} is re-keyed (written again under key = job_id, in the
 * transaction with its offset) and not run itself, so all records of a job id share one partition and one owner; a
 * record without a job_id is the job with the id of its key (or of its position, when it has no key). A record that
 * is not a GenerationJob goes to the dead-letter topic.
 */
public final class JobConsumer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(JobConsumer.class);
    public static final String ERROR_HEADER = "diffusion-error";
    /** Tries of a dead-letter write before the record is given up (logged as an error) so its partition moves on. */
    public static final int DEAD_LETTER_TRIES = 5;
    private static final String METADATA_PREFIX = "done1:";
    /** The broker's offset.metadata.max.bytes default. */
    private static final int MAX_METADATA_CHARS = 4096;

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

    /** What a finished record leaves to write with its offset (a final event, a dead-letter or re-keyed copy), if any. */
    private static final class Outcome {
        final TopicPartition tp;
        final long offset;
        ProducerRecord<String, byte[]> record;
        final boolean deadLetter;
        final Task task;
        final CompletableFuture<Boolean> written = new CompletableFuture<>();
        int failures;

        Outcome(TopicPartition tp, long offset, ProducerRecord<String, byte[]> record, boolean deadLetter, Task task) {
            this.tp = tp;
            this.offset = offset;
            this.record = record;
            this.deadLetter = deadLetter;
            this.task = task;
        }
    }

    private final OrchestratorConfig config;
    private final JobStore store;
    private final EventPublisher publisher;
    private final JobRunner runner;
    private final ModelSpec model;
    private final ServiceMonitor services;
    private final MeterRegistry metrics;
    private final KafkaConsumer<String, byte[]> consumer;
    private final TransactionalWriter writer;
    private final ExecutorService workers;
    private final Thread thread;
    private final int maxConcurrent;
    private volatile boolean running = true;

    // consumer thread only
    /** Offsets delivered and not finished (running jobs, unwritten outcomes). */
    private final Map<TopicPartition, TreeSet<Long>> pending = new HashMap<>();
    /** Offsets finished above the committed position (written into the commit's metadata). */
    private final Map<TopicPartition, TreeSet<Long>> done = new HashMap<>();
    private final Map<TopicPartition, Long> nextOffset = new HashMap<>();
    private final Set<TopicPartition> paused = new HashSet<>();
    private final List<Outcome> unwritten = new ArrayList<>();
    private long nextWriteNanos;
    private long writeBackoffMillis;
    // shared with workers
    private final Map<Long, Task> tasks = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> runningJobs = new ConcurrentHashMap<>();
    private final AtomicInteger taskKeys = new AtomicInteger();
    private final ConcurrentLinkedQueue<Outcome> finished = new ConcurrentLinkedQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger assignedPartitions = new AtomicInteger();
    private final AtomicInteger taskIds = new AtomicInteger();
    private volatile String pausedBecause = "";

    public JobConsumer(OrchestratorConfig config, JobStore store, EventPublisher publisher, JobRunner runner, ModelSpec model,
                       ServiceMonitor services, MeterRegistry metrics, String transactionalId) {
        this.config = config;
        this.store = store;
        this.publisher = publisher;
        this.runner = runner;
        this.model = model;
        this.services = services;
        this.metrics = metrics;
        this.maxConcurrent = Math.max(1, config.jobs().maxConcurrent());
        Properties p = KafkaSettings.common(config);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, config.kafka().groupId());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"); // re-keyed jobs are written transactionally
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(maxConcurrent));
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(16 * 1024 * 1024));
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "15000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "3000");
        this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
        this.writer = new TransactionalWriter(KafkaSettings.common(config), transactionalId);
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

    /** Why no new jobs are taken now ("" when they are). */
    public String pausedBecause() {
        return pausedBecause;
    }

    /** The job id of a record whose job has none: its key, else its position (stable across re-deliveries). */
    public static String fallbackId(ConsumerRecord<String, ?> r) {
        return r.key() != null && !r.key().isEmpty() ? r.key() : r.topic() + "-" + r.partition() + "-" + r.offset();
    }

    private void loop() {
        try {
            while (running) {
                collectFinished();
                write(false);
                flowControl();
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    handle(r);
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            LOG.error("job consumer stopped: /q/health/live reports DOWN", e);
        } finally {
            try {
                collectFinished();
                write(true);
            } catch (RuntimeException e) {
                LOG.debug("final write failed", e);
            }
            for (Outcome o : unwritten) {
                o.written.complete(false);
            }
            writer.close();
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        nextOffset.put(tp, r.offset() + 1);
        if (done.getOrDefault(tp, new TreeSet<>()).contains(r.offset())) {
            LOG.infof("%s-%d@%d was finished before this orchestrator got the partition: not run again", r.topic(),
                    r.partition(), r.offset());
            return;
        }
        GenerationJob parsed;
        try {
            parsed = Codec.parseJob(r.value(), r.headers());
        } catch (Exception e) {
            deadLetter(r, tp, e);
            return;
        }
        if (!parsed.getJobId().isEmpty() && !parsed.getJobId().equals(r.key())) {
            rekey(r, tp, parsed.getJobId());
            return;
        }
        GenerationJob job = Jobs.withDefaults(parsed, fallbackId(r), model.nativeImageSize());
        Task task = new Task(tp, r.offset());
        pending(tp).add(r.offset());
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
            } finally {
                tasks.remove(key);
                task.done = true;
                inFlight.decrementAndGet();
            }
        });
    }

    private TreeSet<Long> pending(TopicPartition tp) {
        return pending.computeIfAbsent(tp, k -> new TreeSet<>());
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private void deadLetter(ConsumerRecord<String, byte[]> r, TopicPartition tp, Exception e) {
        String error = "cannot parse a GenerationJob (" + (Codec.isJson(r.headers()) ? "proto3 JSON" : "protobuf") + "): "
                + e.getMessage();
        LOG.warnf("%s-%d@%d is not a job, sent to %s: %s", r.topic(), r.partition(), r.offset(), config.topics().dlq(), error);
        ProducerRecord<String, byte[]> dlq = new ProducerRecord<>(config.topics().dlq(), null, r.key(), r.value());
        r.headers().forEach(h -> dlq.headers().add(h));
        dlq.headers().add(new RecordHeader(ERROR_HEADER, utf8(error)));
        dlq.headers().add(new RecordHeader("diffusion-source", utf8(r.topic() + "-" + r.partition() + "@" + r.offset())));
        pending(tp).add(r.offset());
        unwritten.add(new Outcome(tp, r.offset(), dlq, true, null));
    }

    /** The record again under key = its job_id (the rule that keeps one job id on one partition). */
    private void rekey(ConsumerRecord<String, byte[]> r, TopicPartition tp, String jobId) {
        LOG.infof("%s-%d@%d: key '%s' is not its job_id '%s': written again under key = job_id", r.topic(), r.partition(),
                r.offset(), r.key(), jobId);
        ProducerRecord<String, byte[]> copy = new ProducerRecord<>(config.topics().jobs(), null, jobId, r.value());
        r.headers().forEach(h -> copy.headers().add(h));
        copy.headers().add(new RecordHeader("diffusion-rekeyed-from", utf8(r.topic() + "-" + r.partition() + "@" + r.offset())));
        pending(tp).add(r.offset());
        unwritten.add(new Outcome(tp, r.offset(), copy, false, null));
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
            Outcome outcome = new Outcome(task.tp, task.offset, null, false, task);
            JobEvent result = null;
            try {
                result = workExclusive(job, task);
            } catch (RuntimeException e) {
                LOG.errorf(e, "job %s: unexpected failure", id);
                result = JobRunner.failed(id, "", e.toString(), "INTERNAL");
            }
            if (result == null && task.abandoned) {
                return; // its partition's next owner runs it
            }
            if (result != null) {
                outcome.record = publisher.record(result);
                // the final event must follow the job's STARTED and PROGRESS events, which another producer sent
                publisher.flush();
            }
            finished.add(outcome);
            // hold the job id until the final event is committed: a second record of the id then finds it
            awaitWritten(outcome);
            if (result != null && Boolean.TRUE.equals(outcome.written.getNow(false))) {
                metrics.counter("diffusion.jobs.finished", "outcome", result.getType().name().toLowerCase()).increment();
            }
        } finally {
            runningJobs.remove(id, mine);
            mine.countDown();
        }
    }

    private void awaitWritten(Outcome outcome) {
        while (true) {
            try {
                outcome.written.get(1, TimeUnit.SECONDS);
                return;
            } catch (TimeoutException e) {
                if (!running || !thread.isAlive() || outcome.task.abandoned) {
                    return;
                }
            } catch (ExecutionException e) {
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Dedupe, validate, run: the final event to write, or null when there is none to write. */
    private JobEvent workExclusive(GenerationJob job, Task task) {
        String id = job.getJobId();
        try {
            if (!store.awaitCaughtUp(Duration.ofSeconds(30))) {
                LOG.warnf("job %s: job store did not catch up in 30 s; deciding on what it has", id);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (store.hasFinalEvent(id)) {
            LOG.infof("job %s already has a final event: delivered again, not run again", id);
            return null;
        }
        if (task.abandoned) {
            return null;
        }
        if (store.cancelRequested(id)) {
            return JobRunner.cancelled(id, "cancelled by request before it started", 0);
        }
        GenerationRequest request;
        try {
            request = Jobs.toRequest(job, model, config.jobs().maxPromptChars());
        } catch (InvalidRequestException e) {
            return JobRunner.failed(id, e.field(), e.getMessage(), "INVALID_ARGUMENT");
        }
        Optional<JobEvent> outcome = runner.run(job, request, () -> task.abandoned ? JobRunner.Stop.ABANDON
                : store.cancelRequested(id) ? JobRunner.Stop.CANCEL : JobRunner.Stop.NONE, publisher::event);
        if (outcome.isEmpty()) {
            LOG.infof("job %s abandoned: its partition moved to another orchestrator", id);
            return null;
        }
        return outcome.get();
    }

    private void collectFinished() {
        Outcome o;
        while ((o = finished.poll()) != null) {
            unwritten.add(o);
        }
    }

    /**
     * Writes the outcomes collected so far with their offsets, in one transaction (or, after a failure, one
     * transaction each, so that one record that cannot be written holds up no other). Outcomes of partitions no
     * longer owned, or of abandoned jobs, are dropped: the partition's new owner delivers them again.
     */
    private void write(boolean force) {
        if (unwritten.isEmpty() || (!force && System.nanoTime() < nextWriteNanos)) {
            return;
        }
        Set<TopicPartition> owned = consumer.assignment();
        for (Iterator<Outcome> it = unwritten.iterator(); it.hasNext(); ) {
            Outcome o = it.next();
            if (!owned.contains(o.tp) || (o.task != null && o.task.abandoned)) {
                it.remove();
                o.written.complete(false);
            }
        }
        if (unwritten.isEmpty()) {
            return;
        }
        boolean isolate = writeBackoffMillis > 0;
        List<List<Outcome>> batches = new ArrayList<>();
        if (isolate) {
            unwritten.forEach(o -> batches.add(List.of(o)));
        } else {
            batches.add(List.copyOf(unwritten));
        }
        boolean anyFailed = false;
        for (List<Outcome> batch : batches) {
            try {
                commit(batch);
                unwritten.removeAll(batch);
                batch.forEach(o -> o.written.complete(true));
            } catch (RuntimeException e) {
                anyFailed = true;
                for (Outcome o : batch) {
                    o.failures++;
                    if (o.deadLetter && o.failures >= DEAD_LETTER_TRIES) {
                        LOG.errorf("%s-%d@%d could NOT be written to the dead-letter topic %s after %d tries (%s): it is "
                                + "skipped so that its partition goes on; the record is still on %s at that offset",
                                o.tp.topic(), o.tp.partition(), o.offset, config.topics().dlq(), o.failures, e.toString(),
                                o.tp.topic());
                        metrics.counter("diffusion.jobs.dead.letter.failed").increment();
                        o.record = null; // commit its offset without the copy
                    }
                }
                LOG.warnf("writing %d outcome(s) with their offsets failed, will retry: %s", batch.size(), e.toString());
            }
        }
        if (anyFailed) {
            writeBackoffMillis = Math.min(Math.max(200, writeBackoffMillis * 2), 5000);
            nextWriteNanos = System.nanoTime() + writeBackoffMillis * 1_000_000;
        } else {
            writeBackoffMillis = 0;
        }
    }

    /** One transaction: the outcomes' records, and the offsets of their partitions as they are once these finish. */
    private void commit(List<Outcome> batch) {
        List<ProducerRecord<String, byte[]>> records = new ArrayList<>();
        Map<TopicPartition, TreeSet<Long>> finishing = new HashMap<>();
        for (Outcome o : batch) {
            if (o.record != null) {
                records.add(o.record);
            }
            finishing.computeIfAbsent(o.tp, k -> new TreeSet<>()).add(o.offset);
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        Map<TopicPartition, TreeSet<Long>> newDone = new HashMap<>();
        for (Map.Entry<TopicPartition, TreeSet<Long>> e : finishing.entrySet()) {
            TopicPartition tp = e.getKey();
            TreeSet<Long> stillPending = new TreeSet<>(pending(tp));
            stillPending.removeAll(e.getValue());
            long position = stillPending.isEmpty() ? nextOffset.getOrDefault(tp, e.getValue().last() + 1) : stillPending.first();
            TreeSet<Long> finishedAbove = new TreeSet<>(done.getOrDefault(tp, new TreeSet<>()));
            finishedAbove.addAll(e.getValue());
            finishedAbove = new TreeSet<>(finishedAbove.tailSet(position));
            offsets.put(tp, new OffsetAndMetadata(position, metadata(position, finishedAbove)));
            newDone.put(tp, finishedAbove);
        }
        writer.commit(records, offsets, consumer.groupMetadata());
        for (Map.Entry<TopicPartition, TreeSet<Long>> e : finishing.entrySet()) {
            pending(e.getKey()).removeAll(e.getValue());
            done.put(e.getKey(), newDone.get(e.getKey()));
        }
        for (Outcome o : batch) {
            if (o.deadLetter && o.record != null) {
                metrics.counter("diffusion.jobs.dead.lettered").increment();
            }
        }
    }

    /** "done1:" and the finished offsets above {@code position} as base-36 distances, within the broker's limit. */
    static String metadata(long position, Collection<Long> finishedAbove) {
        StringBuilder b = new StringBuilder(METADATA_PREFIX);
        for (long o : finishedAbove) {
            String next = Long.toString(o - position, 36);
            if (b.length() + next.length() + 1 > MAX_METADATA_CHARS) {
                break; // the rest falls back on the job store's dedupe
            }
            if (b.length() > METADATA_PREFIX.length()) {
                b.append(',');
            }
            b.append(next);
        }
        return b.toString();
    }

    /** The finished offsets a commit's metadata lists (empty for other metadata). */
    static TreeSet<Long> finishedOffsets(OffsetAndMetadata committed) {
        TreeSet<Long> out = new TreeSet<>();
        if (committed == null || committed.metadata() == null || !committed.metadata().startsWith(METADATA_PREFIX)) {
            return out;
        }
        String list = committed.metadata().substring(METADATA_PREFIX.length());
        if (!list.isEmpty()) {
            for (String d : list.split(",")) {
                out.add(committed.offset() + Long.parseLong(d, 36));
            }
        }
        return out;
    }

    /** Fetches no more jobs while maxConcurrent are queued or running, or while a model service does not answer. */
    private void flowControl() {
        Set<TopicPartition> assignment = consumer.assignment();
        String why = inFlight.get() >= maxConcurrent ? "" : services.allUp() ? "" : services.describe();
        pausedBecause = why;
        if (inFlight.get() >= maxConcurrent || !why.isEmpty()) {
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
                    t.abandoned = true;
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
            // what finished before the revocation is written now, while these partitions are still this member's
            collectFinished();
            try {
                write(true);
            } catch (RuntimeException e) {
                LOG.warn("write on revoke failed", e);
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
            if (assigned.isEmpty()) {
                return;
            }
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new HashSet<>(assigned), Duration.ofSeconds(30));
            for (TopicPartition tp : assigned) {
                TreeSet<Long> finishedAbove = finishedOffsets(committed.get(tp));
                done.put(tp, finishedAbove);
                if (!finishedAbove.isEmpty()) {
                    LOG.infof("partition %s: %d jobs above the committed offset are already finished", tp, finishedAbove.size());
                }
            }
            LOG.infof("partitions assigned: %s", assigned);
        }

        private void forget(Collection<TopicPartition> tps) {
            for (TopicPartition tp : tps) {
                pending.remove(tp);
                done.remove(tp);
                nextOffset.remove(tp);
                paused.remove(tp);
            }
            for (Iterator<Outcome> it = unwritten.iterator(); it.hasNext(); ) {
                Outcome o = it.next();
                if (tps.contains(o.tp)) {
                    it.remove();
                    o.written.complete(false);
                }
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
