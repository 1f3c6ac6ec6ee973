package dev.diffusion.core.weights;

/**
 * The three networks of a Stable Diffusion 1.x model, with where each lives in a diffusers folder
 * and under which key prefix in a single-file CompVis/LDM checkpoint.
 */
public enum ModelComponent {
    UNET("unet", "diffusion_pytorch_model", "model.diffusion_model."),
    VAE("vae", "diffusion_pytorch_model", "first_stage_model."),
    TEXT_ENCODER("text_encoder", "model", "cond_stage_model.transformer.");

    private final String folder;
    private final String weightFileStem;
    private final String compVisPrefix;

    ModelComponent(String folder, String weightFileStem, String compVisPrefix) {
        this.folder = folder;
        this.weightFileStem = weightFileStem;
        this.compVisPrefix = compVisPrefix;
    }

    /** Sub-folder of a diffusers model folder: {@code unet}, {@code vae}, {@code text_encoder}. */
    public String folder() {
        return folder;
    }

    /** Weight file name without extension in that folder (diffusers and transformers name them differently). */
    public String weightFileStem() {
        return weightFileStem;
    }

    /** Key prefix of this network in a single-file CompVis/LDM checkpoint. */
    public String compVisPrefix() {
        return compVisPrefix;
    }
}
