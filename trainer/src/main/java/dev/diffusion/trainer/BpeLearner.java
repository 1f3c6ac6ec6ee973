package dev.diffusion.trainer;

import dev.diffusion.core.tokenizer.ClipTokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Learns a CLIP-style byte-level BPE vocabulary from a caption corpus (Sennrich et al. 2016):
 * words end in {@code </w>}, the most frequent adjacent symbol pair is merged until no pair occurs
 * twice or the merge budget is spent (ties broken by the pair's text, so the result is
 * deterministic). The vocabulary is CLIP's layout: the 256 byte symbols, the same with
 * {@code </w>}, one token per merge in merge order, then {@code <|startoftext|>} and
 * {@code <|endoftext|>}; {@link ClipTokenizer#write} saves it as {@code vocab.json} + {@code merges.txt}.
 */
public final class BpeLearner {
    /** ClipTokenizer's pre-tokenizer for lower-case ASCII text: words, single digits, punctuation runs. */
    private static final Pattern WORDS = Pattern.compile("[a-z]+|[0-9]|[^\\sa-z0-9]+");
    private static final String END_OF_WORD = "</w>";

    private BpeLearner() {}

    public static ClipTokenizer learn(Iterable<String> corpus, int maxMerges) {
        Map<String, Integer> wordCounts = new TreeMap<>();
        for (String text : corpus) {
            Matcher m = WORDS.matcher(text.toLowerCase(Locale.ROOT));
            while (m.find()) {
                wordCounts.merge(m.group(), 1, Integer::sum);
            }
        }
        List<List<String>> words = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        for (Map.Entry<String, Integer> e : wordCounts.entrySet()) {
            String w = e.getKey();
            List<String> symbols = new ArrayList<>();
            for (int i = 0; i < w.length(); i++) {
                String c = String.valueOf(w.charAt(i));
                symbols.add(i == w.length() - 1 ? c + END_OF_WORD : c);
            }
            words.add(symbols);
            counts.add(e.getValue());
        }
        List<String> merges = new ArrayList<>();
        while (merges.size() < maxMerges) {
            Map<String, Integer> pairs = new HashMap<>();
            for (int i = 0; i < words.size(); i++) {
                List<String> s = words.get(i);
                for (int j = 0; j + 1 < s.size(); j++) {
                    pairs.merge(s.get(j) + " " + s.get(j + 1), counts.get(i), Integer::sum);
                }
            }
            String best = null;
            int bestCount = 1;
            for (Map.Entry<String, Integer> e : pairs.entrySet()) {
                int c = e.getValue();
                if (c > bestCount || (c == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = c;
                }
            }
            if (best == null) {
                break;
            }
            merges.add(best);
            String left = best.substring(0, best.indexOf(' '));
            String right = best.substring(best.indexOf(' ') + 1);
            for (List<String> s : words) {
                for (int j = 0; j + 1 < s.size(); j++) {
                    if (s.get(j).equals(left) && s.get(j + 1).equals(right)) {
                        s.set(j, left + right);
                        s.remove(j + 1);
                    }
                }
            }
        }
        ClipTokenizer bytes = ClipTokenizer.byteLevel();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < 512; id++) {
            vocab.put(bytes.token(id), id);
        }
        for (String merge : merges) {
            vocab.putIfAbsent(merge.replace(" ", ""), vocab.size());
        }
        vocab.put(ClipTokenizer.START_OF_TEXT, vocab.size());
        vocab.put(ClipTokenizer.END_OF_TEXT, vocab.size());
        return ClipTokenizer.fromVocabAndMerges(vocab, merges);
    }
}
