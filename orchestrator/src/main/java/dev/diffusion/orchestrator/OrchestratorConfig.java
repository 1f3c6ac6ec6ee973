package dev.diffusion.orchestrator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.util.Map;
import java.util.Optional;

/** Everything the orchestrator reads from {@code application.properties} / the environment, prefix {@code diffusion}. */
@ConfigMapping(prefix = "diffusion")
public interface OrchestratorConfig {

    Model model();

    Kafka kafka();

    Topics topics();

    Events events();

    Jobs jobs();

    Services services();

    Api api();

    interface Api {
        /**
         * When set, every gRPC call to this orchestrator and every HTTP API request must carry {@code authorization: Bearer <token>}
         * ({@code UNAUTHENTICATED} / HTTP 401 otherwise; {@code http.ApiTokenFilter}). TLS for the port: Quarkus' {@code quarkus.tls.*} key store with
         * {@code quarkus.http.insecure-requests=disabled} (see README, "Failure behaviour").
         */
        Optional<String> token();

        /**
         * A synchronous HTTP request (A1111 txt2img/img2img, OpenAI generations/edits) whose client hangs up before
         * the answer cancels the job it created, so that abandoned work (a client's timeout, often followed by its
         * retry) does not hold the U-Net. A job the request did not create (its id was already known) is left alone.
         * {@code false}: the job runs on; its images are in the store and on the events topic.
         */
        @WithDefault("true")
        boolean cancelOnDisconnect();
    }

    interface Model {
        /** The model the services serve (same key as theirs): a diffusers folder, a .safetensors file, "demo" (the bundled
         *  demo model, the default) or "tiny-random".
         *  The orchestrator reads only its configuration (scheduler, latent shape, the name for the PNG metadata). */
        @WithDefault("demo")
        String path();

        /** The tokenizer the text-encoder service is given, if any (a single-file model has none of its own). */
        Optional<String> tokenizer();
    }

    interface Kafka {
        @WithDefault("127.0.0.1:9092")
        String bootstrapServers();

        /** Orchestrators with the same group share the partitions of the jobs topic. */
        @WithDefault("diffusion-orchestrator")
        String groupId();

        /**
         * The transactional.id of this orchestrator's final-event producer: unique per running orchestrator and the
         * same across its restarts, so a restarted one fences its predecessor's unfinished transaction at once. Default:
         * the group id, the host name (a pod's name) and the HTTP port.
         */
        Optional<String> transactionalId();

        /** Passed to every Kafka client as they are: security.protocol, sasl.*, ssl.*, ... */
        Map<String, String> properties();
    }

    interface Topics {
        @WithDefault("diffusion.jobs")
        String jobs();

        @WithDefault("diffusion.events")
        String events();

        @WithDefault("diffusion.jobs.dlq")
        String dlq();

        /** Cancel requests, read by every orchestrator (the job may run on any of them). */
        @WithDefault("diffusion.control")
        String control();

        /** Partitions of the topics created at startup when absent; they bound how many orchestrators share the work. */
        @WithDefault("6")
        int partitions();

        @WithDefault("true")
        boolean create();
    }

    interface Events {
        /** "protobuf" (default) or "json" (the proto3 JSON mapping, header content-type: application/json). */
        @WithDefault("protobuf")
        String format();
    }

    interface Jobs {
        /**
         * Jobs sampled at once by this orchestrator: enough to fill the U-Net service's merged runs (each job sends a
         * CFG pair: 8 jobs fill diffusion.unet.batching.max-samples = 16).
         */
        @WithDefault("8")
        int maxConcurrent();

        /** Longest prompt (and negative prompt) accepted, in characters. */
        @WithDefault("10000")
        int maxPromptChars();

        /** When set, each image is also written there as {@code <job id>-<index>.png} and COMPLETED names the file. */
        Optional<String> outputDir();

        /** Jobs remembered for Get/Watch (the oldest are forgotten first). */
        @WithDefault("10000")
        int remembered();

        /**
         * PNG bytes kept in memory for Get, newest first; older results are read back from the events topic when
         * asked for, so memory stays flat however many jobs pass.
         */
        @WithDefault("67108864")
        long storeImageBytes();

        /**
         * How far back the job store reads the topics at startup (and so for how long a job id is remembered as done:
         * a record with the id of a job finished longer ago runs as a new job).
         */
        @WithDefault("24")
        int storeWindowHours();
    }

    interface Services {
        /** gRPC targets; {@code dns:///name:port} with round_robin balances per call over a headless service's pods. */
        @WithDefault("dns:///127.0.0.1:8081")
        String textEncoder();

        @WithDefault("dns:///127.0.0.1:8082")
        String unet();

        @WithDefault("dns:///127.0.0.1:8083")
        String vae();

        @WithDefault("round_robin")
        String loadBalancingPolicy();

        /**
         * How often the model services' names are resolved again (ModelClients.PollingNameResolver), so pods a
         * headless Service gains get calls; 0 = only when a connection fails (gRPC's own behaviour).
         */
        @WithDefault("30000")
        long reResolveMillis();

        /**
         * A PEM file of the certificate(s) the model services' TLS certificates are checked against: when set, the
         * three links use TLS (the services serve it with Quarkus' {@code quarkus.tls.*} key store).
         */
        Optional<String> tlsTrustCertificates();

        /** Deadline of one call (encode, one step, decode). */
        @WithDefault("120000")
        long deadlineMillis();

        /** Tries per call that fails inside the service (INTERNAL, UNKNOWN): a call is a pure function of its inputs. */
        @WithDefault("4")
        int attempts();

        /** First pause between tries; doubled after each, up to {@link #retryMaxBackoffMillis()}. */
        @WithDefault("250")
        long retryBackoffMillis();

        @WithDefault("10000")
        long retryMaxBackoffMillis();

        /** How long a call is retried while its service is down, loading or overloaded before the job FAILs. */
        @WithDefault("600000")
        long retryBudgetMillis();

        /** How often each service is probed (its Info method); while one does not answer, no new jobs are taken. */
        @WithDefault("2000")
        long probeIntervalMillis();
    }
}
