package dev.diffusion.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue 21, "clean first start": the three model services started at once on one JavaCPP cache
 * ({@code -Dorg.bytedeco.javacpp.cachedir}, a folder of this test, never ~/.javacpp) that is empty, or holds a
 * truncated libtensorflow_framework.so.2, or lacks libjnitensorflow.so, all while every core is kept busy (the race
 * shows only under load). Every service must become ready, and the cache must end up equal to the natives jar.
 *
 * <p>Before dev.diffusion.core.nn.TensorFlowNatives, a service loading libtensorflow_cc.so.2 while another wrote
 * libtensorflow_framework.so.2 died of SIGBUS in ld-linux (now and then: 1 round in 15 on the 2-core development machine), and a
 * truncated libtensorflow_framework.so.2 killed every start (exit 134, SIGBUS) until the cache was deleted by hand.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NativesCacheIT {
    static final List<String> MODULES = List.of("text-encoder-service", "unet-service", "vae-service");
    static final int EMPTY_CACHE_ROUNDS = 5;
    static final String FRAMEWORK = "libtensorflow_framework.so.2";
    static final String JNI = "libjnitensorflow.so";

    final Path work = Path.of(System.getProperty("build.dir", "target")).toAbsolutePath().resolve("natives-cache-it");
    final List<Thread> busy = new ArrayList<>();
    volatile boolean stopBusy;
    Path nativesJar;
    String entryDir;
    Map<String, Long> expectedSizes = new TreeMap<>();
    Path lastCache;

    @BeforeAll
    void loadTheMachineAndReadTheNativesJar() throws IOException {
        deleteTree(work);
        Files.createDirectories(work);
        for (int i = 0; i < Runtime.getRuntime().availableProcessors(); i++) {
            Thread t = new Thread(() -> {
                long x = 0;
                while (!stopBusy) {
                    x = x * 6364136223846793005L + 1442695040888963407L;
                }
                if (x == 42) {
                    System.out.println(x);
                }
            }, "busy-" + i);
            t.setDaemon(true);
            t.start();
            busy.add(t);
        }
        // the natives jar as the services' fast-jar holds it (lib/main/<groupId>.<artifactId>-<version>-<classifier>.jar)
        Path lib = ServiceProcess.jar("unet-service").resolveSibling("lib/main");
        try (DirectoryStream<Path> jars = Files.newDirectoryStream(lib, "org.tensorflow.tensorflow-core-native-*.jar")) {
            for (Path jar : jars) {
                try (JarFile j = new JarFile(jar.toFile())) {
                    for (JarEntry e : java.util.Collections.list(j.entries())) {
                        if (e.getName().endsWith("/" + FRAMEWORK)) {
                            nativesJar = jar;
                            entryDir = e.getName().substring(0, e.getName().length() - FRAMEWORK.length());
                        }
                    }
                    if (nativesJar != null && nativesJar.equals(jar)) {
                        for (JarEntry e : java.util.Collections.list(j.entries())) {
                            String name = e.getName();
                            if (name.startsWith(entryDir) && !e.isDirectory() && name.indexOf('/', entryDir.length()) < 0
                                    && name.contains(".so")) {
                                expectedSizes.put(name.substring(entryDir.length()), e.getSize());
                            }
                        }
                    }
                }
            }
        }
        assertTrue(nativesJar != null && expectedSizes.containsKey(JNI), "no natives jar with " + FRAMEWORK + " in " + lib);
    }

    @AfterAll
    void stopBusyLoops() throws Exception {
        stopBusy = true;
        for (Thread t : busy) {
            t.join(5_000);
        }
    }

    @Test
    @Order(1)
    void threeServicesStartAtOnceOnAnEmptyCacheFiveTimesInARow() throws Exception {
        for (int round = 1; round <= EMPTY_CACHE_ROUNDS; round++) {
            if (lastCache != null) {
                deleteTree(lastCache);
            }
            Path cache = work.resolve("empty-" + round);
            Files.createDirectories(cache);
            lastCache = cache; // the next tests damage the last one
            startAllAndAwaitReady("empty cache, round " + round, cache);
            assertCacheEqualsJar(cache);
        }
    }

    @Test
    @Order(2)
    void aMissingJniLibraryIsExtracted() throws Exception {
        Files.deleteIfExists(cacheFolder(lastCache).resolve(JNI));
        startAllAndAwaitReady("missing " + JNI, lastCache);
        assertCacheEqualsJar(lastCache);
    }

    @Test
    @Order(3)
    void aTruncatedFrameworkLibraryIsRepaired() throws Exception {
        Path lib = cacheFolder(lastCache).resolve(FRAMEWORK);
        Files.createDirectories(lib.getParent());
        try (RandomAccessFile f = new RandomAccessFile(lib.toFile(), "rw")) {
            f.setLength(expectedSizes.get(FRAMEWORK) / 2); // what a killed extraction left (25 MB of 50)
        }
        startAllAndAwaitReady("truncated " + FRAMEWORK, lastCache);
        assertCacheEqualsJar(lastCache);
        deleteTree(work); // 680 MB per cache
    }

    Path cacheFolder(Path cache) {
        return cache.resolve(nativesJar.getFileName().toString()).resolve(entryDir);
    }

    /** The three services at once on {@code cache}; every one must become ready (a crash fails, naming its exit code). */
    void startAllAndAwaitReady(String round, Path cache) throws Exception {
        long t0 = System.nanoTime();
        Path logs = work.resolve("logs-" + round.replaceAll("[^A-Za-z0-9]+", "-"));
        List<ServiceProcess> started = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        try {
            for (String module : MODULES) {
                started.add(ServiceProcess.start(module, List.of("-Dorg.bytedeco.javacpp.cachedir=" + cache,
                        "-XX:ErrorFile=" + logs.resolve("hs_err_" + module + "_%p.log")), logs.resolve(module + ".log")));
            }
            for (ServiceProcess p : started) {
                try {
                    p.awaitReady(Duration.ofSeconds(120));
                } catch (IllegalStateException e) {
                    String first = e.getMessage().lines().findFirst().orElse("");
                    failures.add(first + crashSummary(logs, p.name));
                    // the logs folder is deleted with the caches at the end: show why it stopped here
                    Path log = logs.resolve(p.name + ".log");
                    if (Files.isRegularFile(log)) {
                        List<String> lines = Files.readAllLines(log);
                        System.out.println(round + ", " + p.name + " log (last 40 lines):");
                        lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(l -> System.out.println("  " + l));
                    }
                }
            }
        } finally {
            for (ServiceProcess p : started) {
                p.close();
            }
        }
        System.out.printf("%s: %s in %d ms%n", round, failures.isEmpty() ? "all three ready" : failures,
                (System.nanoTime() - t0) / 1_000_000);
        if (!failures.isEmpty()) {
            fail(round + ": " + String.join("; ", failures) + " (logs in " + logs + ")");
        }
    }

    static String crashSummary(Path logs, String module) throws IOException {
        try (Stream<Path> files = Files.list(logs)) {
            for (Path hsErr : files.filter(f -> f.getFileName().toString().startsWith("hs_err_" + module)).toList()) {
                String signal = Files.readAllLines(hsErr).stream().filter(l -> l.startsWith("#  SIG") || l.startsWith("# C  ["))
                        .map(String::strip).reduce((a, b) -> a + ", " + b).orElse("");
                return " [" + signal + "]";
            }
        }
        return "";
    }

    void assertCacheEqualsJar(Path cache) throws IOException {
        Path folder = cacheFolder(cache);
        Map<String, Long> actual = new TreeMap<>();
        for (String name : expectedSizes.keySet()) {
            Path f = folder.resolve(name);
            actual.put(name, Files.isRegularFile(f) ? Files.size(f) : -1L);
        }
        assertEquals(expectedSizes, actual, "cached libraries in " + folder);
        try (Stream<Path> files = Files.list(folder)) {
            List<String> partials = files.map(f -> f.getFileName().toString()).filter(n -> n.contains(".partial-")).toList();
            assertEquals(List.of(), partials, "left-over partial extractions");
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
