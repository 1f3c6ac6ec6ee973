package dev.diffusion.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.TopologySpreadConstraint;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The manifests as a cluster would get them: both overlays rendered with {@code kubectl kustomize}, every object parsed
 * into fabric8's typed model with no field left over (a misspelt field fails), Strimzi's and KEDA's objects checked
 * against their published CRD schemas (src/test/resources/crds), and the invariants an operator relies on checked
 * against the code's own settings (each module's application.properties): ports, topic names and settings, env names,
 * probes, limits, security context, PDBs below replicas, headless gRPC Services, GPU requests only in the gpu overlay.
 * Needs kubectl on the PATH (kustomize is built into it). Nothing is applied to a cluster: there is none here.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class K8sManifestsTest {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    static final ObjectMapper JSON = new ObjectMapper();
    static final Path ROOT = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    static final Path K8S = ROOT.resolve("k8s");

    /** The uid (= gid) of the user the images run as: {@code useradd --uid N} in scripts/base-image.sh. */
    static long imageUid() throws IOException {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("useradd --uid (\\d+) --gid (\\d+)")
                .matcher(Files.readString(ROOT.resolve("scripts/base-image.sh")));
        assertTrue(m.find(), "scripts/base-image.sh creates the images' user with useradd --uid N --gid N");
        assertEquals(m.group(1), m.group(2), "the images' user and group ids");
        return Long.parseLong(m.group(1));
    }
    /** Deployment name → the module whose application.properties it runs. */
    static final Map<String, String> MODULES = Map.of("orchestrator", "orchestrator", "text-encoder", "text-encoder-service",
            "unet", "unet-service", "vae", "vae-service");
    static final Set<String> MODEL_SERVICES = Set.of("text-encoder", "unet", "vae");
    /** Orchestrator.createTopics and the producers' max.request.size (EventPublisher, TransactionalWriter): 16 MiB. */
    static final long MAX_MESSAGE_BYTES = 16L * 1024 * 1024;
    static final Map<String, Class<? extends HasMetadata>> TYPED = Map.of(
            "v1/Namespace", Namespace.class, "v1/ConfigMap", ConfigMap.class,
            "v1/PersistentVolumeClaim", PersistentVolumeClaim.class, "v1/Service", Service.class,
            "apps/v1/Deployment", Deployment.class, "policy/v1/PodDisruptionBudget", PodDisruptionBudget.class,
            "networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class,
            "autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler.class);

    final Map<String, Rendered> overlays = new LinkedHashMap<>();
    final Map<String, CrdSchema> crds = new LinkedHashMap<>();
    final Map<String, Properties> properties = new LinkedHashMap<>();

    /** One overlay rendered: the raw objects by "Kind/name", and the built-in ones typed. */
    record Rendered(String overlay, Map<String, JsonNode> raw, Map<String, HasMetadata> typed) {
        <T extends HasMetadata> T get(Class<T> type, String name) {
            HasMetadata o = typed.get(type.getSimpleName() + "/" + name);
            assertNotNull(o, overlay + ": " + type.getSimpleName() + "/" + name + " missing");
            return type.cast(o);
        }

        <T extends HasMetadata> List<T> all(Class<T> type) {
            return typed.values().stream().filter(type::isInstance).map(type::cast).toList();
        }

        JsonNode custom(String kind, String name) {
            JsonNode o = raw.get(kind + "/" + name);
            assertNotNull(o, overlay + ": " + kind + "/" + name + " missing");
            return o;
        }

        List<JsonNode> customs(String kind) {
            return raw.values().stream().filter(o -> o.path("kind").asText().equals(kind)).toList();
        }
    }

    @BeforeAll
    void render() throws Exception {
        for (String file : List.of("strimzi-1.2.0-040-Crd-kafka.yaml", "strimzi-1.2.0-045-Crd-kafkanodepool.yaml",
                "strimzi-1.2.0-043-Crd-kafkatopic.yaml", "keda-2.20.2-keda.sh_scaledobjects.yaml")) {
            CrdSchema s = CrdSchema.load(file);
            crds.put(s.kind(), s);
        }
        for (Map.Entry<String, String> m : MODULES.entrySet()) {
            Properties p = new Properties();
            try (InputStream in = Files.newInputStream(ROOT.resolve(m.getValue()).resolve("src/main/resources/application.properties"))) {
                p.load(in);
            }
            properties.put(m.getKey(), p);
        }
        for (String overlay : List.of("cpu", "gpu")) {
            List<String> errors = new ArrayList<>();
            Map<String, JsonNode> raw = new LinkedHashMap<>();
            Map<String, HasMetadata> typed = new LinkedHashMap<>();
            for (JsonNode o : kustomize(K8S.resolve("overlays").resolve(overlay))) {
                String id = o.path("kind").asText() + "/" + o.at("/metadata/name").asText();
                assertFalse(raw.containsKey(id), overlay + ": " + id + " twice");
                raw.put(id, o);
                Class<? extends HasMetadata> type = TYPED.get(o.path("apiVersion").asText() + "/" + o.path("kind").asText());
                CrdSchema crd = crds.get(o.path("kind").asText());
                if (type != null) {
                    HasMetadata t = JSON.convertValue(o, type);
                    unknownFields(t, overlay + " " + id, errors);
                    typed.put(id, t);
                } else if (crd != null) {
                    errors.addAll(crd.validate(o).stream().map(e -> overlay + " " + e).toList());
                } else {
                    errors.add(overlay + " " + id + ": " + o.path("apiVersion").asText()
                            + " is neither a typed built-in kind nor a custom resource with a CRD schema here");
                }
            }
            assertEquals(List.of(), errors, "objects that a cluster would refuse or silently change");
            overlays.put(overlay, new Rendered(overlay, raw, typed));
        }
    }

    /** {@code kubectl kustomize dir}, parsed. */
    static List<JsonNode> kustomize(Path dir) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder("kubectl", "kustomize", dir.toString()).redirectErrorStream(false).start();
        } catch (IOException e) {
            throw new IllegalStateException("kubectl is needed to render the overlays (kustomize is built into it): " + e.getMessage(), e);
        }
        byte[] out = p.getInputStream().readAllBytes();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "kubectl kustomize " + dir);
        assertEquals(0, p.exitValue(), "kubectl kustomize " + dir + ":\n" + err);
        List<JsonNode> objects = new ArrayList<>();
        for (Object d : YAML.readerFor(JsonNode.class).readValues(out).readAll()) {
            JsonNode n = (JsonNode) d;
            if (n != null && !n.isEmpty()) {
                objects.add(n);
            }
        }
        return objects;
    }

    /** Fields fabric8's model did not know (held in its additionalProperties), each named by its path. */
    static void unknownFields(Object o, String path, List<String> errors) throws Exception {
        if (o == null) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) {
                unknownFields(e, path + "[" + i++ + "]", errors);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                unknownFields(e.getValue(), path + "." + e.getKey(), errors);
            }
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
            return;
        }
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || !m.getName().startsWith("get") || m.getDeclaringClass() == Object.class) {
                continue;
            }
            Object v = m.invoke(o);
            if (m.getName().equals("getAdditionalProperties")) {
                if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    errors.add(path + ": unknown field(s) " + extra.keySet());
                }
            } else {
                String field = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
                unknownFields(v, path + "." + field, errors);
            }
        }
    }

    static String envName(String property) {
        return property.toUpperCase(java.util.Locale.ROOT).replaceAll("[^A-Z0-9]", "_");
    }

    static Container container(Deployment d) {
        assertEquals(1, d.getSpec().getTemplate().getSpec().getContainers().size(), d.getMetadata().getName());
        return d.getSpec().getTemplate().getSpec().getContainers().get(0);
    }

    static long bytes(Quantity q) {
        return Quantity.getAmountInBytes(q).longValue();
    }

    // ------------------------------------------------------------------------------------------------ tests

    @Test
    void theCrdCheckRefusesMisspeltMistypedAndMissingFields() throws Exception {
        JsonNode topic = overlays.get("cpu").custom("KafkaTopic", "diffusion-jobs").deepCopy();
        assertEquals(List.of(), crds.get("KafkaTopic").validate(topic));
        ObjectNode spec = (ObjectNode) topic.get("spec");
        spec.put("partition", 6); // misspelt
        spec.put("replicas", "three");
        List<String> errors = crds.get("KafkaTopic").validate(topic);
        assertEquals(2, errors.size(), errors.toString());
        assertTrue(errors.get(0).contains("spec.replicas") || errors.get(1).contains("spec.replicas"), errors.toString());
        assertTrue(errors.stream().anyMatch(e -> e.contains("spec.partition: unknown field")), errors.toString());

        ObjectNode scaled = overlays.get("cpu").custom("ScaledObject", "orchestrator").deepCopy();
        ((ObjectNode) scaled.get("spec")).remove("scaleTargetRef");
        assertEquals(List.of("ScaledObject/orchestrator: required field scaleTargetRef is missing"),
                crds.get("ScaledObject").validate(scaled).stream().map(e -> e.replace(".spec", "")).toList());

        // and fabric8's model catches what a built-in kind does not know
        Deployment d = JSON.convertValue(YAML.readTree("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: x}
                spec:
                  template:
                    spec:
                      containers:
                        - name: x
                          securityContext: {readOnlyRootFileSystem: true}
                """), Deployment.class);
        List<String> unknown = new ArrayList<>();
        unknownFields(d, "Deployment/x", unknown);
        assertEquals(List.of("Deployment/x.spec.template.spec.containers[0].securityContext: unknown field(s) [readOnlyRootFileSystem]"),
                unknown);
    }

    @Test
    void everyContainerHasProbesLimitsAndARestrictedSecurityContext() throws IOException {
        for (Rendered r : overlays.values()) {
            for (String name : MODULES.keySet()) {
                Deployment d = r.get(Deployment.class, name);
                PodSpec pod = d.getSpec().getTemplate().getSpec();
                Container c = container(d);
                String where = r.overlay() + " " + name;
                int port = Integer.parseInt(properties.get(name).getProperty("quarkus.http.port"));
                assertEquals("/q/health/ready", c.getReadinessProbe().getHttpGet().getPath(), where);
                assertEquals("/q/health/live", c.getLivenessProbe().getHttpGet().getPath(), where);
                assertNotNull(c.getStartupProbe(), where + " startupProbe (weights load for minutes)");
                for (var probe : List.of(c.getReadinessProbe(), c.getLivenessProbe(), c.getStartupProbe())) {
                    assertEquals(port, probe.getHttpGet().getPort().getIntVal(), where + " probe port");
                }
                assertTrue(c.getStartupProbe().getPeriodSeconds() * c.getStartupProbe().getFailureThreshold() >= 600,
                        where + ": the startup probe allows 10 minutes of loading");

                var res = c.getResources();
                assertNotNull(res, where + " resources");
                for (String k : List.of("cpu", "memory", "ephemeral-storage")) {
                    assertNotNull(res.getRequests().get(k), where + " requests." + k);
                }
                assertNotNull(res.getLimits().get("memory"), where + " limits.memory");
                assertTrue(bytes(res.getRequests().get("memory")) <= bytes(res.getLimits().get("memory")), where + " request <= limit");
                // the JVM's heap (-Xmx) fits in the memory limit with room for the native weights
                String xmx = c.getEnv().stream().filter(e -> e.getName().equals("JAVA_TOOL_OPTIONS")).findFirst().orElseThrow()
                        .getValue().replaceAll(".*-Xmx([0-9]+[gmGM]).*", "$1");
                long heap = Long.parseLong(xmx.substring(0, xmx.length() - 1)) << (xmx.toLowerCase().endsWith("g") ? 30 : 20);
                assertTrue(heap <= bytes(res.getLimits().get("memory")) / 2, where + ": -Xmx" + xmx + " vs limit");

                var podSecurity = pod.getSecurityContext();
                assertEquals(Boolean.TRUE, podSecurity.getRunAsNonRoot(), where);
                // the user the images are built with (scripts/base-image.sh creates it): files in the image are its
                assertEquals(imageUid(), podSecurity.getRunAsUser(), where + ": runAsUser is the images' user");
                assertEquals(imageUid(), podSecurity.getRunAsGroup(), where + ": runAsGroup is the images' group");
                assertEquals("RuntimeDefault", podSecurity.getSeccompProfile().getType(), where);
                var sc = c.getSecurityContext();
                assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation(), where);
                assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem(), where);
                assertEquals(List.of("ALL"), sc.getCapabilities().getDrop(), where);
                assertTrue(sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty(), where);
                // read-only root: /tmp must be a writable emptyDir
                VolumeMount tmp = c.getVolumeMounts().stream().filter(m -> m.getMountPath().equals("/tmp")).findFirst()
                        .orElseThrow(() -> new AssertionError(where + ": no /tmp mount"));
                Volume tmpVolume = pod.getVolumes().stream().filter(v -> v.getName().equals(tmp.getName())).findFirst().orElseThrow();
                assertNotNull(tmpVolume.getEmptyDir(), where + " /tmp is an emptyDir");
            }
        }
    }

    @Test
    void gpusAreRequestedOnlyInTheGpuOverlayByTheUNetAndTheVaeWithNodeSelectorAndToleration() {
        for (Rendered r : overlays.values()) {
            Set<String> withGpu = new TreeSet<>();
            for (Deployment d : r.all(Deployment.class)) {
                Container c = container(d);
                PodSpec pod = d.getSpec().getTemplate().getSpec();
                Quantity limit = c.getResources().getLimits().get("nvidia.com/gpu");
                Quantity request = c.getResources().getRequests().get("nvidia.com/gpu");
                if (limit == null && request == null) {
                    assertTrue(pod.getNodeSelector() == null || pod.getNodeSelector().isEmpty(), r.overlay() + " " + d.getMetadata().getName());
                    continue;
                }
                withGpu.add(d.getMetadata().getName());
                assertEquals(new Quantity("1"), limit, "an extended resource's request equals its limit");
                assertEquals(limit, request);
                assertEquals("true", pod.getNodeSelector().get("nvidia.com/gpu.present"), d.getMetadata().getName());
                assertTrue(pod.getTolerations().stream().anyMatch(t -> t.getKey().equals("nvidia.com/gpu")
                        && t.getOperator().equals("Exists") && t.getEffect().equals("NoSchedule")), d.getMetadata().getName());
                assertTrue(c.getImage().endsWith("-gpu"), c.getImage() + ": the CUDA build");
            }
            assertEquals(r.overlay().equals("gpu") ? Set.of("unet", "vae") : Set.of(), withGpu, r.overlay());
        }
    }

    @Test
    void servicesAreHeadlessOnThePortsOfApplicationPropertiesAndTheOrchestratorCallsThemThere() {
        for (Rendered r : overlays.values()) {
            ConfigMap config = r.get(ConfigMap.class, "diffusion-config");
            for (String name : MODULES.keySet()) {
                int port = Integer.parseInt(properties.get(name).getProperty("quarkus.http.port"));
                Deployment d = r.get(Deployment.class, name);
                Service s = r.get(Service.class, name);
                Map<String, String> podLabels = d.getSpec().getTemplate().getMetadata().getLabels();
                assertEquals(d.getSpec().getSelector().getMatchLabels(), s.getSpec().getSelector(), name);
                assertTrue(podLabels.entrySet().containsAll(s.getSpec().getSelector().entrySet()), name);
                assertEquals("None", s.getSpec().getClusterIP(), name + ": headless, so gRPC round_robin sees every pod");
                assertEquals(port, container(d).getPorts().get(0).getContainerPort(), name);
                assertEquals(port, s.getSpec().getPorts().get(0).getPort(), name);
                assertEquals(port, s.getSpec().getPorts().get(0).getTargetPort().getIntVal(), name);
                assertEquals(String.valueOf(port), d.getSpec().getTemplate().getMetadata().getAnnotations().get("prometheus.io/port"));
                if (MODEL_SERVICES.contains(name)) {
                    String key = "diffusion.services." + name;
                    assertTrue(properties.get("orchestrator").containsKey(key), key);
                    assertEquals("dns:///" + name + ":" + port, config.getData().get(envName(key)), envName(key));
                }
            }
            assertEquals("round_robin", config.getData().get("DIFFUSION_SERVICES_LOAD_BALANCING_POLICY"));
            assertTrue(Long.parseLong(config.getData().get("DIFFUSION_SERVICES_RE_RESOLVE_MILLIS")) > 0,
                    "the orchestrator re-resolves the headless Services, so new pods get calls");
        }
    }

    @Test
    void everyEnvironmentVariableIsAPropertyOfTheModuleThatReadsIt() {
        for (Rendered r : overlays.values()) {
            Map<String, String> config = r.get(ConfigMap.class, "diffusion-config").getData();
            Set<String> known = new HashSet<>();
            for (Map.Entry<String, Properties> p : properties.entrySet()) {
                Set<String> names = p.getValue().stringPropertyNames().stream().map(K8sManifestsTest::envName)
                        .collect(Collectors.toSet());
                known.addAll(names);
                Container c = container(r.get(Deployment.class, p.getKey()));
                for (var env : c.getEnv()) {
                    assertTrue(env.getName().equals("JAVA_TOOL_OPTIONS") || names.contains(env.getName()),
                            p.getKey() + ": " + env.getName() + " is no property of " + MODULES.get(p.getKey()));
                }
                assertEquals("diffusion-config", c.getEnvFrom().get(0).getConfigMapRef().getName());
            }
            for (String key : config.keySet()) {
                assertTrue(known.contains(key), "ConfigMap key " + key + " is a property of no module");
            }
        }
    }

    @Test
    void topicsAreTheCodesNamesWithItsPartitionsAndMessageSizeAndSurviveABrokerLoss() {
        Properties orchestrator = properties.get("orchestrator");
        for (Rendered r : overlays.values()) {
            Map<String, String> config = r.get(ConfigMap.class, "diffusion-config").getData();
            JsonNode kafka = r.custom("Kafka", "diffusion");
            Map<String, JsonNode> topics = new LinkedHashMap<>();
            for (JsonNode t : r.customs("KafkaTopic")) {
                assertEquals("diffusion", t.at("/metadata/labels/strimzi.io~1cluster").asText(), "the cluster its operator watches");
                topics.put(t.at("/spec/topicName").asText(), t);
            }
            int brokers = 0;
            for (JsonNode pool : r.customs("KafkaNodePool")) {
                assertEquals("diffusion", pool.at("/metadata/labels/strimzi.io~1cluster").asText());
                for (JsonNode role : pool.at("/spec/roles")) {
                    brokers += role.asText().equals("broker") ? pool.at("/spec/replicas").asInt() : 0;
                }
            }
            int partitions = Integer.parseInt(orchestrator.getProperty("diffusion.topics.partitions"));
            Set<String> names = new TreeSet<>();
            for (String t : List.of("jobs", "events", "dlq", "control")) {
                String name = orchestrator.getProperty("diffusion.topics." + t);
                names.add(name);
                assertEquals(name, config.get(envName("diffusion.topics." + t)));
                JsonNode topic = topics.get(name);
                assertNotNull(topic, r.overlay() + ": no KafkaTopic for " + name);
                assertEquals(partitions, topic.at("/spec/partitions").asInt(), name);
                assertEquals(MAX_MESSAGE_BYTES, topic.at("/spec/config/max.message.bytes").asLong(), name);
                int replicas = topic.at("/spec/replicas").asInt();
                int minIsr = topic.at("/spec/config/min.insync.replicas").asInt();
                assertTrue(replicas <= brokers && minIsr >= 2 && minIsr < replicas,
                        name + ": acks=all writes survive one broker lost (replicas " + replicas + ", min ISR " + minIsr + ")");
                long storeWindowMillis = 24L * 3600 * 1000; // diffusion.jobs.store-window-hours' default
                assertTrue(topic.at("/spec/config/retention.ms").asLong() >= storeWindowMillis, name + " kept for the job store's window");
            }
            assertEquals(names, topics.keySet(), "KafkaTopics for exactly the code's topics");
            assertEquals(String.valueOf(partitions), config.get("DIFFUSION_TOPICS_PARTITIONS"));
            assertEquals("false", config.get("DIFFUSION_TOPICS_CREATE"), "Strimzi owns the topics");
            // transactions (the orchestrator's final events) and the consumer group's offsets, replicated the same way
            JsonNode kc = kafka.at("/spec/kafka/config");
            assertEquals(3, kc.get("transaction.state.log.replication.factor").asInt());
            assertEquals(2, kc.get("transaction.state.log.min.isr").asInt());
            assertEquals(3, kc.get("offsets.topic.replication.factor").asInt());
            assertEquals(brokers, 3);
            JsonNode plain = null;
            for (JsonNode l : kafka.at("/spec/kafka/listeners")) {
                plain = l.get("name").asText().equals("plain") ? l : plain;
            }
            assertNotNull(plain);
            String bootstrap = "diffusion-kafka-bootstrap:" + plain.get("port").asInt();
            assertEquals(bootstrap, config.get("DIFFUSION_KAFKA_BOOTSTRAP_SERVERS"));

            JsonNode keda = r.custom("ScaledObject", "orchestrator");
            JsonNode trigger = keda.at("/spec/triggers/0");
            assertEquals("kafka", trigger.get("type").asText());
            assertEquals(orchestrator.getProperty("diffusion.topics.jobs"), trigger.at("/metadata/topic").asText());
            assertEquals(orchestrator.getProperty("diffusion.kafka.group-id"), trigger.at("/metadata/consumerGroup").asText());
            String namespace = r.get(Namespace.class, "diffusion").getMetadata().getName();
            assertEquals("diffusion-kafka-bootstrap." + namespace + ".svc:" + plain.get("port").asInt(),
                    trigger.at("/metadata/bootstrapServers").asText(), "KEDA's operator resolves it from its own namespace");
            assertEquals("orchestrator", keda.at("/spec/scaleTargetRef/name").asText());
            assertTrue(keda.at("/spec/maxReplicaCount").asInt() <= topics.get(orchestrator.getProperty("diffusion.topics.jobs"))
                    .at("/spec/partitions").asInt(), "never more orchestrators than partitions of the jobs topic");
            assertEquals("false", trigger.at("/metadata/allowIdleConsumers").asText());
            // the CRD types trigger metadata as a string map: check the keys against the kafka scaler's own
            // (kedacore/keda v2.20.2 pkg/scalers/kafka_scaler.go, its keda:"name=..." tags read from trigger metadata)
            Set<String> kafkaScalerKeys = Set.of("bootstrapServers", "consumerGroup", "topic", "partitionLimitation",
                    "lagThreshold", "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag",
                    "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions", "version",
                    "tls", "unsafeSsl", "sasl", "saslTokenProvider", "awsRegion");
            trigger.get("metadata").fieldNames().forEachRemaining(k -> assertTrue(kafkaScalerKeys.contains(k),
                    "KEDA's kafka scaler has no metadata " + k));
        }
    }

    @Test
    void disruptionBudgetsLeaveRoomToDrainAndPodsSpreadOverNodes() {
        for (Rendered r : overlays.values()) {
            Map<String, Integer> minReplicas = new LinkedHashMap<>();
            for (HorizontalPodAutoscaler h : r.all(HorizontalPodAutoscaler.class)) {
                minReplicas.put(h.getSpec().getScaleTargetRef().getName(), h.getSpec().getMinReplicas());
            }
            for (JsonNode so : r.customs("ScaledObject")) {
                minReplicas.put(so.at("/spec/scaleTargetRef/name").asText(), so.at("/spec/minReplicaCount").asInt());
            }
            for (Deployment d : r.all(Deployment.class)) {
                String name = d.getMetadata().getName();
                int replicas = Math.min(d.getSpec().getReplicas(), minReplicas.getOrDefault(name, Integer.MAX_VALUE));
                Map<String, String> labels = d.getSpec().getTemplate().getMetadata().getLabels();
                List<PodDisruptionBudget> pdbs = r.all(PodDisruptionBudget.class).stream()
                        .filter(p -> labels.entrySet().containsAll(p.getSpec().getSelector().getMatchLabels().entrySet())).toList();
                assertEquals(1, pdbs.size(), r.overlay() + " " + name + ": one PodDisruptionBudget");
                var spec = pdbs.get(0).getSpec();
                if (spec.getMinAvailable() != null) {
                    assertTrue(spec.getMinAvailable().getIntVal() < replicas,
                            name + ": minAvailable " + spec.getMinAvailable().getIntVal() + " < replicas " + replicas + ", or drains block");
                } else {
                    assertTrue(spec.getMaxUnavailable().getIntVal() >= 1, name + ": maxUnavailable >= 1");
                }
                List<TopologySpreadConstraint> spread = d.getSpec().getTemplate().getSpec().getTopologySpreadConstraints();
                assertTrue(spread.stream().anyMatch(t -> t.getTopologyKey().equals("kubernetes.io/hostname")
                        && labels.equals(t.getLabelSelector().getMatchLabels())), name + ": spread across nodes");
            }
        }
    }

    @Test
    void onlyTheOrchestratorReachesTheModelServicesAndOnlyItsApiIsOpen() {
        for (Rendered r : overlays.values()) {
            Map<String, String> orchestratorLabels = r.get(Deployment.class, "orchestrator").getSpec().getTemplate().getMetadata().getLabels();
            for (String name : MODULES.keySet()) {
                Deployment d = r.get(Deployment.class, name);
                NetworkPolicy np = r.get(NetworkPolicy.class, name);
                assertEquals(d.getSpec().getSelector().getMatchLabels(), np.getSpec().getPodSelector().getMatchLabels(), name);
                assertEquals(List.of("Ingress"), np.getSpec().getPolicyTypes());
                assertEquals(1, np.getSpec().getIngress().size(), name);
                var rule = np.getSpec().getIngress().get(0);
                assertEquals(List.of(container(d).getPorts().get(0).getContainerPort()),
                        rule.getPorts().stream().map(p -> p.getPort().getIntVal()).toList(), name + ": its port only");
                if (name.equals("orchestrator")) {
                    assertTrue(rule.getFrom() == null || rule.getFrom().isEmpty(), "the public API is open to all");
                    continue;
                }
                for (NetworkPolicyPeer peer : rule.getFrom()) {
                    boolean orchestrator = peer.getPodSelector() != null && peer.getNamespaceSelector() == null
                            && orchestratorLabels.entrySet().containsAll(peer.getPodSelector().getMatchLabels().entrySet());
                    boolean prometheus = peer.getPodSelector() == null && peer.getNamespaceSelector() != null
                            && Map.of("kubernetes.io/metadata.name", "monitoring").equals(peer.getNamespaceSelector().getMatchLabels());
                    assertTrue(orchestrator || prometheus, name + ": only the orchestrator (and Prometheus scraping) may call it: " + peer);
                }
            }
            // the brokers: Strimzi writes the listener's NetworkPolicy from its peers
            JsonNode peers = r.custom("Kafka", "diffusion").at("/spec/kafka/listeners/0/networkPolicyPeers");
            assertEquals("orchestrator", peers.at("/0/podSelector/matchLabels/app.kubernetes.io~1name").asText());
        }
    }

    @Test
    void theModelIsOneReadOnlyVolumeSharedByEveryPodThatReadsIt() {
        for (Rendered r : overlays.values()) {
            PersistentVolumeClaim pvc = r.get(PersistentVolumeClaim.class, "diffusion-models");
            assertEquals(List.of("ReadOnlyMany"), pvc.getSpec().getAccessModes());
            String modelPath = r.get(ConfigMap.class, "diffusion-config").getData().get("DIFFUSION_MODEL_PATH");
            for (Deployment d : r.all(Deployment.class)) {
                PodSpec pod = d.getSpec().getTemplate().getSpec();
                Volume v = pod.getVolumes().stream().filter(x -> x.getPersistentVolumeClaim() != null).findFirst()
                        .orElseThrow(() -> new AssertionError(d.getMetadata().getName() + ": no model volume"));
                assertEquals("diffusion-models", v.getPersistentVolumeClaim().getClaimName());
                assertEquals(Boolean.TRUE, v.getPersistentVolumeClaim().getReadOnly());
                VolumeMount m = container(d).getVolumeMounts().stream().filter(x -> x.getName().equals(v.getName())).findFirst().orElseThrow();
                assertEquals(Boolean.TRUE, m.getReadOnly());
                assertTrue(modelPath.startsWith(m.getMountPath() + "/"), modelPath + " lies on the volume at " + m.getMountPath());
            }
        }
    }

    @Test
    void theUNetScalesOnItsQueuedSamplesServedByThePrometheusAdapterRuleShippedBesideIt() throws Exception {
        JsonNode values = YAML.readTree(K8S.resolve("monitoring/prometheus-adapter-values.yaml").toFile());
        JsonNode rule = values.at("/rules/custom/0");
        String served = rule.at("/name/as").asText();
        for (Rendered r : overlays.values()) {
            HorizontalPodAutoscaler h = r.get(HorizontalPodAutoscaler.class, "unet");
            assertEquals("unet", h.getSpec().getScaleTargetRef().getName());
            assertEquals(1, h.getSpec().getMetrics().size());
            var metric = h.getSpec().getMetrics().get(0);
            assertEquals("Pods", metric.getType(), "a per-pod metric the service exports");
            assertEquals("diffusion_queued_samples", metric.getPods().getMetric().getName());
            assertEquals(served, metric.getPods().getMetric().getName(), "the adapter serves the HPA's metric under its name");
            // target: one full batch per pod (the U-Net merges up to max-batch samples into one call)
            assertEquals(properties.get("unet").getProperty("diffusion.unet.max-batch"),
                    metric.getPods().getTarget().getAverageValue().toString());
            assertTrue(h.getSpec().getMinReplicas() >= 2 && h.getSpec().getMaxReplicas() > h.getSpec().getMinReplicas());
        }
        assertTrue(rule.get("seriesQuery").asText().startsWith("diffusion_queued_samples{service=\"unet\""), rule.toString());
        assertEquals("pod", rule.at("/resources/overrides/pod/resource").asText(), "per pod");
        assertTrue(rule.get("metricsQuery").asText().contains("<<.Series>>{<<.LabelMatchers>>}"));
        JsonNode podMonitor = YAML.readTree(K8S.resolve("monitoring/podmonitor.yaml").toFile());
        assertEquals("/q/metrics", podMonitor.at("/spec/podMetricsEndpoints/0/path").asText());
        Service unet = overlays.get("cpu").get(Service.class, "unet");
        assertEquals(unet.getSpec().getPorts().get(0).getName(), podMonitor.at("/spec/podMetricsEndpoints/0/port").asText());
        assertEquals(unet.getMetadata().getNamespace(), podMonitor.at("/spec/namespaceSelector/matchNames/0").asText());
    }

    @Test
    void everyYamlFileUnderK8sIsRenderedOrNamed() throws Exception {
        // a manifest nobody references would never reach a cluster: each is a resource of a kustomization or
        // one of the documented stand-alone files
        Set<String> referenced = new TreeSet<>();
        for (String k : List.of("base", "overlays/cpu", "overlays/gpu")) {
            referenced.add(k + "/kustomization.yaml");
            for (JsonNode r : YAML.readTree(K8S.resolve(k).resolve("kustomization.yaml").toFile()).path("resources")) {
                referenced.add(K8S.relativize(K8S.resolve(k).resolve(r.asText()).normalize()).toString());
            }
        }
        referenced.addAll(List.of("monitoring/prometheus-adapter-values.yaml", "monitoring/podmonitor.yaml"));
        List<String> files;
        try (var s = Files.walk(K8S)) {
            files = s.filter(p -> p.toString().endsWith(".yaml") && !K8S.relativize(p).startsWith("src")
                    && !K8S.relativize(p).startsWith("target")).map(p -> K8S.relativize(p).toString()).sorted().toList();
        }
        for (String f : files) {
            if (!referenced.contains(f)) {
                fail(f + " is referenced by no kustomization");
            }
        }
    }
}
