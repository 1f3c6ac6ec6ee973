package dev.diffusion.orchestrator;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Probes the three model services every {@code probe-interval-millis}. While one does not answer, the job consumer
 * takes no new jobs from Kafka (they wait there, not in FAILED events) and readiness says which service is missing
 * since when; jobs already running wait it out in {@link ModelClients}' back-off.
 */
public final class ServiceMonitor implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ServiceMonitor.class);

    private final ModelClients clients;
    private final long intervalMillis;
    private final Map<String, Down> down = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile boolean probedOnce;

    private record Down(long sinceMillis, String why) {}

    public ServiceMonitor(ModelClients clients, long intervalMillis) {
        this.clients = clients;
        this.intervalMillis = Math.max(100, intervalMillis);
        this.thread = new Thread(this::loop, "service-monitor");
        this.thread.setDaemon(true);
    }

    public void start() {
        thread.start();
    }

    private void loop() {
        while (running) {
            try {
                Map<String, String> now = clients.unreachable(Math.min(intervalMillis, 2000));
                long t = System.currentTimeMillis();
                for (Map.Entry<String, String> e : now.entrySet()) {
                    if (down.putIfAbsent(e.getKey(), new Down(t, e.getValue())) == null && probedOnce) {
                        LOG.warnf("%s does not answer (%s): taking no new jobs until it does", e.getKey(), e.getValue());
                    }
                }
                for (String s : down.keySet()) {
                    if (!now.containsKey(s)) {
                        Down d = down.remove(s);
                        LOG.infof("%s answers again (after %d s)", s, (t - d.sinceMillis()) / 1000);
                    }
                }
                probedOnce = true;
                Thread.sleep(intervalMillis);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warn("service probe failed", e); // keep probing
            }
        }
    }

    /** True once every service answered its last probe. */
    public boolean allUp() {
        return probedOnce && down.isEmpty();
    }

    public boolean alive() {
        return thread.isAlive();
    }

    /** "unet unreachable for 12 s (UNAVAILABLE: ...)", one clause per missing service; "" when all answer. */
    public String describe() {
        if (!probedOnce) {
            return "services not probed yet";
        }
        long t = System.currentTimeMillis();
        return down.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .map(e -> e.getKey() + " unreachable for " + (t - e.getValue().sinceMillis()) / 1000 + " s ("
                        + e.getValue().why() + ")")
                .collect(Collectors.joining("; "));
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
