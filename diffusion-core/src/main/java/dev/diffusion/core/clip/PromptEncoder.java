package dev.diffusion.core.clip;

import dev.diffusion.core.pipeline.InvalidRequestException;
import dev.diffusion.core.pipeline.LoraRef;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.core.tokenizer.PromptSyntax;
import java.util.List;

/**
 * Prompts to U-Net context, as A1111's {@code FrozenCLIPEmbedderWithCustomWords} does it: each prompt's
 * {@code <lora:...>} tags removed, its weights and {@code BREAK}s read ({@link PromptSyntax}), its tokens cut into
 * 77-token chunks; each prompt's chunks through CLIP as one batch; per prompt the chunks' hidden states
 * weighted (with the chunk mean restored) and concatenated: [77 × chunks, D]. The in-process pipeline and the
 * text-encoder service both encode through here.
 */
public final class PromptEncoder {
    private PromptEncoder() {}

    /** One encoded prompt: its hidden states [77 × chunks, D] and its chunking. */
    public record Encoded(float[] hidden, PromptSyntax.Chunks chunks) {}

    /** As {@link #encode(ClipTokenizer, ClipTextModel, List, List, int, int)} without comma backtracking. */
    public static Encoded[] encode(ClipTokenizer tokenizer, ClipTextModel textEncoder, List<String> prompts,
                                   List<String> fields, int clipSkip) {
        return encode(tokenizer, textEncoder, prompts, fields, clipSkip, 0);
    }

    /**
     * @param fields         the request field each prompt came from, for error messages ("negative_prompt", "prompt")
     * @param commaBacktrack A1111's {@code comma_padding_backtrack} (see {@link PromptSyntax#chunk}); 0 = off
     */
    public static Encoded[] encode(ClipTokenizer tokenizer, ClipTextModel textEncoder, List<String> prompts,
                                   List<String> fields, int clipSkip, int commaBacktrack) {
        PromptSyntax.Chunks[] chunks = new PromptSyntax.Chunks[prompts.size()];
        for (int i = 0; i < chunks.length; i++) {
            String field = fields.get(i);
            try {
                chunks[i] = PromptSyntax.chunk(tokenizer, LoraRef.extract(prompts.get(i)).prompt(), commaBacktrack);
            } catch (InvalidRequestException e) { // a bad <lora:...> tag: name the field it is in
                throw new InvalidRequestException(field, e.getMessage().replaceFirst("^prompt", field));
            } catch (IllegalArgumentException e) {
                throw new InvalidRequestException(field, field + ": " + e.getMessage());
            }
        }
        // each prompt's chunks are a CLIP batch of their own: a batch's composition changes float rounding, and the
        // text-encoder service encodes (and caches) every prompt alone, so both paths give the same bits
        Encoded[] out = new Encoded[chunks.length];
        for (int i = 0; i < chunks.length; i++) {
            float[] h = textEncoder.encode(chunks[i].ids(), clipSkip);
            PromptSyntax.applyWeights(h, chunks[i], textEncoder.hiddenSize());
            out[i] = new Encoded(h, chunks[i]);
        }
        return out;
    }
}
