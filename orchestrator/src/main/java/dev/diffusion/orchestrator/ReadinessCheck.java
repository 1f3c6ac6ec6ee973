package dev.diffusion.orchestrator;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the job store has read the topics and the job consumer runs. */
@Readiness
@ApplicationScoped
public class ReadinessCheck implements HealthCheck {
    @Inject
    Orchestrator orchestrator;

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("orchestrator").status(orchestrator.ready()).build();
    }
}
