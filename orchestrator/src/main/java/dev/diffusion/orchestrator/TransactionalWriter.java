package dev.diffusion.orchestrator;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.jboss.logging.Logger;

/**
 * Writes records and the consumed offsets in one Kafka transaction (KIP-447: the offsets carry the consumer group's
 * generation, so an orchestrator that lost its partitions — a zombie — cannot commit, and its final event is aborted,
 * never seen by read_committed readers). Used by the job consumer's thread only. Any failure aborts the transaction;
 * a fatal one (fenced, or a state the producer cannot leave) replaces the producer.
 */
final class TransactionalWriter implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(TransactionalWriter.class);

    private final Properties props;
    private KafkaProducer<String, byte[]> producer;

    TransactionalWriter(Properties common, String transactionalId) {
        this.props = new Properties();
        props.putAll(common);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(16 * 1024 * 1024));
        // a transaction here is one short write: one that a crash left open should block read_committed readers briefly
        props.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "15000");
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "diffusion-orchestrator-tx");
    }

    private KafkaProducer<String, byte[]> producer() {
        if (producer == null) {
            KafkaProducer<String, byte[]> p = new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer());
            try {
                p.initTransactions(); // fences and aborts what a previous producer of this id left open
            } catch (RuntimeException e) {
                p.close(Duration.ZERO);
                throw e;
            }
            producer = p;
        }
        return producer;
    }

    /** Sends {@code records} and commits {@code offsets} atomically; throws when nothing of it was committed. */
    void commit(List<ProducerRecord<String, byte[]>> records, Map<TopicPartition, OffsetAndMetadata> offsets,
                ConsumerGroupMetadata group) {
        KafkaProducer<String, byte[]> p = producer();
        try {
            p.beginTransaction();
            for (ProducerRecord<String, byte[]> r : records) {
                p.send(r);
            }
            if (!offsets.isEmpty()) {
                p.sendOffsetsToTransaction(offsets, group);
            }
            p.commitTransaction();
        } catch (KafkaException e) {
            try {
                p.abortTransaction();
            } catch (RuntimeException abortFailed) {
                // fenced, or a state abort cannot leave: start over with a new producer (initTransactions aborts)
                LOG.infof("transactional producer replaced after %s", abortFailed.toString());
                replace();
            }
            throw e;
        } catch (RuntimeException e) {
            replace();
            throw e;
        }
    }

    private void replace() {
        if (producer != null) {
            try {
                producer.close(Duration.ZERO);
            } catch (RuntimeException ignored) {
                // already broken
            }
            producer = null;
        }
    }

    @Override
    public void close() {
        if (producer != null) {
            producer.close(Duration.ofSeconds(5));
        }
    }
}
