package dev.diffusion.orchestrator;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready once the job store has read the topics, the job consumer runs and every model service answers; while one
 * does not, the orchestrator takes no jobs from Kafka and this says which service is missing since when (Submit
 * still accepts jobs: they wait on the jobs topic).
 */
@Readiness
@ApplicationScoped
public class ReadinessCheck implements HealthCheck {
    @Inject
    Orchestrator orchestrator;

    @Override
    public HealthCheckResponse call() {
        String why = orchestrator.notReadyBecause();
        var b = HealthCheckResponse.named("orchestrator").status(why.isEmpty());
        if (!why.isEmpty()) {
            b.withData("reason", why);
        }
        return b.build();
    }
}
