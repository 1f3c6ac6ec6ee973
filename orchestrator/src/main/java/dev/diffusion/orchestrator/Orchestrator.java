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

    void onStart(@Observes StartupEvent ev) throws Exception {
        model = ModelSpec.open(config.model().path());
        LOG.infof("model %s: latent %d channels, /%d, sides multiple of %d px", model.name(), model.latentChannels(),
                model.vaeDownscale(), model.pixelMultiple());
        if (config.topics().create()) {
            createTopics();
        }
        clients = new ModelClients(config.services());
        publisher = new EventPublisher(config);
        store = new JobStore(config.kafka().bootstrapServers(), config.topics().jobs(), config.topics().events(),
                config.topics().control(), config.jobs().remembered(), model.nativeImageSize());
        store.start();
        if (!store.awaitCaughtUp(Duration.ofSeconds(120))) {
            throw new IllegalStateException("the job store did not read the events topic within 120 s");
        }
        JobRunner runner = new JobRunner(clients, model, config.jobs().outputDir().map(Path::of), metrics);
        consumer = new JobConsumer(config, store, publisher, runner, model, metrics);
        consumer.start();
        LOG.infof("orchestrator consuming %s (group %s, %d jobs at once), events to %s (%s)", config.topics().jobs(),
                config.kafka().groupId(), config.jobs().maxConcurrent(), config.topics().events(), config.events().format());
    }

    private void createTopics() throws InterruptedException, ExecutionException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.kafka().bootstrapServers());
        try (Admin admin = Admin.create(p)) {
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
        for (AutoCloseable c : new AutoCloseable[] {consumer, store, publisher, clients}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    LOG.debug("close failed", e);
                }
            }
        }
    }

    public JobStore store() {
        return store;
    }

    public EventPublisher publisher() {
        return publisher;
    }

    public ModelSpec model() {
        return model;
    }

    public OrchestratorConfig config() {
        return config;
    }

    public boolean ready() {
        return store != null && store.ready() && consumer != null && consumer.alive();
    }
}
