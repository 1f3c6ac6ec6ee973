package dev.diffusion.core.weights;

/**
 * The pieces of a Stable Diffusion model to write: the three networks under diffusers keys, their
 * {@code config.json} texts, and optionally the scheduler config and tokenizer files (null to leave
 * them out).
 */
public record ModelParts(Weights unet, Weights vae, Weights textEncoder,
                         String unetConfig, String vaeConfig, String textEncoderConfig,
                         String schedulerConfig, String tokenizerVocab, String tokenizerMerges) {

    public ModelParts withTokenizer(String vocabJson, String mergesTxt) {
        return new ModelParts(unet, vae, textEncoder, unetConfig, vaeConfig, textEncoderConfig, schedulerConfig,
                vocabJson, mergesTxt);
    }

    public ModelParts withSchedulerConfig(String json) {
        return new ModelParts(unet, vae, textEncoder, unetConfig, vaeConfig, textEncoderConfig, json,
                tokenizerVocab, tokenizerMerges);
    }

    Weights weights(ModelComponent c) {
        return switch (c) {
            case UNET -> unet;
            case VAE -> vae;
            case TEXT_ENCODER -> textEncoder;
        };
    }

    String config(ModelComponent c) {
        return switch (c) {
            case UNET -> unetConfig;
            case VAE -> vaeConfig;
            case TEXT_ENCODER -> textEncoderConfig;
        };
    }
}
