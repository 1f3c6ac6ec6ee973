package dev.diffusion.orchestrator;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;

/** DOWN when the job consumer, the job store or the service monitor thread has died: restart the process. */
@Liveness
@ApplicationScoped
public class LivenessCheck implements HealthCheck {
    @Inject
    Orchestrator orchestrator;

    @Override
    public HealthCheckResponse call() {
        String why = orchestrator.deadBecause();
        var b = HealthCheckResponse.named("orchestrator-threads").status(why.isEmpty());
        if (!why.isEmpty()) {
            b.withData("reason", why);
        }
        return b.build();
    }
}
