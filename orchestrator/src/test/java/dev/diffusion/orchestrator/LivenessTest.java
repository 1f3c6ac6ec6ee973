package dev.diffusion.orchestrator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** /q/health/live goes DOWN when a thread the orchestrator depends on has died, naming it. */
class LivenessTest {
    @Test
    void aStoppedServiceMonitorThreadIsReported() throws Exception {
        ModelClients clients = new ModelClients(new OrchestratorConfig.Services() {
            public String textEncoder() { return "dns:///127.0.0.1:1"; }
            public String unet() { return "dns:///127.0.0.1:1"; }
            public String vae() { return "dns:///127.0.0.1:1"; }
            public String loadBalancingPolicy() { return "round_robin"; }
            public long reResolveMillis() { return 0; }
            public Optional<String> tlsTrustCertificates() { return Optional.empty(); }
            public long deadlineMillis() { return 1000; }
            public int attempts() { return 1; }
            public long retryBackoffMillis() { return 10; }
            public long retryMaxBackoffMillis() { return 10; }
            public long retryBudgetMillis() { return 10; }
            public long probeIntervalMillis() { return 100; }
        });
        try {
            ServiceMonitor monitor = new ServiceMonitor(clients, 100);
            monitor.start();
            assertTrue(monitor.alive());
            assertEquals("", Orchestrator.deadBecause(true, true, monitor.alive()));
            for (int i = 0; i < 50 && !monitor.describe().contains("unet unreachable"); i++) {
                Thread.sleep(100);
            }
            assertFalse(monitor.allUp());
            assertTrue(monitor.describe().contains("unet unreachable for"), monitor.describe());
            monitor.close();
            for (int i = 0; i < 50 && monitor.alive(); i++) {
                Thread.sleep(100);
            }
            assertEquals("the service monitor thread stopped", Orchestrator.deadBecause(true, true, monitor.alive()));
        } finally {
            clients.close();
        }
        assertEquals("the job consumer thread stopped", Orchestrator.deadBecause(false, true, true));
        assertEquals("the job store thread stopped", Orchestrator.deadBecause(true, false, true));
    }
}
