package dev.diffusion.textencoder;

import dev.diffusion.core.clip.ClipTextModel;
import dev.diffusion.core.pipeline.LoraVariants;
import dev.diffusion.core.pipeline.ModelSource;
import dev.diffusion.core.tokenizer.ClipTokenizer;
import dev.diffusion.service.PartModel;
import jakarta.enterprise.context.ApplicationScoped;

/** The tokenizer and CLIP text encoder of {@code diffusion.model.path}, loaded at startup (and nothing else). */
@ApplicationScoped
public class TextEncoderModel extends PartModel<TextEncoderModel.Loaded> {
    public record Loaded(ClipTokenizer tokenizer, ClipTextModel textEncoder, String name,
                         LoraVariants<ClipTextModel> variants) {
    }

    public TextEncoderModel() {
        super("text-encoder");
    }

    @Override
    protected Loaded build(ModelSource source) {
        ClipTextModel text = source.textEncoder(settings.parsedPrecision());
        return new Loaded(source.tokenizer(), text, source.name(),
                settings.loraVariants(text, (s, loras) -> s.textEncoder(settings.parsedPrecision(), loras)));
    }

    /** One window of tokens (the text encoder's work does not depend on the image size). */
    @Override
    protected void warmUp(Loaded loaded, ModelSource source, int imageSide) {
        loaded.textEncoder().encode(new int[1][loaded.textEncoder().maxLength()], 1);
    }
}
