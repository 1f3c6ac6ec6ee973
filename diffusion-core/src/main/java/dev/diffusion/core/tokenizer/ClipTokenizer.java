package dev.diffusion.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * CLIP's byte-level BPE tokenizer (OpenAI CLIP {@code simple_tokenizer.py}, the tokenizer of
 * Stable Diffusion 1.x): text cleanup, CLIP's pre-tokenizer regex, UTF-8 bytes mapped to
 * printable symbols, BPE with an end-of-word marker {@code </w>} on each word's last symbol, and
 * fixed windows of {@link #contextLength()} ids: BOS, prompt tokens, EOS, padding.
 *
 * <p>Immutable and thread-safe; the word cache is concurrent and bounded.
 */
public final class ClipTokenizer {
    public static final int CONTEXT_LENGTH = 77;
    public static final String START_OF_TEXT = "<|startoftext|>";
    public static final String END_OF_TEXT = "<|endoftext|>";
    /** CLIP's vocabulary is 49152 BPE entries before the two specials: 256 bytes, 256 bytes + {@code </w>}, merges. */
    public static final int CLIP_MERGE_COUNT = 49152 - 256 - 2;
    static final String END_OF_WORD = "</w>";
    private static final String MERGES_HEADER = "#version: 0.2";
    private static final int WORD_CACHE_LIMIT = 100_000;

    // CLIP's pre-tokenizer: the two specials, English contractions, letter runs, single digits, and
    // runs of everything else; whitespace separates and is dropped.
    private static final Pattern PRE_TOKENIZER = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);

    /** Which vocabulary entries are the special tokens; {@code unk} may be null (then unknown symbols fail). */
    public record SpecialTokens(String bos, String eos, String pad, String unk) {
        /** CLIP and SD 1.x: pad and unk are {@code <|endoftext|>}, as the SD 1.x text encoder was fed. */
        public static final SpecialTokens CLIP = new SpecialTokens(START_OF_TEXT, END_OF_TEXT, END_OF_TEXT, END_OF_TEXT);

        public SpecialTokens {
            Objects.requireNonNull(bos, "bos");
            Objects.requireNonNull(eos, "eos");
            Objects.requireNonNull(pad, "pad");
        }
    }

    /**
     * One prompt as a window of ids.
     *
     * @param ids           {@code contextLength} ids: BOS, the kept prompt tokens, EOS, then padding
     * @param tokenCount    prompt tokens before truncation, BOS and EOS not counted
     * @param truncated     whether prompt tokens were cut to fit the window
     * @param length        positions holding BOS, kept tokens and EOS; the rest is padding. The
     *                      EOS sits at {@code length - 1} (CLIP pools its text embedding there)
     * @param truncatedText the text of the tokens that were cut, "" when none were
     */
    public record Encoding(int[] ids, int tokenCount, boolean truncated, int length, String truncatedText) {
        public Encoding {
            ids = ids.clone();
            Objects.requireNonNull(truncatedText, "truncatedText");
        }

        @Override
        public int[] ids() {
            return ids.clone();
        }

        public int eosIndex() {
            return length - 1;
        }

        /** 1 for BOS, kept tokens and EOS, 0 for padding (for encoders that take a mask; SD 1.x does not). */
        public int[] attentionMask() {
            int[] mask = new int[ids.length];
            Arrays.fill(mask, 0, length, 1);
            return mask;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Encoding e && Arrays.equals(ids, e.ids) && tokenCount == e.tokenCount
                    && truncated == e.truncated && length == e.length && truncatedText.equals(e.truncatedText);
        }

        @Override
        public int hashCode() {
            return Objects.hash(Arrays.hashCode(ids), tokenCount, truncated, length, truncatedText);
        }

        @Override
        public String toString() {
            return "Encoding[ids=" + Arrays.toString(Arrays.copyOf(ids, length)) + " + " + (ids.length - length)
                    + " pad, tokenCount=" + tokenCount + ", truncated=" + truncated
                    + (truncated ? ", truncatedText=\"" + truncatedText + "\"" : "") + "]";
        }
    }

    private final Map<String, Integer> vocab;
    private final String[] tokensById;
    private final List<String> merges;
    private final Map<String, Integer> mergeRanks;
    private final SpecialTokens specials;
    private final int bosId;
    private final int eosId;
    private final int padId;
    private final int unkId;
    private final int contextLength;
    private final ConcurrentHashMap<String, int[]> wordCache = new ConcurrentHashMap<>();

    private ClipTokenizer(Map<String, Integer> vocab, List<String> merges, SpecialTokens specials, int contextLength) {
        if (contextLength < 2) {
            throw new IllegalArgumentException("context length " + contextLength + " leaves no room for BOS and EOS");
        }
        this.vocab = Map.copyOf(vocab);
        int maxId = -1;
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (e.getValue() < 0) {
                throw new IllegalArgumentException("negative id " + e.getValue() + " for token '" + e.getKey() + "'");
            }
            maxId = Math.max(maxId, e.getValue());
        }
        this.tokensById = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            String previous = tokensById[e.getValue()];
            if (previous != null) {
                throw new IllegalArgumentException("id " + e.getValue() + " is given to both '" + previous
                        + "' and '" + e.getKey() + "'");
            }
            tokensById[e.getValue()] = e.getKey();
        }
        this.merges = List.copyOf(merges);
        this.mergeRanks = new HashMap<>(merges.size() * 2);
        for (int rank = 0; rank < merges.size(); rank++) {
            String merge = merges.get(rank);
            if (merge.split(" ", -1).length != 2 || merge.isEmpty()) {
                throw new IllegalArgumentException("merge " + rank + " is not two symbols separated by one space: '"
                        + merge + "'");
            }
            mergeRanks.putIfAbsent(merge, rank);
        }
        this.specials = specials;
        this.bosId = requiredId(specials.bos(), "bos");
        this.eosId = requiredId(specials.eos(), "eos");
        this.padId = requiredId(specials.pad(), "pad");
        this.unkId = specials.unk() == null ? -1 : requiredId(specials.unk(), "unk");
        this.contextLength = contextLength;
        // The specials stand for themselves when typed into a prompt, as in CLIP's seeded cache.
        wordCache.put(specials.bos(), new int[] {bosId});
        wordCache.put(specials.eos(), new int[] {eosId});
    }

    private int requiredId(String token, String role) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException("the vocabulary has no " + role + " token '" + token + "'");
        }
        return id;
    }

    // ---------------------------------------------------------------- factories

    /**
     * A vocabulary and merge list held in memory, with CLIP's special tokens and 77-id windows.
     *
     * @param merges in rank order, each "left right" as in {@code merges.txt} (no header)
     */
    public static ClipTokenizer fromVocabAndMerges(Map<String, Integer> vocab, List<String> merges) {
        return fromVocabAndMerges(vocab, merges, SpecialTokens.CLIP, CONTEXT_LENGTH);
    }

    public static ClipTokenizer fromVocabAndMerges(Map<String, Integer> vocab, List<String> merges,
                                                   SpecialTokens specials, int contextLength) {
        return new ClipTokenizer(vocab, merges, specials, contextLength);
    }

    /**
     * A byte-level vocabulary with no merges: the 256 byte symbols, the same with {@code </w>},
     * then BOS and EOS (514 ids). Every prompt encodes (one token per byte); the tiny built-in
     * random model uses it.
     */
    public static ClipTokenizer byteLevel() {
        Map<String, Integer> vocab = new java.util.LinkedHashMap<>();
        for (int b : ByteUnicode.BYTES_IN_VOCAB_ORDER) {
            vocab.put(String.valueOf(ByteUnicode.charOf(b)), vocab.size());
        }
        for (int b : ByteUnicode.BYTES_IN_VOCAB_ORDER) {
            vocab.put(ByteUnicode.charOf(b) + END_OF_WORD, vocab.size());
        }
        vocab.put(START_OF_TEXT, vocab.size());
        vocab.put(END_OF_TEXT, vocab.size());
        return fromVocabAndMerges(vocab, List.of());
    }

    /**
     * OpenAI's {@code bpe_simple_vocab_16e6.txt.gz}: a header line, then merges in rank order, of
     * which CLIP uses the first {@link #CLIP_MERGE_COUNT}. The vocabulary is derived from them.
     */
    public static ClipTokenizer fromBpeGz(Path bpeSimpleVocabGz) throws IOException {
        List<String> merges = new ArrayList<>(CLIP_MERGE_COUNT);
        try (BufferedReader in = new BufferedReader(new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(bpeSimpleVocabGz), 1 << 16), StandardCharsets.UTF_8))) {
            if (in.readLine() == null) {
                throw new IOException(bpeSimpleVocabGz + " is empty");
            }
            String line;
            while (merges.size() < CLIP_MERGE_COUNT && (line = in.readLine()) != null) {
                merges.add(normaliseMergeLine(line, bpeSimpleVocabGz, merges.size() + 2));
            }
        }
        if (merges.size() < CLIP_MERGE_COUNT) {
            throw new IOException(bpeSimpleVocabGz + " holds " + merges.size() + " merges; CLIP needs "
                    + CLIP_MERGE_COUNT);
        }
        Map<String, Integer> vocab = new LinkedHashMap<>(2 * (512 + merges.size() + 2));
        for (int b : ByteUnicode.BYTES_IN_VOCAB_ORDER) {
            vocab.put(String.valueOf(ByteUnicode.charOf(b)), vocab.size());
        }
        for (int b : ByteUnicode.BYTES_IN_VOCAB_ORDER) {
            vocab.put(ByteUnicode.charOf(b) + END_OF_WORD, vocab.size());
        }
        // Ids by position, not by map size: a merge repeating an earlier concatenation would take
        // the later id, as in CLIP's dict(zip(vocab, range(len(vocab)))).
        int id = 512;
        for (String merge : merges) {
            vocab.put(merge.replace(" ", ""), id++);
        }
        vocab.put(START_OF_TEXT, id++);
        vocab.put(END_OF_TEXT, id);
        return new ClipTokenizer(vocab, merges, SpecialTokens.CLIP, CONTEXT_LENGTH);
    }

    /**
     * A diffusers/Hugging Face {@code tokenizer/} folder: {@code vocab.json}, {@code merges.txt}
     * (optional {@code #version} header), and, when present, the special tokens and
     * {@code model_max_length} of {@code tokenizer_config.json} and {@code special_tokens_map.json}
     * (the latter wins). Missing entries take CLIP's values, so pad defaults to EOS.
     */
    public static ClipTokenizer fromDiffusersFolder(Path tokenizerDir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Path vocabFile = tokenizerDir.resolve("vocab.json");
        JsonNode vocabJson = json.readTree(vocabFile.toFile());
        if (vocabJson == null || !vocabJson.isObject()) {
            throw new IOException(vocabFile + " is not a JSON object of token -> id");
        }
        Map<String, Integer> vocab = new LinkedHashMap<>(vocabJson.size() * 2);
        for (Map.Entry<String, JsonNode> e : (Iterable<Map.Entry<String, JsonNode>>) vocabJson::fields) {
            if (!e.getValue().canConvertToInt()) {
                throw new IOException(vocabFile + ": id of '" + e.getKey() + "' is not an integer: " + e.getValue());
            }
            vocab.put(e.getKey(), e.getValue().intValue());
        }

        Path mergesFile = tokenizerDir.resolve("merges.txt");
        List<String> lines = Files.readAllLines(mergesFile, StandardCharsets.UTF_8);
        List<String> merges = new ArrayList<>(lines.size());
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if ((i == 0 && line.startsWith("#version")) || line.isBlank()) {
                continue;
            }
            merges.add(normaliseMergeLine(line, mergesFile, i + 1));
        }

        String[] roles = {"bos_token", "eos_token", "pad_token", "unk_token"};
        String[] tokens = {START_OF_TEXT, END_OF_TEXT, END_OF_TEXT, END_OF_TEXT};
        int contextLength = CONTEXT_LENGTH;
        for (String name : List.of("tokenizer_config.json", "special_tokens_map.json")) {
            Path file = tokenizerDir.resolve(name);
            if (!Files.isRegularFile(file)) {
                continue;
            }
            JsonNode config = json.readTree(file.toFile());
            for (int r = 0; r < roles.length; r++) {
                String content = tokenContent(config.get(roles[r]));
                if (content != null) {
                    tokens[r] = content;
                }
            }
            JsonNode maxLength = config.get("model_max_length");
            // Hugging Face writes a huge placeholder when the length is unknown; keep 77 then.
            if (maxLength != null && maxLength.canConvertToInt() && maxLength.intValue() >= 2
                    && maxLength.intValue() <= 4096) {
                contextLength = maxLength.intValue();
            }
        }
        if (!vocab.containsKey(tokens[3])) {
            tokens[3] = null;
        }
        try {
            return new ClipTokenizer(vocab, merges, new SpecialTokens(tokens[0], tokens[1], tokens[2], tokens[3]),
                    contextLength);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(tokenizerDir + ": " + e.getMessage(), e);
        }
    }

    /** A special token in a Hugging Face config: a string, or an AddedToken object with "content". */
    private static String tokenContent(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.textValue();
        }
        JsonNode content = node.get("content");
        return content != null && content.isTextual() ? content.textValue() : null;
    }

    private static String normaliseMergeLine(String line, Path file, int lineNumber) throws IOException {
        String[] parts = line.trim().split("\\s+");
        if (parts.length != 2) {
            throw new IOException(file + " line " + lineNumber + ": expected two symbols, got '" + line + "'");
        }
        return parts[0] + " " + parts[1];
    }

    /**
     * Writes a diffusers {@code tokenizer/} folder: {@code vocab.json}, {@code merges.txt},
     * {@code tokenizer_config.json} and {@code special_tokens_map.json}, readable by
     * {@link #fromDiffusersFolder} and by Hugging Face's {@code CLIPTokenizer}.
     */
    public void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        Map<String, Integer> byId = new LinkedHashMap<>(vocab.size() * 2);
        for (int id = 0; id < tokensById.length; id++) {
            if (tokensById[id] != null) {
                byId.put(tokensById[id], id);
            }
        }
        json.writeValue(dir.resolve("vocab.json").toFile(), byId);

        StringBuilder mergesText = new StringBuilder(merges.size() * 8).append(MERGES_HEADER).append('\n');
        for (String merge : merges) {
            mergesText.append(merge).append('\n');
        }
        Files.writeString(dir.resolve("merges.txt"), mergesText, StandardCharsets.UTF_8);

        ObjectNode specialsMap = json.createObjectNode();
        specialsMap.put("bos_token", specials.bos());
        specialsMap.put("eos_token", specials.eos());
        specialsMap.put("pad_token", specials.pad());
        if (specials.unk() != null) {
            specialsMap.put("unk_token", specials.unk());
        }
        json.writeValue(dir.resolve("special_tokens_map.json").toFile(), specialsMap);

        ObjectNode config = specialsMap.deepCopy();
        config.put("tokenizer_class", "CLIPTokenizer");
        config.put("model_max_length", contextLength);
        config.put("do_lower_case", true);
        config.put("errors", "replace");
        config.put("add_prefix_space", false);
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
    }

    // ---------------------------------------------------------------- encoding

    /**
     * The prompt as one window: BOS, prompt tokens, EOS, padding. A prompt longer than
     * {@code contextLength - 2} tokens keeps its first tokens, still ends with EOS, and reports
     * what was cut.
     */
    public Encoding encode(String prompt) {
        int[] tokens = tokenize(prompt);
        int room = contextLength - 2;
        int kept = Math.min(tokens.length, room);
        int[] ids = new int[contextLength];
        Arrays.fill(ids, padId);
        ids[0] = bosId;
        System.arraycopy(tokens, 0, ids, 1, kept);
        ids[kept + 1] = eosId;
        boolean truncated = tokens.length > room;
        String cut = truncated ? decodeRaw(Arrays.copyOfRange(tokens, room, tokens.length)).strip() : "";
        return new Encoding(ids, tokens.length, truncated, kept + 2, cut);
    }

    /** The prompt's token ids, without BOS, EOS, padding or truncation. */
    public int[] tokenize(String prompt) {
        String text = ClipTextCleaner.clean(Objects.requireNonNull(prompt, "prompt"));
        int[] out = new int[Math.max(16, text.length())];
        int n = 0;
        Matcher m = PRE_TOKENIZER.matcher(text);
        while (m.find()) {
            int[] word = wordIds(m.group());
            if (n + word.length > out.length) {
                out = Arrays.copyOf(out, Math.max(out.length * 2, n + word.length));
            }
            System.arraycopy(word, 0, out, n, word.length);
            n += word.length;
        }
        return Arrays.copyOf(out, n);
    }

    private int[] wordIds(String word) {
        int[] cached = wordCache.get(word);
        if (cached != null) {
            return cached;
        }
        int[] ids = bpe(word);
        if (wordCache.size() >= WORD_CACHE_LIMIT) {
            // Long-running services see unbounded distinct words; a rare full reset is simpler than LRU.
            wordCache.clear();
            wordCache.put(specials.bos(), new int[] {bosId});
            wordCache.put(specials.eos(), new int[] {eosId});
        }
        wordCache.put(word, ids);
        return ids;
    }

    /** BPE of one pre-token: repeatedly merge the adjacent pair of lowest merge rank, all its occurrences at once. */
    private int[] bpe(String word) {
        byte[] utf8 = word.getBytes(StandardCharsets.UTF_8);
        List<String> symbols = new ArrayList<>(utf8.length);
        for (int i = 0; i < utf8.length; i++) {
            String symbol = String.valueOf(ByteUnicode.charOf(utf8[i]));
            symbols.add(i == utf8.length - 1 ? symbol + END_OF_WORD : symbol);
        }
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String bestLeft = null;
            String bestRight = null;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer rank = mergeRanks.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    bestLeft = symbols.get(i);
                    bestRight = symbols.get(i + 1);
                }
            }
            if (bestLeft == null) {
                break;
            }
            List<String> merged = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i + 1 < symbols.size() && symbols.get(i).equals(bestLeft) && symbols.get(i + 1).equals(bestRight)) {
                    merged.add(bestLeft + bestRight);
                    i++;
                } else {
                    merged.add(symbols.get(i));
                }
            }
            symbols = merged;
        }
        int[] ids = new int[symbols.size()];
        for (int i = 0; i < ids.length; i++) {
            Integer id = vocab.get(symbols.get(i));
            if (id == null) {
                if (unkId < 0) {
                    throw new IllegalArgumentException("symbol '" + symbols.get(i) + "' of word '" + word
                            + "' is not in the vocabulary, and there is no unk token");
                }
                id = unkId;
            }
            ids[i] = id;
        }
        return ids;
    }

    // ---------------------------------------------------------------- decoding

    /**
     * The prompt text of a window or token list: a leading BOS is skipped, and decoding stops at
     * the first EOS (what follows is padding). Words are separated by single spaces; the text is
     * the cleaned, lower-case form.
     */
    public String decode(int[] ids) {
        int from = ids.length > 0 && ids[0] == bosId ? 1 : 0;
        int to = from;
        while (to < ids.length && ids[to] != eosId) {
            to++;
        }
        return decodeRaw(Arrays.copyOfRange(ids, from, to)).strip();
    }

    /** Every id as text, special tokens included, each {@code </w>} as a space, invalid UTF-8 as U+FFFD. */
    public String decodeRaw(int[] ids) {
        StringBuilder text = new StringBuilder();
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int id : ids) {
            String token = token(id);
            boolean endOfWord = token.endsWith(END_OF_WORD);
            String body = endOfWord ? token.substring(0, token.length() - END_OF_WORD.length()) : token;
            for (int i = 0; i < body.length(); i++) {
                int b = ByteUnicode.byteOf(body.charAt(i));
                if (b < 0) {
                    // Not a byte symbol (a special token written in other characters): keep it as is.
                    flushUtf8(bytes, text);
                    text.append(body.charAt(i));
                } else {
                    bytes.write(b);
                }
            }
            if (endOfWord) {
                bytes.write(' ');
            }
        }
        flushUtf8(bytes, text);
        return text.toString();
    }

    private static void flushUtf8(java.io.ByteArrayOutputStream bytes, StringBuilder text) {
        if (bytes.size() > 0) {
            text.append(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
            bytes.reset();
        }
    }

    // ---------------------------------------------------------------- vocabulary

    /** The vocabulary entry of an id. */
    public String token(int id) {
        if (id < 0 || id >= tokensById.length || tokensById[id] == null) {
            throw new IllegalArgumentException("id " + id + " is not in the vocabulary");
        }
        return tokensById[id];
    }

    /** The id of a vocabulary entry, or -1. */
    public int id(String token) {
        return vocab.getOrDefault(token, -1);
    }

    public int vocabSize() {
        return vocab.size();
    }

    public List<String> merges() {
        return merges;
    }

    public SpecialTokens specialTokens() {
        return specials;
    }

    public int bosId() {
        return bosId;
    }

    public int eosId() {
        return eosId;
    }

    public int padId() {
        return padId;
    }

    public int contextLength() {
        return contextLength;
    }

    /** The same vocabulary with another padding token (e.g. "!" as SD 2.x pads). */
    public ClipTokenizer withPadToken(String padToken) {
        return new ClipTokenizer(vocab, merges,
                new SpecialTokens(specials.bos(), specials.eos(), padToken, specials.unk()), contextLength);
    }
}
