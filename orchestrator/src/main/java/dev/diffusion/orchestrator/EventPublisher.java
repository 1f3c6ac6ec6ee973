package dev.diffusion.orchestrator;

import dev.diffusion.proto.v1.GenerationJob;
import dev.diffusion.proto.v1.JobEvent;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.jboss.logging.Logger;

/**
 * The producer of an orchestrator's non-final records: idempotent (acks=all, no duplicates or reordering on
 * retries), so the events of a job, all keyed by its id, reach their partition in the order they were sent. Final
 * events go through the job consumer's {@link TransactionalWriter}, together with the consumed offsets.
 */
public final class EventPublisher implements AutoCloseable {
    /** The producer's max.request.size: a record larger than this cannot be sent whatever the topic allows. */
    static final int MAX_REQUEST_BYTES = 16 * 1024 * 1024;

    private static final Logger LOG = Logger.getLogger(EventPublisher.class);

    private final KafkaProducer<String, byte[]> producer;
    private final String jobsTopic;
    private final String eventsTopic;
    private final String controlTopic;
    private final boolean jsonEvents;

    public EventPublisher(OrchestratorConfig config) {
        Properties p = KafkaSettings.common(config);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(MAX_REQUEST_BYTES));
        p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "diffusion-orchestrator");
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        this.jobsTopic = config.topics().jobs();
        this.eventsTopic = config.topics().events();
        this.controlTopic = config.topics().control();
        String format = config.events().format().trim().toLowerCase();
        if (!format.equals("json") && !format.equals("protobuf")) {
            throw new IllegalArgumentException("diffusion.events.format must be 'protobuf' or 'json', got '" + format + "'");
        }
        this.jsonEvents = format.equals("json");
    }

    private ProducerRecord<String, byte[]> eventRecord(JobEvent event) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(eventsTopic, event.getJobId(), Codec.encode(event, jsonEvents));
        r.headers().add(new RecordHeader(Codec.CONTENT_TYPE, Codec.contentType(jsonEvents)));
        return r;
    }

    /** QUEUED, STARTED, PROGRESS: sent without waiting (ordered after the job's earlier events all the same). */
    public void event(JobEvent event) {
        producer.send(eventRecord(event), (m, e) -> {
            if (e != null) {
                LOG.warnf("event %s of job %s not written: %s", event.getType(), event.getJobId(), e.toString());
            }
        });
    }

    /**
     * Waits until every event sent so far is on the broker. A job's final event goes through another (the
     * transactional) producer: flushing first keeps it after the job's last PROGRESS in the partition.
     */
    public void flush() {
        producer.flush();
    }

    /** The record of an event as it goes on the events topic (key = job id, content-type header). */
    public ProducerRecord<String, byte[]> record(JobEvent event) {
        return eventRecord(event);
    }

    /** A job in protobuf binary on the jobs topic; returns where it landed. */
    public TopicPartitionOffset submit(GenerationJob job) {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(jobsTopic, job.getJobId(), job.toByteArray());
        r.headers().add(new RecordHeader(Codec.CONTENT_TYPE, Codec.contentType(false)));
        RecordMetadata m = sendAndWait(r);
        return new TopicPartitionOffset(new TopicPartition(m.topic(), m.partition()), m.offset());
    }

    /** A cancel request (key = job id) on the control topic that every orchestrator reads. */
    public TopicPartitionOffset cancel(String jobId) {
        RecordMetadata m = sendAndWait(new ProducerRecord<>(controlTopic, jobId, "cancel".getBytes()));
        return new TopicPartitionOffset(new TopicPartition(m.topic(), m.partition()), m.offset());
    }

    public RecordMetadata sendAndWait(ProducerRecord<String, byte[]> record) {
        try {
            return producer.send(record).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while writing to " + record.topic(), e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot write to " + record.topic() + ": " + e.getCause(), e.getCause());
        }
    }

    public record TopicPartitionOffset(TopicPartition partition, long offset) {}

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
