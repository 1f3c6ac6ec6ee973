package dev.diffusion.orchestrator;

import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.CommonClientConfigs;

/**
 * The settings every Kafka client of the orchestrator shares: the bootstrap servers and whatever
 * {@code diffusion.kafka.properties.*} passes through (security.protocol, sasl.mechanism, sasl.jaas.config,
 * ssl.truststore.location, ...), so a secured cluster needs configuration only.
 */
final class KafkaSettings {
    private KafkaSettings() {}

    static Properties common(String bootstrapServers, Map<String, String> passThrough) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.putAll(passThrough);
        return p;
    }

    static Properties common(OrchestratorConfig config) {
        return common(config.kafka().bootstrapServers(), config.kafka().properties());
    }
}
