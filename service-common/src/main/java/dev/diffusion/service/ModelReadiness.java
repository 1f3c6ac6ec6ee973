package dev.diffusion.service;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Any;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

/** {@code /q/health/ready}: UP once every model part of this service is loaded. */
@Readiness
@ApplicationScoped
public class ModelReadiness implements HealthCheck {
    @Inject
    @Any
    Instance<LoadableModel> models;

    @Override
    public HealthCheckResponse call() {
        HealthCheckResponseBuilder b = HealthCheckResponse.named("model");
        boolean up = true;
        int i = 0;
        for (LoadableModel m : models) {
            up &= m.loaded();
            b.withData("part" + (i++), m.describe());
        }
        return b.status(up && i > 0).build();
    }
}
