package dev.diffusion.core.nn;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLConnection;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.zip.CRC32;
import org.bytedeco.javacpp.ClassProperties;
import org.bytedeco.javacpp.Loader;

/**
 * Loads TensorFlow's native libraries so that no process maps a half-written or truncated copy of them.
 *
 * <p>JavaCPP (1.5.11) extracts each library of the natives jar into its cache
 * ({@code ~/.javacpp/cache/<jar file name>/org/tensorflow/internal/c_api/linux-x86_64/}, or under
 * {@code org.bytedeco.javacpp.cachedir}) one at a time, under its own lock, writing straight to the final name, and
 * loads each right after: first libtensorflow_cc.so.2, then libtensorflow_framework.so.2, then libjnitensorflow.so.
 * But libtensorflow_cc.so.2 needs libtensorflow_framework.so.2 and finds it in its own folder (RUNPATH
 * {@code $ORIGIN/}), so loading it maps whatever framework file is there before JavaCPP has checked it: a JVM that
 * starts while another writes it maps half a file and dies of SIGBUS in ld-linux, and a copy truncated by a killed
 * extraction is mapped on every later start and never repaired.
 *
 * <p>{@link #ensureLoaded} therefore, once per JVM: takes an exclusive lock on {@value #LOCK_FILE} in JavaCPP's cache
 * folder (every process of this project takes it before its first TensorFlow call, so none maps a library while
 * another writes one); checks every library of the natives jar in the cache against its jar entry (size and
 * modification time, the test JavaCPP applies, now to all of them before any is loaded; a CRC of all 680 MB would
 * cost 0.2 s on every start, and the copies written here are checked once, when written); extracts what is missing or
 * wrong to a temporary name, checks its length and CRC against the entry, syncs it and renames it into place (so even
 * a process outside this lock never sees it half-written); loads TensorFlow; and releases the lock.
 *
 * <p>The load stays under the lock: JavaCPP re-extracts a cached file whose size or time differs from its entry (a
 * JVM in another time zone reads another time from the jar's DOS timestamps), deleting it and writing the new one under
 * the final name. A process that has already mapped the old file keeps its inode and is safe; one mapping the name
 * while that happens is not, and only the lock keeps the two apart.
 */
public final class TensorFlowNatives {
    /** The lock file in the cache folder (not JavaCPP's {@code .lock}: JavaCPP locks that one itself, in this JVM too). */
    public static final String LOCK_FILE = ".tensorflow-natives.lock";
    /** Marks a file being extracted (followed by the writer's pid); left behind only by a killed writer. */
    static final String PARTIAL = ".partial-";

    /** The class whose static initialiser has JavaCPP load the libraries (looked up, not initialised, here). */
    private static final String JNI_CLASS = "org.tensorflow.internal.c_api.global.tensorflow";
    private static final System.Logger LOG = System.getLogger(TensorFlowNatives.class.getName());

    private static volatile boolean loaded;

    private TensorFlowNatives() {}

    /** Makes sure the cached libraries are complete and TensorFlow is loaded; cheap after the first call. */
    public static void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (TensorFlowNatives.class) { // FileChannel.lock refuses a second lock by the same JVM
            if (!loaded) {
                load();
                loaded = true;
            }
        }
    }

    private static void load() {
        long t0 = System.nanoTime();
        Path cacheDir;
        try {
            cacheDir = Loader.getCacheDir().toPath(); // org.bytedeco.javacpp.cachedir, or ~/.javacpp/cache
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "no JavaCPP cache folder (" + e.getMessage() + "); loading TensorFlow unchecked");
            org.tensorflow.TensorFlow.version();
            return;
        }
        try (FileChannel channel = FileChannel.open(cacheDir.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = channel.lock()) {
            long locked = System.nanoTime();
            List<String> repaired = List.of();
            CachedJar natives = locate(cacheDir);
            if (natives != null) {
                repaired = repair(natives.jar(), natives.entryDir(), natives.cacheSubdir());
            }
            org.tensorflow.TensorFlow.version();
            long done = System.nanoTime();
            if (!repaired.isEmpty()) {
                LOG.log(System.Logger.Level.INFO, String.format("TensorFlow natives in %s: extracted %s (%.1f s)",
                        natives.cacheSubdir(), String.join(", ", repaired), (done - locked) / 1e9));
            }
            LOG.log(System.Logger.Level.DEBUG, () -> String.format("TensorFlow loaded: %.1f s waiting for %s, %.1f s checking and loading",
                    (locked - t0) / 1e9, cacheDir.resolve(LOCK_FILE), (done - locked) / 1e9));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare TensorFlow's native libraries in " + cacheDir + ": " + e.getMessage(), e);
        }
    }

    /** The natives jar of this platform, the folder of its libraries, and where JavaCPP caches them. */
    record CachedJar(Path jar, String entryDir, Path cacheSubdir) {}

    /**
     * Where JavaCPP will take libjnitensorflow (and, from the same jar folder, the libraries it preloads), asked of
     * JavaCPP itself; null when that is not a jar (a plain file is loaded where it is, nothing is cached).
     */
    static CachedJar locate(Path cacheDir) throws IOException {
        URL[] urls;
        try {
            Class<?> jni = Class.forName(JNI_CLASS, false, TensorFlowNatives.class.getClassLoader());
            ClassProperties properties = Loader.loadProperties(jni, Loader.loadProperties(), true);
            urls = Loader.findLibrary(jni, properties, properties.getProperty("platform.library"));
        } catch (ClassNotFoundException e) {
            throw new IOException("tensorflow-core-native is not on the class path", e);
        }
        if (urls.length == 0) {
            return null;
        }
        URLConnection connection = urls[0].openConnection();
        if (!(connection instanceof JarURLConnection jarConnection)) {
            return null;
        }
        Path jar;
        try {
            jar = Path.of(jarConnection.getJarFileURL().toURI());
        } catch (URISyntaxException | IllegalArgumentException e) {
            throw new IOException("natives jar at " + jarConnection.getJarFileURL() + " is not a local file", e);
        }
        String entry = jarConnection.getEntryName();
        String entryDir = entry.substring(0, entry.lastIndexOf('/') + 1);
        // the same sub-folder as Loader.cacheResource: <jar file name>/<entry folder>, unless cachedir.nosubdir
        String noSubdir = System.getProperty("org.bytedeco.javacpp.cachedir.nosubdir", "false").toLowerCase();
        boolean flat = noSubdir.equals("true") || noSubdir.equals("t") || noSubdir.isEmpty();
        Path subdir = flat ? cacheDir : cacheDir.resolve(jar.getFileName().toString()).resolve(entryDir);
        return new CachedJar(jar, entryDir, subdir);
    }

    /**
     * Brings every native library directly under {@code entryDir} of {@code jar} into {@code cacheSubdir} unless an
     * intact copy is there; the caller holds the lock. Returns what it extracted, each with the reason.
     */
    static List<String> repair(Path jar, String entryDir, Path cacheSubdir) throws IOException {
        Files.createDirectories(cacheSubdir);
        deletePartials(cacheSubdir);
        String librarySuffix = System.mapLibraryName("x").substring(System.mapLibraryName("x").indexOf('x') + 1); // ".so"
        List<String> repaired = new ArrayList<>();
        try (JarFile jarFile = new JarFile(jar.toFile())) {
            for (JarEntry entry : Collections.list(jarFile.entries())) {
                String name = entry.getName();
                if (entry.isDirectory() || !name.startsWith(entryDir) || name.indexOf('/', entryDir.length()) >= 0) {
                    continue;
                }
                String fileName = name.substring(entryDir.length());
                if (!fileName.contains(librarySuffix)) {
                    continue; // LICENSE: JavaCPP does not extract it here either
                }
                Path target = cacheSubdir.resolve(fileName);
                String problem = problem(target.toFile(), entry);
                if (problem != null) {
                    extract(jarFile, entry, target);
                    repaired.add(fileName + " (" + problem + ")");
                }
            }
        }
        return repaired;
    }

    /** Why the cached copy differs from the entry in what JavaCPP compares (size, modification time), or null. */
    static String problem(File cached, JarEntry entry) {
        if (!cached.isFile()) {
            return "missing";
        }
        if (cached.length() != entry.getSize()) {
            return cached.length() + " bytes, the jar's " + entry.getSize();
        }
        if (cached.lastModified() != entry.getTime()) {
            return "modified " + Instant.ofEpochMilli(cached.lastModified()) + ", the jar's " + Instant.ofEpochMilli(entry.getTime());
        }
        return null;
    }

    /** Writes the entry beside target under a temporary name, checks it, syncs it, then renames it over target. */
    private static void extract(JarFile jarFile, JarEntry entry, Path target) throws IOException {
        Path partial = target.resolveSibling(target.getFileName() + PARTIAL + ProcessHandle.current().pid());
        CRC32 crc = new CRC32();
        long length = 0;
        try (InputStream in = jarFile.getInputStream(entry);
             OutputStream out = Files.newOutputStream(partial, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                     StandardOpenOption.WRITE)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; length += n) {
                crc.update(buffer, 0, n);
                out.write(buffer, 0, n);
            }
        }
        if (length != entry.getSize() || (entry.getCrc() != -1 && crc.getValue() != entry.getCrc())) {
            Files.deleteIfExists(partial);
            throw new IOException(String.format("extracting %s gave %d bytes with CRC %08x, the jar says %d bytes, CRC %08x",
                    entry.getName(), length, crc.getValue(), entry.getSize(), entry.getCrc()));
        }
        try (FileChannel channel = FileChannel.open(partial, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        Files.setLastModifiedTime(partial, FileTime.fromMillis(entry.getTime())); // what JavaCPP compares
        Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Files a killed extraction left behind (only a lock holder writes them, and this caller holds the lock). */
    private static void deletePartials(Path cacheSubdir) throws IOException {
        try (DirectoryStream<Path> partials = Files.newDirectoryStream(cacheSubdir, "*" + PARTIAL + "*")) {
            for (Path p : partials) {
                Files.deleteIfExists(p);
            }
        }
    }
}
