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
 *
 * <p>The container images take none of this: {@link #main} extracts the libraries at build time into one folder, and the
 * image runs with {@code -Dorg.bytedeco.javacpp.pathsfirst=true -Djava.library.path=<that folder>}, so JavaCPP loads
 * them where they are and writes nothing (a read-only root filesystem works). JavaCPP's cache would not do: it compares
 * each file's modification time with its jar entry's, and image layers carry fixed times. {@link #ensureLoaded} sees
 * that JavaCPP will load from a folder, checks without any lock (nothing writes there) that every library of the
 * natives jar is in it with its entry's size, and refuses with a message naming the file when one is not.
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
        Path preExtracted = preExtractedDir();
        if (preExtracted != null) {
            loadPreExtracted(preExtracted);
            return;
        }
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
        URL[] urls = libraryUrls();
        return urls.length == 0 ? null : inJar(urls[0], cacheDir);
    }

    /** Where JavaCPP looks for libjnitensorflow, in its order (a folder first under pathsfirst, else the jar). */
    private static URL[] libraryUrls() throws IOException {
        try {
            Class<?> jni = Class.forName(JNI_CLASS, false, TensorFlowNatives.class.getClassLoader());
            ClassProperties properties = Loader.loadProperties(jni, Loader.loadProperties(), true);
            return Loader.findLibrary(jni, properties, properties.getProperty("platform.library"));
        } catch (ClassNotFoundException e) {
            throw new IOException("tensorflow-core-native is not on the class path", e);
        }
    }

    /** The jar that {@code url} points into and where JavaCPP would cache its folder; null when it is no jar entry. */
    private static CachedJar inJar(URL url, Path cacheDir) throws IOException {
        URLConnection connection = url.openConnection();
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
        List<String> repaired = new ArrayList<>();
        try (JarFile jarFile = new JarFile(jar.toFile())) {
            for (JarEntry entry : libraries(jarFile, entryDir)) {
                String fileName = entry.getName().substring(entryDir.length());
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

    /** The native libraries directly under {@code entryDir} (not LICENSE: JavaCPP does not extract it there either). */
    private static List<JarEntry> libraries(JarFile jarFile, String entryDir) {
        String librarySuffix = System.mapLibraryName("x").substring(System.mapLibraryName("x").indexOf('x') + 1); // ".so"
        List<JarEntry> libraries = new ArrayList<>();
        for (JarEntry entry : Collections.list(jarFile.entries())) {
            String name = entry.getName();
            if (!entry.isDirectory() && name.startsWith(entryDir) && name.indexOf('/', entryDir.length()) < 0
                    && name.substring(entryDir.length()).contains(librarySuffix)) {
                libraries.add(entry);
            }
        }
        return libraries;
    }

    /**
     * The folder JavaCPP will load libjnitensorflow from when it is a plain file there (pathsfirst and
     * java.library.path, as the container images run), else null: the libraries come from the jar through the cache.
     */
    static Path preExtractedDir() {
        try {
            URL[] urls = libraryUrls();
            if (urls.length > 0 && "file".equals(urls[0].getProtocol())) {
                Path dir = Path.of(urls[0].toURI()).getParent().toAbsolutePath().normalize();
                // a file in JavaCPP's own cache is not pre-extracted: another process may be writing it right now,
                // so it goes through the locked check and repair (an unlocked check there could race with it)
                // (JavaCPP's cache folder by name only: Loader.getCacheDir() creates it, which a read-only image cannot)
                String property = System.getProperty("org.bytedeco.javacpp.cachedir");
                Path cache = (property != null ? Path.of(property) : Path.of(System.getProperty("user.home"), ".javacpp", "cache"))
                        .toAbsolutePath().normalize();
                return dir.startsWith(cache) ? null : dir;
            }
            return null;
        } catch (IOException | URISyntaxException e) {
            throw new IllegalStateException("cannot find TensorFlow's native libraries: " + e.getMessage(), e);
        }
    }

    /** Checks the pre-extracted folder against the natives jars (no lock, no write), then loads TensorFlow from it. */
    private static void loadPreExtracted(Path dir) {
        List<String> problems;
        String jar;
        try {
            CachedJar natives = nativesJar(dir);
            jar = natives.jar().getFileName().toString();
            problems = verify(natives.jar(), natives.entryDir(), dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check TensorFlow's native libraries in " + dir + ": " + e.getMessage(), e);
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("the native libraries in " + dir + " (java.library.path) do not match "
                    + jar + ": " + String.join("; ", problems)
                    + ". Extract them again (java -cp <jars> " + TensorFlowNatives.class.getName() + " " + dir
                    + ") or rebuild the image");
        }
        org.tensorflow.TensorFlow.version();
        LOG.log(System.Logger.Level.INFO, "TensorFlow natives loaded from " + dir + " (pre-extracted, checked against " + jar + ")");
    }

    /**
     * What differs between {@code dir} and the libraries of {@code entryDir} in {@code jar}: a missing file or another
     * size (the times are not compared: image layers reset them). Reads nothing but the folder's listing.
     */
    static List<String> verify(Path jar, String entryDir, Path dir) throws IOException {
        List<String> problems = new ArrayList<>();
        try (JarFile jarFile = new JarFile(jar.toFile())) {
            for (JarEntry entry : libraries(jarFile, entryDir)) {
                String fileName = entry.getName().substring(entryDir.length());
                File file = dir.resolve(fileName).toFile();
                if (!file.isFile()) {
                    problems.add(fileName + " is missing");
                } else if (file.length() != entry.getSize()) {
                    problems.add(fileName + " has " + file.length() + " bytes, the jar's " + entry.getSize());
                }
            }
        }
        return problems;
    }

    /**
     * The natives jar whose libraries a pre-extracted folder must hold (TensorFlow's; JavaCPP 1.5.11 ships none of its own
     * for TensorFlow Java), with its library folder; {@code cacheSubdir} is {@code dir}: the folder is flat.
     */
    static CachedJar nativesJar(Path dir) throws IOException {
        for (URL url : libraryUrls()) {
            CachedJar tf = inJar(url, dir);
            if (tf != null) {
                return new CachedJar(tf.jar(), tf.entryDir(), dir);
            }
        }
        throw new IOException("tensorflow-core-native's natives jar (" + Loader.getPlatform() + ") is not on the class path");
    }

    /**
     * Extracts TensorFlow's native libraries into one folder, for an image that loads them from there
     * read-only, then loads TensorFlow from it as the image will: {@code java -cp '<quarkus-app>/lib/main/*'
     * dev.diffusion.core.nn.TensorFlowNatives DIR}. Run by the images profile of the build.
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: java -cp <class path with the natives jars> " + TensorFlowNatives.class.getName() + " DIR");
            System.exit(2);
        }
        Path dir = Path.of(args[0]).toAbsolutePath();
        // before JavaCPP's Loader is initialised: it reads pathsfirst once
        System.setProperty("org.bytedeco.javacpp.pathsfirst", "true");
        System.setProperty("java.library.path", dir.toString());
        CachedJar natives = nativesJar(dir);
        List<String> extracted = repair(natives.jar(), natives.entryDir(), dir);
        System.out.println(natives.jar().getFileName() + " -> " + dir + ": "
                + (extracted.isEmpty() ? "up to date" : "extracted " + String.join(", ", extracted)));
        if (!dir.equals(preExtractedDir())) {
            throw new IllegalStateException("JavaCPP does not look in " + dir + " first (found " + preExtractedDir() + ")");
        }
        ensureLoaded();
        System.out.println("TensorFlow " + org.tensorflow.TensorFlow.version() + " loads from " + dir);
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
