package dev.diffusion.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * k8s/: every YAML document parses and names its apiVersion/kind/metadata.name; kustomizations point at files that
 * exist and patch objects the base defines; the GPU overlay asks nvidia.com/gpu for exactly the U-Net and the VAE.
 * (Not applied to a cluster: there is none here.)
 */
class K8sManifestsTest {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    final Path k8s = Path.of(System.getProperty("repo.root", "..")).resolve("k8s");

    static List<JsonNode> docs(Path file) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (it.hasNext()) {
                JsonNode n = it.next();
                if (n != null && !n.isNull() && !n.isEmpty()) {
                    out.add(n);
                }
            }
        }
        return out;
    }

    Map<String, JsonNode> base() throws Exception {
        Map<String, JsonNode> objects = new HashMap<>();
        JsonNode kustomization = docs(k8s.resolve("base/kustomization.yaml")).get(0);
        for (JsonNode r : kustomization.get("resources")) {
            for (JsonNode d : docs(k8s.resolve("base").resolve(r.asText()))) {
                objects.put(d.get("kind").asText() + "/" + d.get("metadata").get("name").asText(), d);
            }
        }
        return objects;
    }

    @Test
    void everyFileParsesAndEveryObjectIsNamed() throws Exception {
        List<Path> files;
        try (Stream<Path> s = Files.walk(k8s)) {
            files = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        }
        assertTrue(files.size() >= 9, files.toString());
        for (Path f : files) {
            List<JsonNode> ds = docs(f);
            assertFalse(ds.isEmpty(), f + " is empty");
            for (JsonNode d : ds) {
                assertNotNull(d.get("apiVersion"), f + ": apiVersion");
                assertNotNull(d.get("kind"), f + ": kind");
                if (!d.get("kind").asText().equals("Kustomization")) {
                    assertNotNull(d.get("metadata").get("name"), f + ": metadata.name");
                }
            }
        }
    }

    @Test
    void baseHasADeploymentAndHeadlessServicePerServiceOnItsPort() throws Exception {
        Map<String, JsonNode> o = base();
        Map<String, Integer> ports = Map.of("orchestrator", 8080, "text-encoder", 8081, "unet", 8082, "vae", 8083);
        ports.forEach((name, port) -> {
            JsonNode d = o.get("Deployment/" + name);
            assertNotNull(d, "Deployment/" + name);
            JsonNode c = d.at("/spec/template/spec/containers/0");
            assertEquals(port, c.at("/ports/0/containerPort").asInt(), name);
            assertEquals("/q/health/ready", c.at("/readinessProbe/httpGet/path").asText(), name);
            assertEquals(d.at("/spec/selector/matchLabels"), d.at("/spec/template/metadata/labels"), name + " selector");
            JsonNode svc = o.get("Service/" + name);
            assertNotNull(svc, "Service/" + name);
            assertEquals("None", svc.at("/spec/clusterIP").asText(), name + " headless");
            assertEquals(port, svc.at("/spec/ports/0/port").asInt(), name);
            assertEquals(d.at("/spec/selector/matchLabels"), svc.at("/spec/selector"), name + " service selector");
        });
        assertEquals("unet", o.get("HorizontalPodAutoscaler/unet").at("/spec/scaleTargetRef/name").asText());
        JsonNode keda = o.get("ScaledObject/orchestrator");
        assertEquals("kafka", keda.at("/spec/triggers/0/type").asText());
        assertEquals("diffusion.jobs", keda.at("/spec/triggers/0/metadata/topic").asText());
        assertEquals(o.get("ConfigMap/diffusion-config").at("/data/DIFFUSION_TOPICS_PARTITIONS").asText(),
                keda.at("/spec/maxReplicaCount").asText(), "no more orchestrators than partitions");
        assertNotNull(o.get("Job/diffusion-kafka-topics"));
    }

    @Test
    void overlaysPatchObjectsOfTheBaseAndOnlyUnetAndVaeGetAGpu() throws Exception {
        Map<String, JsonNode> o = base();
        for (String overlay : List.of("cpu", "gpu")) {
            JsonNode k = docs(k8s.resolve("overlays").resolve(overlay).resolve("kustomization.yaml")).get(0);
            assertEquals("../../base", k.at("/resources/0").asText());
            List<String> gpu = new ArrayList<>();
            for (JsonNode p : k.get("patches")) {
                String target = p.at("/target/kind").asText() + "/" + p.at("/target/name").asText();
                assertNotNull(o.get(target), overlay + " patches " + target + ", which the base lacks");
                JsonNode ops = YAML.readTree(p.get("patch").asText());
                assertTrue(ops.isArray() && ops.size() > 0, overlay + " " + target);
                if (ops.toString().contains("nvidia.com/gpu\":1")) {
                    gpu.add(p.at("/target/name").asText());
                }
            }
            assertEquals(overlay.equals("gpu") ? List.of("unet", "vae") : List.of(), gpu, overlay);
        }
    }
}
