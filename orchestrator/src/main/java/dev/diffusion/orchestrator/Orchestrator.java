package dev.diffusion.orchestrator;

import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.jboss.logging.Logger;

/** Wires the parts at startup: topics, the model's configuration, the job store, the producer, the consumer. */
@ApplicationScoped
public class Orchestrator {
    private static final Logger LOG = Logger.getLogger(Orchestrator.class);

    @Inject
    OrchestratorConfig config;

    @Inject
    MeterRegistry metrics;

    private ModelSpec model;
    private ModelClients clients;
    private JobStore store;
    private EventPublisher publisher;
    private JobConsumer consumer;
    private ServiceMonitor services;
    private volatile long maxJobBytes = 1024 * 1024 - 16 * 1024;

    void onStart(@Observes StartupEvent ev) throws Exception {
        model = ModelSpec.open(config.model().path(), config.model().tokenizer().map(java.nio.file.Path::of).orElse(null));
        LOG.infof("model %s: latent %d channels, /%d, sides multiple of %d px", model.name(), model.latentChannels(),
                model.vaeDownscale(), model.pixelMultiple());
        if (config.topics().create()) {
            createTopics();
        }
        clients = new ModelClients(config.services());
        services = new ServiceMonitor(clients, config.services().probeIntervalMillis());
        services.start();
        publisher = new EventPublisher(config);
        store = new JobStore(KafkaSettings.common(config), config.topics().jobs(), config.topics().events(),
                config.topics().control(), new JobStore.Limits(config.jobs().remembered(), config.jobs().storeImageBytes(),
                config.jobs().storeWindowHours()), model.nativeImageSize());
        store.start();
        metrics.gauge("diffusion.store.image.bytes", store, JobStore::imageBytesHeld);
        metrics.gauge("diffusion.store.jobs", store, JobStore::size);
        if (!store.awaitCaughtUp(Duration.ofSeconds(120))) {
            throw new IllegalStateException("the job store did not read the events topic within 120 s");
        }
        long maxEventBytes = maxMessageBytes(config.topics().events()) - 16 * 1024; // key, headers, batch overhead
        // what one job record may hold: the jobs topic's limit and the producer's (16 MiB), less the same headroom
        maxJobBytes = Math.min(maxMessageBytes(config.topics().jobs()), EventPublisher.MAX_REQUEST_BYTES) - 16 * 1024;
        JobRunner runner = new JobRunner(clients, model, config.jobs().outputDir().map(Path::of), metrics, maxEventBytes);
        consumer = new JobConsumer(config, store, publisher, runner, model, services, metrics, transactionalId());
        consumer.start();
        LOG.infof("orchestrator consuming %s (group %s, %d jobs at once), events to %s (%s)", config.topics().jobs(),
                config.kafka().groupId(), config.jobs().maxConcurrent(), config.topics().events(), config.events().format());
    }

    /** This orchestrator's transactional.id: configured, or group + host + HTTP port (stable across its restarts). */
    private String transactionalId() {
        if (config.kafka().transactionalId().isPresent()) {
            return config.kafka().transactionalId().get();
        }
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            host = "unknown-host";
        }
        int port = org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getOptionalValue("quarkus.http.port", Integer.class).orElse(0);
        return config.kafka().groupId() + "-" + host + "-" + (port > 0 ? Integer.toString(port)
                : java.util.UUID.randomUUID().toString());
    }

    /** The topic's max.message.bytes as the broker has it (1 MiB, Kafka's default, when it cannot be read). */
    private long maxMessageBytes(String topic) {
        try (Admin admin = Admin.create(KafkaSettings.common(config))) {
            org.apache.kafka.common.config.ConfigResource r = new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic);
            var entry = admin.describeConfigs(List.of(r)).all().get(30, java.util.concurrent.TimeUnit.SECONDS).get(r)
                    .get("max.message.bytes");
            long bytes = Long.parseLong(entry.value());
            LOG.infof("topic %s takes events up to %d bytes (max.message.bytes)", topic, bytes);
            return bytes;
        } catch (Exception e) {
            LOG.warnf("cannot read max.message.bytes of %s (%s): assuming 1 MiB", topic, e.toString());
            return 1024 * 1024;
        }
    }

    private void createTopics() throws InterruptedException, ExecutionException {
        try (Admin admin = Admin.create(KafkaSettings.common(config))) {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> topics = new ArrayList<>();
            for (String name : List.of(config.topics().jobs(), config.topics().events(), config.topics().dlq(),
                    config.topics().control())) {
                if (!existing.contains(name)) {
                    topics.add(new NewTopic(name, config.topics().partitions(), (short) -1)
                            .configs(Map.of("max.message.bytes", Integer.toString(16 * 1024 * 1024))));
                }
            }
            if (topics.isEmpty()) {
                return;
            }
            for (var entry : admin.createTopics(topics).values().entrySet()) {
                try {
                    entry.getValue().get();
                    LOG.infof("created topic %s (%d partitions)", entry.getKey(), config.topics().partitions());
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
        }
    }

    void onStop(@Observes ShutdownEvent ev) {
        for (AutoCloseable c : new AutoCloseable[] {consumer, services, store, publisher, clients}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    LOG.debug("close failed", e);
                }
            }
        }
    }

    /** The largest job (serialized) the jobs topic takes; {@link JobSubmission} refuses larger ones naming their image. */
    public long maxJobBytes() {
        return maxJobBytes;
    }

    public JobStore store() {
        return store;
    }

    public EventPublisher publisher() {
        return publisher;
    }

    /** The U-Net service's Info from its last probe (its memory limit for attention), if a probe reached it yet. */
    public Optional<dev.diffusion.proto.v1.ModelInfo> unetInfo() {
        ModelClients c = clients;
        return c == null ? Optional.empty() : c.lastUnetInfo();
    }

    public ModelSpec model() {
        return model;
    }

    public OrchestratorConfig config() {
        return config;
    }

    /** "" when ready to take jobs; else why not (the readiness check's message). */
    public String notReadyBecause() {
        if (store == null || consumer == null) {
            return "starting";
        }
        if (!store.ready()) {
            return "the job store has not read the topics yet";
        }
        if (!consumer.alive()) {
            return "the job consumer stopped";
        }
        if (!services.allUp()) {
            return "taking no jobs: " + services.describe();
        }
        return "";
    }

    public boolean ready() {
        return notReadyBecause().isEmpty();
    }

    /** "" while the threads that must run do; else which one died (the liveness check's message). */
    public String deadBecause() {
        if (consumer == null || store == null || services == null) {
            return ""; // still starting: readiness says so
        }
        return deadBecause(consumer.alive(), store.alive(), services.alive());
    }

    static String deadBecause(boolean consumerAlive, boolean storeAlive, boolean monitorAlive) {
        if (!consumerAlive) {
            return "the job consumer thread stopped";
        }
        if (!storeAlive) {
            return "the job store thread stopped";
        }
        if (!monitorAlive) {
            return "the service monitor thread stopped";
        }
        return "";
    }
}
