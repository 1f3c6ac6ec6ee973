package dev.diffusion.core.pipeline;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.diffusion.core.weights.Weights;

/**
 * A single-file checkpoint carries no {@code config.json}. What its tensor shapes tell (channel
 * widths, block and layer counts, in/out channels — so inpainting U-Nets with 9 input channels load
 * too) is read off them; what they cannot tell (attention head counts, norm groups, epsilons)
 * takes the SD 1.x values, as A1111 and ComfyUI assume for SD 1.x files.
 */
final class SingleFileConfigs {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private SingleFileConfigs() {}

    static ObjectNode textEncoder(Weights w) {
        long[] tok = w.info("text_model.embeddings.token_embedding.weight").shape();
        long[] pos = w.info("text_model.embeddings.position_embedding.weight").shape();
        int hidden = (int) tok[1];
        ObjectNode c = F.objectNode();
        c.put("vocab_size", (int) tok[0]);
        c.put("hidden_size", hidden);
        c.put("max_position_embeddings", (int) pos[0]);
        c.put("num_hidden_layers", count(w, "text_model.encoder.layers.", ".mlp.fc1.weight"));
        c.put("intermediate_size", (int) w.info("text_model.encoder.layers.0.mlp.fc1.weight").shape()[0]);
        c.put("num_attention_heads", Math.max(1, hidden / 64)); // CLIP ViT-L/14: 768 / 64 = 12 heads
        return c;
    }

    static ObjectNode unet(Weights w) {
        ObjectNode c = F.objectNode();
        c.put("in_channels", (int) w.info("conv_in.weight").shape()[1]);
        c.put("out_channels", (int) w.info("conv_out.weight").shape()[0]);
        ArrayNode channels = c.putArray("block_out_channels");
        ArrayNode down = c.putArray("down_block_types");
        int blocks = 0;
        while (w.contains("down_blocks." + blocks + ".resnets.0.conv1.weight")) {
            channels.add((int) w.info("down_blocks." + blocks + ".resnets.0.conv1.weight").shape()[0]);
            down.add(w.contains("down_blocks." + blocks + ".attentions.0.norm.weight") ? "CrossAttnDownBlock2D" : "DownBlock2D");
            blocks++;
        }
        ArrayNode up = c.putArray("up_block_types");
        for (int i = 0; i < blocks; i++) {
            up.add(w.contains("up_blocks." + i + ".attentions.0.norm.weight") ? "CrossAttnUpBlock2D" : "UpBlock2D");
        }
        c.put("layers_per_block", count(w, "down_blocks.0.resnets.", ".conv1.weight"));
        for (String key : w.keys()) {
            if (key.endsWith("attn2.to_k.weight")) {
                c.put("cross_attention_dim", (int) w.info(key).shape()[1]);
                break;
            }
        }
        String projIn = "down_blocks.0.attentions.0.proj_in.weight";
        if (w.contains(projIn)) {
            c.put("use_linear_projection", w.info(projIn).shape().length == 2);
        }
        return c;
    }

    static ObjectNode vae(Weights w) {
        ObjectNode c = F.objectNode();
        c.put("in_channels", (int) w.info("encoder.conv_in.weight").shape()[1]);
        c.put("out_channels", (int) w.info("decoder.conv_out.weight").shape()[0]);
        c.put("latent_channels", (int) w.info("post_quant_conv.weight").shape()[0]);
        ArrayNode channels = c.putArray("block_out_channels");
        ArrayNode down = c.putArray("down_block_types");
        ArrayNode up = c.putArray("up_block_types");
        int levels = 0;
        while (w.contains("encoder.down_blocks." + levels + ".resnets.0.conv1.weight")) {
            channels.add((int) w.info("encoder.down_blocks." + levels + ".resnets.0.conv1.weight").shape()[0]);
            down.add("DownEncoderBlock2D");
            up.add("UpDecoderBlock2D");
            levels++;
        }
        c.put("layers_per_block", count(w, "encoder.down_blocks.0.resnets.", ".conv1.weight"));
        return c;
    }

    /** How many consecutive indices i have {@code prefix + i + suffix}. */
    private static int count(Weights w, String prefix, String suffix) {
        int n = 0;
        while (w.contains(prefix + n + suffix)) {
            n++;
        }
        return n;
    }
}
