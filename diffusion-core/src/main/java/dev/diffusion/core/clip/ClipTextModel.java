package dev.diffusion.core.clip;

import dev.diffusion.core.nn.Activations;
import dev.diffusion.core.nn.Attention;
import dev.diffusion.core.nn.LayerNorm;
import dev.diffusion.core.nn.Linear;
import dev.diffusion.core.nn.Module;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.OpProfile;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.weights.Weights;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The CLIP text transformer of SD 1.x (transformers' {@code CLIPTextModel}; Radford et al. 2021):
 * token + position embeddings, pre-LayerNorm blocks of causal self-attention and an MLP, a final
 * LayerNorm. Module names mirror the weight keys ({@code text_model.encoder.layers.3.mlp.fc1.weight}).
 *
 * <p>Clip skip counts as A1111 and stable-diffusion.cpp count it: 1 takes the last layer's output,
 * 2 the penultimate one; the final LayerNorm is applied either way. The graph holds one output per
 * allowed clip skip; a run computes only the layers the requested one needs.
 */
public final class ClipTextModel extends TfNetwork {
    private static final String ROOT = "text_model";

    private final ClipTextConfig config;
    private final Placeholder<TInt32> inputIds;
    /** outputs.get(s - 1) is the output for clip skip s. */
    private final List<Operand<TFloat32>> outputs = new ArrayList<>();

    public ClipTextModel(Weights weights, ClipTextConfig config, Precision precision) {
        super(weights, precision);
        this.config = config;
        int length = config.maxPositionEmbeddings();
        var tf = nn.tf;
        inputIds = tf.withName("input_ids").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, length)));

        outputs.addAll(build(nn, config, inputIds));
        load();
    }

    /**
     * Builds the transformer's ops on {@code inputIds} [B, 77] into {@code nn}'s graph and returns
     * the final-LayerNorm outputs [B, 77, hidden] for clip skip 1, 2, ... (element s-1 for skip s).
     * Public so that a trainer can build the same module tree into a graph it owns.
     */
    public static List<Operand<TFloat32>> build(Nn nn, ClipTextConfig config, Operand<TInt32> inputIds) {
        var tf = nn.tf;
        int length = config.maxPositionEmbeddings();
        Embeddings embeddings = new Embeddings(nn, ROOT + ".embeddings", config);
        List<EncoderLayer> layers = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(new EncoderLayer(nn, ROOT + ".encoder.layers." + i, config));
        }
        LayerNorm finalLayerNorm = new LayerNorm(nn, ROOT + ".final_layer_norm", config.hiddenSize(), config.layerNormEps());

        Operand<TFloat32> mask = tf.constant(causalMask(length));
        Operand<TFloat32> h = embeddings.apply(inputIds);
        List<Operand<TFloat32>> hiddenStates = new ArrayList<>();
        for (EncoderLayer layer : layers) {
            h = layer.apply(h, mask);
            hiddenStates.add(h);
        }
        List<Operand<TFloat32>> outputs = new ArrayList<>();
        for (int skip = 1; skip <= layers.size(); skip++) {
            outputs.add(finalLayerNorm.apply(hiddenStates.get(layers.size() - skip)));
        }
        return outputs;
    }

    /** SD 1.x sizes, for single-file checkpoints. */
    public ClipTextModel(Weights weights, Precision precision) {
        this(weights, ClipTextConfig.sd15(), precision);
    }

    /**
     * Encodes token ids, each row exactly {@code maxPositionEmbeddings} (77) long.
     *
     * @param clipSkip 1 = last layer, 2 = penultimate, ... up to {@code numHiddenLayers}
     * @return hidden states [B, 77, hidden] row-major
     */
    public float[] encode(int[][] ids, int clipSkip) {
        if (clipSkip < 1 || clipSkip > outputs.size()) {
            throw new IllegalArgumentException("clipSkip must be in 1.." + outputs.size() + ", got " + clipSkip);
        }
        int length = config.maxPositionEmbeddings();
        if (ids.length == 0) {
            throw new IllegalArgumentException("ids: empty batch");
        }
        int[] flat = new int[ids.length * length];
        for (int b = 0; b < ids.length; b++) {
            if (ids[b].length != length) {
                throw new IllegalArgumentException("ids[" + b + "] has " + ids[b].length + " tokens, expected " + length);
            }
            for (int i = 0; i < length; i++) {
                int id = ids[b][i];
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IllegalArgumentException("ids[" + b + "][" + i + "] = " + id + " is outside the vocabulary 0.."
                            + (config.vocabSize() - 1));
                }
                flat[b * length + i] = id;
            }
        }
        try (TInt32 t = TInt32.tensorOf(Shape.of(ids.length, length), DataBuffers.of(flat, true, false));
             Result r = OpProfile.run("text encoder", session().runner().feed(inputIds, t).fetch(outputs.get(clipSkip - 1)))) {
            return Tensors.toFloats((TFloat32) r.get(0));
        }
    }

    public int hiddenSize() {
        return config.hiddenSize();
    }

    /** Tokens per sequence (77). */
    public int maxLength() {
        return config.maxPositionEmbeddings();
    }

    public ClipTextConfig config() {
        return config;
    }

    /** Additive causal mask [L, L]: 0 on and below the diagonal, a large negative above (position i sees j ≤ i). */
    static float[][] causalMask(int length) {
        float[][] m = new float[length][length];
        for (int i = 0; i < length; i++) {
            for (int j = i + 1; j < length; j++) {
                m[i][j] = -1e9f;
            }
        }
        return m;
    }

    /** {@code text_model.embeddings}: token lookup plus learned absolute positions. */
    static final class Embeddings extends Module {
        private final Operand<TFloat32> tokenEmbedding;
        private final Operand<TFloat32> positionEmbedding;

        Embeddings(Nn nn, String prefix, ClipTextConfig c) {
            super(nn, prefix);
            tokenEmbedding = nn.param(key("token_embedding.weight"), c.vocabSize(), c.hiddenSize());
            positionEmbedding = nn.param(key("position_embedding.weight"), c.maxPositionEmbeddings(), c.hiddenSize());
        }

        /** ids [B, L] with L = max positions → [B, L, hidden]. */
        Operand<TFloat32> apply(Operand<TInt32> ids) {
            Operand<TFloat32> tokens = nn.tf.gather(tokenEmbedding, ids, nn.tf.constant(0));
            return nn.tf.math.add(tokens, positionEmbedding);
        }
    }

    /** {@code self_attn}: q/k/v/out projections around causal multi-head attention. */
    static final class SelfAttention extends Module {
        private final Linear q;
        private final Linear k;
        private final Linear v;
        private final Linear out;
        private final int heads;
        private final int headDim;

        SelfAttention(Nn nn, String prefix, ClipTextConfig c) {
            super(nn, prefix);
            int d = c.hiddenSize();
            q = new Linear(nn, key("q_proj"), d, d, true);
            k = new Linear(nn, key("k_proj"), d, d, true);
            v = new Linear(nn, key("v_proj"), d, d, true);
            out = new Linear(nn, key("out_proj"), d, d, true);
            heads = c.numAttentionHeads();
            headDim = c.headDim();
        }

        Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> mask) {
            return out.apply(Attention.apply(nn, q.apply(x), k.apply(x), v.apply(x), heads, headDim, mask));
        }
    }

    /** {@code mlp}: fc1, activation, fc2. */
    static final class Mlp extends Module {
        private final Linear fc1;
        private final Linear fc2;
        private final boolean quickGelu;

        Mlp(Nn nn, String prefix, ClipTextConfig c) {
            super(nn, prefix);
            fc1 = new Linear(nn, key("fc1"), c.hiddenSize(), c.intermediateSize(), true);
            fc2 = new Linear(nn, key("fc2"), c.intermediateSize(), c.hiddenSize(), true);
            quickGelu = "quick_gelu".equals(c.hiddenAct());
        }

        Operand<TFloat32> apply(Operand<TFloat32> x) {
            Operand<TFloat32> h = fc1.apply(x);
            h = quickGelu ? Activations.quickGelu(nn.tf, h) : Activations.gelu(nn.tf, h);
            return fc2.apply(h);
        }
    }

    /** {@code text_model.encoder.layers.N}: pre-LN residual blocks, x + attn(ln1(x)), then x + mlp(ln2(x)). */
    static final class EncoderLayer extends Module {
        private final LayerNorm layerNorm1;
        private final SelfAttention selfAttn;
        private final LayerNorm layerNorm2;
        private final Mlp mlp;

        EncoderLayer(Nn nn, String prefix, ClipTextConfig c) {
            super(nn, prefix);
            layerNorm1 = new LayerNorm(nn, key("layer_norm1"), c.hiddenSize(), c.layerNormEps());
            selfAttn = new SelfAttention(nn, key("self_attn"), c);
            layerNorm2 = new LayerNorm(nn, key("layer_norm2"), c.hiddenSize(), c.layerNormEps());
            mlp = new Mlp(nn, key("mlp"), c);
        }

        Operand<TFloat32> apply(Operand<TFloat32> x, Operand<TFloat32> mask) {
            Operand<TFloat32> h = nn.tf.math.add(x, selfAttn.apply(layerNorm1.apply(x), mask));
            return nn.tf.math.add(h, mlp.apply(layerNorm2.apply(h)));
        }
    }
}
