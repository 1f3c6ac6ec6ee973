package dev.diffusion.core.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Random;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cache check and repair of {@link TensorFlowNatives} on a small natives-like jar (two libraries, a LICENSE),
 * and where it finds the real natives jar. Several JVMs starting at once on an empty, truncated or incomplete cache:
 * services-e2e's NativesCacheIT.
 */
class TensorFlowNativesTest {
    static final String DIR = "org/example/c_api/linux-x86_64/";
    static final long ENTRY_TIME = 1_750_386_746_000L; // 2025-06-20T02:32:26Z, an even second as zip times are

    @TempDir
    Path tmp;
    Path jar;
    Path cache;
    byte[] big;
    byte[] small;

    @BeforeEach
    void makeJar() throws IOException {
        big = new byte[300_000];
        new Random(1).nextBytes(big);
        small = "not really a library".getBytes();
        jar = tmp.resolve("natives-linux-x86_64.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            put(out, DIR, null);
            put(out, DIR + "libbig.so.2", big);
            put(out, DIR + "libsmall.so", small);
            put(out, DIR + "LICENSE", "text".getBytes());
            put(out, DIR + "sub/libnested.so", small);
        }
        cache = tmp.resolve("cache/natives-linux-x86_64.jar/" + DIR);
    }

    static void put(JarOutputStream out, String name, byte[] data) throws IOException {
        JarEntry e = new JarEntry(name);
        e.setTime(ENTRY_TIME);
        out.putNextEntry(e);
        if (data != null) {
            out.write(data);
        }
        out.closeEntry();
    }

    List<String> repair() throws IOException {
        return TensorFlowNatives.repair(jar, DIR, cache);
    }

    @Test
    void emptyCacheGetsEveryLibraryWithTheEntrysSizeAndTime() throws IOException {
        assertEquals(List.of("libbig.so.2 (missing)", "libsmall.so (missing)"), repair());
        assertArrayEquals(big, Files.readAllBytes(cache.resolve("libbig.so.2")));
        assertArrayEquals(small, Files.readAllBytes(cache.resolve("libsmall.so")));
        assertEquals(ENTRY_TIME, cache.resolve("libbig.so.2").toFile().lastModified(), "JavaCPP compares the time too");
        assertFalse(Files.exists(cache.resolve("LICENSE")), "only libraries, as JavaCPP");
        assertFalse(Files.exists(cache.resolve("sub")), "only the libraries' own folder");
        try (var files = Files.list(cache)) {
            assertEquals(2, files.count(), "no partial file left");
        }
    }

    @Test
    void anIntactCacheIsLeftAsItIs() throws IOException {
        repair();
        Object inode = Files.readAttributes(cache.resolve("libbig.so.2"), "unix:ino").get("ino");
        assertEquals(List.of(), repair());
        assertEquals(inode, Files.readAttributes(cache.resolve("libbig.so.2"), "unix:ino").get("ino"), "not rewritten");
    }

    @Test
    void aTruncatedCopyIsReplacedByRenameNotRewrittenInPlace() throws IOException {
        repair();
        Path lib = cache.resolve("libbig.so.2");
        try (OutputStream out = Files.newOutputStream(lib)) {
            out.write(big, 0, big.length / 2); // what a killed extraction leaves
        }
        Object truncatedInode = Files.readAttributes(lib, "unix:ino").get("ino");
        assertEquals(List.of("libbig.so.2 (150000 bytes, the jar's 300000)"), repair());
        assertArrayEquals(big, Files.readAllBytes(lib));
        // a process that had mapped the old file keeps its inode: the new copy is a new file renamed over the name
        assertFalse(truncatedInode.equals(Files.readAttributes(lib, "unix:ino").get("ino")));
    }

    @Test
    void aMissingLibraryIsExtractedAndTheOthersKept() throws IOException {
        repair();
        Files.delete(cache.resolve("libsmall.so"));
        assertEquals(List.of("libsmall.so (missing)"), repair());
        assertArrayEquals(small, Files.readAllBytes(cache.resolve("libsmall.so")));
    }

    @Test
    void aCopyOfTheRightSizeButAnotherTimeIsExtractedAgain() throws IOException {
        // JavaCPP sets the time after the last byte: a copy with the size but not the time may not be complete
        repair();
        Files.setLastModifiedTime(cache.resolve("libsmall.so"), FileTime.fromMillis(ENTRY_TIME + 60_000));
        List<String> repaired = repair();
        assertEquals(1, repaired.size());
        assertTrue(repaired.get(0).startsWith("libsmall.so (modified 2025-06-20T02:33:26Z"), repaired.get(0));
    }

    @Test
    void partialFilesOfAKilledExtractionAreDeleted() throws IOException {
        Files.createDirectories(cache);
        Path partial = cache.resolve("libbig.so.2" + TensorFlowNatives.PARTIAL + "12345");
        Files.write(partial, new byte[10]);
        repair();
        assertFalse(Files.exists(partial));
    }

    @Test
    void aPreExtractedFolderIsCheckedBySizeNotTime() throws IOException {
        Path dir = tmp.resolve("natives");
        assertEquals(List.of("libbig.so.2 is missing", "libsmall.so is missing"), TensorFlowNatives.verify(jar, DIR, dir));
        TensorFlowNatives.repair(jar, DIR, dir);
        // image layers reset every file's time (Jib: 1970-01-01T00:00:01Z): that is no reason to refuse
        Files.setLastModifiedTime(dir.resolve("libbig.so.2"), FileTime.fromMillis(1000));
        assertEquals(List.of(), TensorFlowNatives.verify(jar, DIR, dir));
        Files.write(dir.resolve("libbig.so.2"), new byte[150_000]);
        assertEquals(List.of("libbig.so.2 has 150000 bytes, the jar's 300000"), TensorFlowNatives.verify(jar, DIR, dir));
    }

    @Test
    void withoutPathsFirstTheLibrariesComeFromTheJar() {
        assertEquals(null, TensorFlowNatives.preExtractedDir(), "the tests run without -Dorg.bytedeco.javacpp.pathsfirst");
    }

    @Test
    void findsTheNativesJarOnTheClassPathWhereJavaCppCachesIt() throws IOException {
        Path cacheDir = tmp.resolve("javacpp-cache");
        TensorFlowNatives.CachedJar natives = TensorFlowNatives.locate(cacheDir);
        assertNotNull(natives);
        String jarName = natives.jar().getFileName().toString();
        assertTrue(jarName.startsWith("tensorflow-core-native-") && jarName.endsWith(".jar"), jarName);
        assertTrue(natives.entryDir().startsWith("org/tensorflow/internal/c_api/linux-x86_64"), natives.entryDir());
        // Loader.cacheResource's folder: <cache>/<jar file name>/<the entry's folder>
        assertEquals(cacheDir.resolve(jarName).resolve(natives.entryDir()), natives.cacheSubdir());
    }
}
