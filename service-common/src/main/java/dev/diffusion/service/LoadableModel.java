package dev.diffusion.service;

/** A service's part of the model, loaded once at startup; the readiness check reports DOWN until it is. */
public interface LoadableModel {
    /** What is loaded, for the health report ("unet of tiny-random, fp32"). */
    String describe();

    boolean loaded();

    /** Why loading failed, or null. */
    Throwable failure();
}
