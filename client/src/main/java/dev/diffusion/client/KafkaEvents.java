package dev.diffusion.client;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.diffusion.proto.v1.JobEvent;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Follows a job on the events topic (default {@code diffusion.events}) without a consumer group: every partition
 * from its end as of {@link #open}, so open it <em>before</em> submitting the job. Records are protobuf, or JSON
 * when their content-type header says so.
 */
public final class KafkaEvents implements AutoCloseable {
    private final KafkaConsumer<String, byte[]> consumer;
    private final String topic;

    private KafkaEvents(KafkaConsumer<String, byte[]> consumer, String topic) {
        this.consumer = consumer;
        this.topic = topic;
    }

    public static KafkaEvents open(String bootstrapServers, String topic, Duration timeout) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        // final events are written in transactions: an aborted one (an orchestrator that lost its job) is not the outcome
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(timeout.toMillis()));
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(Math.max(2000, timeout.toMillis() - 500)));
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(64 << 20));
        KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
        try {
            List<PartitionInfo> infos = c.partitionsFor(topic, timeout);
            if (infos == null || infos.isEmpty()) {
                throw new KafkaJobSubmitter.KafkaUnreachableException("topic " + topic + " does not exist at " + bootstrapServers
                        + " (the orchestrator creates it when it starts)", null);
            }
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo i : infos) {
                parts.add(new TopicPartition(topic, i.partition()));
            }
            c.assign(parts);
            c.seekToEnd(parts);
            for (TopicPartition tp : parts) {
                c.position(tp, timeout); // fix the start now, before the job is sent
            }
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
            c.close(Duration.ZERO);
            throw new KafkaJobSubmitter.KafkaUnreachableException("cannot reach Kafka at " + bootstrapServers + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            c.close(Duration.ZERO);
            throw e;
        }
        return new KafkaEvents(c, topic);
    }

    /** Passes the job's events to onEvent until its final event, which is returned; null after the timeout. */
    public JobEvent follow(String jobId, Consumer<JobEvent> onEvent, Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                if (!jobId.equals(r.key())) {
                    continue;
                }
                JobEvent e = parse(r);
                if (e == null) {
                    continue;
                }
                onEvent.accept(e);
                if (DiffusionClient.isFinal(e)) {
                    return e;
                }
            }
        }
        return null;
    }

    /**
     * Waits for the final events of all of {@code jobIds}, passing each to {@code onFinal} as it is read; returns them
     * by job id (those that did not end within the timeout are missing).
     */
    public java.util.Map<String, JobEvent> awaitAll(java.util.Collection<String> jobIds,
                                                    java.util.function.BiConsumer<String, JobEvent> onFinal, Duration timeout) {
        java.util.Map<String, JobEvent> done = new java.util.HashMap<>();
        java.util.Set<String> waiting = new java.util.HashSet<>(jobIds);
        long end = System.nanoTime() + timeout.toNanos();
        while (!waiting.isEmpty() && System.nanoTime() < end) {
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                if (r.key() == null || !waiting.contains(r.key())) {
                    continue;
                }
                JobEvent e = parse(r);
                if (e != null && DiffusionClient.isFinal(e)) {
                    waiting.remove(r.key());
                    done.put(r.key(), e);
                    onFinal.accept(r.key(), e);
                }
            }
        }
        return done;
    }

    static JobEvent parse(ConsumerRecord<String, byte[]> r) {
        Header h = r.headers().lastHeader(KafkaJobSubmitter.CONTENT_TYPE);
        boolean json = h != null && new String(h.value(), StandardCharsets.UTF_8).trim().toLowerCase().startsWith(KafkaJobSubmitter.JSON);
        try {
            if (json) {
                JobEvent.Builder b = JobEvent.newBuilder();
                JsonFormat.parser().ignoringUnknownFields().merge(new String(r.value(), StandardCharsets.UTF_8), b);
                return b.build();
            }
            return JobEvent.parseFrom(r.value());
        } catch (InvalidProtocolBufferException e) {
            return null; // not an event of this contract: skip it
        }
    }

    public String topic() {
        return topic;
    }

    @Override
    public void close() {
        consumer.close(Duration.ofSeconds(2));
    }
}
