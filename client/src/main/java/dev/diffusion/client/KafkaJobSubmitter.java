package dev.diffusion.client;

import com.google.protobuf.util.JsonFormat;
import dev.diffusion.proto.v1.GenerationJob;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Puts {@link GenerationJob} records on the jobs topic (default {@code diffusion.jobs}), keyed by job id, protobuf
 * binary or the proto3 JSON mapping with header {@code content-type: application/json}. The producer is idempotent
 * and waits for the broker's acknowledgement; a job id is chosen here when the job has none, so sending the same
 * job again is the same job for the orchestrator.
 *
 * <pre>{@code
 * try (KafkaJobSubmitter kafka = new KafkaJobSubmitter("127.0.0.1:9092", "diffusion.jobs")) {
 *     String id = kafka.submit(GenerationJob.newBuilder().setPrompt("a red fox").build(), false);
 * }
 * }</pre>
 */
public final class KafkaJobSubmitter implements AutoCloseable {
    public static final String CONTENT_TYPE = "content-type";
    public static final String JSON = "application/json";
    public static final String PROTOBUF = "application/x-protobuf";

    private final String bootstrap;
    private final String topic;
    private final KafkaProducer<String, byte[]> producer;
    private final Duration timeout;

    public KafkaJobSubmitter(String bootstrapServers, String topic) {
        this(bootstrapServers, topic, Duration.ofSeconds(10));
    }

    public KafkaJobSubmitter(String bootstrapServers, String topic, Duration timeout) {
        this.bootstrap = bootstrapServers;
        this.topic = topic;
        this.timeout = timeout;
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(timeout.toMillis()));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(Math.max(timeout.toMillis(), 2000)));
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(Math.max(timeout.toMillis(), 2000) - 500));
        p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(16 << 20));
        producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    /**
     * Sends the job (with an id and submitted_at set if missing) and waits for the broker to acknowledge it; returns
     * the job id. Throws {@link KafkaUnreachableException} when the broker does not answer within the timeout.
     */
    public String submit(GenerationJob job, boolean json) {
        GenerationJob j = DiffusionClient.withId(job);
        byte[] value;
        try {
            value = json ? JsonFormat.printer().omittingInsignificantWhitespace().print(j).getBytes(StandardCharsets.UTF_8)
                    : j.toByteArray();
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, j.getJobId(), value);
        r.headers().add(CONTENT_TYPE, (json ? JSON : PROTOBUF).getBytes(StandardCharsets.UTF_8));
        try {
            producer.send(r).get(timeout.toMillis() + 2000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KafkaUnreachableException("interrupted while sending to " + bootstrap, e);
        } catch (ExecutionException | TimeoutException | org.apache.kafka.common.KafkaException e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            if (cause instanceof org.apache.kafka.common.errors.RecordTooLargeException) {
                // the job itself, not the broker: name its largest image as the orchestrator's APIs do
                String field = j.getInitImage().size() >= j.getMask().size() ? "init_image" : "mask";
                throw new IllegalArgumentException("the job is " + value.length + " bytes with its " + field + " of "
                        + Math.max(j.getInitImage().size(), j.getMask().size()) + " bytes: more than one Kafka record takes"
                        + " (" + cause.getMessage().replaceAll(".*larger than (\\d+).*", "$1") + " bytes); send a smaller PNG");
            }
            throw new KafkaUnreachableException("cannot send to topic " + topic + " at " + bootstrap + ": " + cause.getMessage(), cause);
        }
        return j.getJobId();
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }

    /** The broker did not take the record in time (not running, wrong address). */
    public static final class KafkaUnreachableException extends RuntimeException {
        public KafkaUnreachableException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
