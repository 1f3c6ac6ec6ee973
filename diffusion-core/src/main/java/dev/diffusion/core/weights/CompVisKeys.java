package dev.diffusion.core.weights;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The key conversion between a single-file CompVis/LDM checkpoint and the diffusers layout: one
 * function per direction over key strings ({@link #toDiffusers}, {@link #toCompVis}), plus the one
 * shape change (the VAE mid-block attention, stored as 1x1 convolutions by CompVis and as linear
 * layers by diffusers).
 *
 * <p>The U-Net's block numbering depends on {@code layers_per_block} (CompVis counts every resnet,
 * attention and resampler of a level as one numbered block) and on which up blocks have attention
 * (the upsampler is child 1 without, child 2 with). The VAE decoder's levels are numbered in
 * opposite orders ({@code decoder.up.N} is {@code decoder.up_blocks.(levels-1-N)}).
 */
public final class CompVisKeys {

    /** A key in the diffusers layout of one network, with the network's prefix removed. */
    public record DiffusersKey(ModelComponent component, String key) {
    }

    private static final Pattern INPUT_BLOCK = Pattern.compile("input_blocks\\.(\\d+)\\.(\\d+)\\.(.+)");
    private static final Pattern MIDDLE_BLOCK = Pattern.compile("middle_block\\.(\\d+)\\.(.+)");
    private static final Pattern OUTPUT_BLOCK = Pattern.compile("output_blocks\\.(\\d+)\\.(\\d+)\\.(.+)");
    private static final Pattern DOWN_BLOCK = Pattern.compile("down_blocks\\.(\\d+)\\.(resnets|attentions|downsamplers)\\.(\\d+)\\.(.+)");
    private static final Pattern MID_BLOCK = Pattern.compile("mid_block\\.(resnets|attentions)\\.(\\d+)\\.(.+)");
    private static final Pattern UP_BLOCK = Pattern.compile("up_blocks\\.(\\d+)\\.(resnets|attentions|upsamplers)\\.(\\d+)\\.(.+)");

    private static final Pattern VAE_DOWN = Pattern.compile("encoder\\.down\\.(\\d+)\\.(block\\.(\\d+)|downsample)\\.(.+)");
    private static final Pattern VAE_UP = Pattern.compile("decoder\\.up\\.(\\d+)\\.(block\\.(\\d+)|upsample)\\.(.+)");
    private static final Pattern VAE_MID = Pattern.compile("(encoder|decoder)\\.mid\\.(block_1|block_2|attn_1)\\.(.+)");
    private static final Pattern VAE_DOWN_BLOCK = Pattern.compile("encoder\\.down_blocks\\.(\\d+)\\.(resnets\\.(\\d+)|downsamplers\\.0)\\.(.+)");
    private static final Pattern VAE_UP_BLOCK = Pattern.compile("decoder\\.up_blocks\\.(\\d+)\\.(resnets\\.(\\d+)|upsamplers\\.0)\\.(.+)");
    private static final Pattern VAE_MID_BLOCK = Pattern.compile("(encoder|decoder)\\.mid_block\\.(resnets\\.[01]|attentions\\.0)\\.(.+)");
    private static final Pattern VAE_ATTENTION_WEIGHT =
            Pattern.compile("(encoder|decoder)\\.mid_block\\.attentions\\.0\\.(to_q|to_k|to_v|to_out\\.0)\\.weight");

    /** ResBlock children: CompVis {@code ResBlock} (U-Net) sequential indices to diffusers {@code ResnetBlock2D}. */
    private static final String[][] UNET_RESNET = {
        {"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
        {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
    };
    private static final String[][] UNET_TOP = {
        {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
        {"input_blocks.0.0.", "conv_in."}, {"out.0.", "conv_norm_out."}, {"out.2.", "conv_out."},
    };
    private static final String[][] VAE_RESNET = {
        {"norm1.", "norm1."}, {"conv1.", "conv1."}, {"norm2.", "norm2."}, {"conv2.", "conv2."},
        {"nin_shortcut.", "conv_shortcut."},
    };
    private static final String[][] VAE_ATTENTION = {
        {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."},
    };
    private static final String[][] VAE_TOP = {
        {"encoder.conv_in.", "encoder.conv_in."}, {"encoder.conv_out.", "encoder.conv_out."},
        {"encoder.norm_out.", "encoder.conv_norm_out."}, {"decoder.conv_in.", "decoder.conv_in."},
        {"decoder.conv_out.", "decoder.conv_out."}, {"decoder.norm_out.", "decoder.conv_norm_out."},
        {"quant_conv.", "quant_conv."}, {"post_quant_conv.", "post_quant_conv."},
    };
    /** Attention names of diffusers before 0.14, still found in many saved VAEs. */
    private static final String[][] OLD_DIFFUSERS_VAE_ATTENTION = {
        {"query.", "to_q."}, {"key.", "to_k."}, {"value.", "to_v."}, {"proj_attn.", "to_out.0."},
    };

    private final int layersPerBlock;
    private final boolean[] upBlockHasAttention;
    private final int vaeLevels;

    /**
     * @param layersPerBlock      the U-Net's {@code layers_per_block} (resnets per down block; up blocks have one more)
     * @param upBlockHasAttention per U-Net up block, whether it is a cross-attention block; its length is the level count
     * @param vaeLevels           the VAE's level count ({@code block_out_channels} length)
     */
    public CompVisKeys(int layersPerBlock, boolean[] upBlockHasAttention, int vaeLevels) {
        if (layersPerBlock < 1 || upBlockHasAttention.length < 1 || vaeLevels < 1) {
            throw new IllegalArgumentException("layersPerBlock, U-Net levels and VAE levels must be positive");
        }
        this.layersPerBlock = layersPerBlock;
        this.upBlockHasAttention = upBlockHasAttention.clone();
        this.vaeLevels = vaeLevels;
    }

    /** Stable Diffusion 1.x: 2 layers per block, 4 levels (the first up block without attention), 4 VAE levels. */
    public static CompVisKeys sd1() {
        return new CompVisKeys(2, new boolean[] {false, true, true, true}, 4);
    }

    /** From diffusers {@code config.json} contents; what a config does not say takes the SD 1.x value. */
    public static CompVisKeys fromConfigs(Optional<JsonNode> unetConfig, Optional<JsonNode> vaeConfig) {
        CompVisKeys sd1 = sd1();
        int layers = unetConfig.map(c -> c.path("layers_per_block").asInt(sd1.layersPerBlock)).orElse(sd1.layersPerBlock);
        boolean[] attention = sd1.upBlockHasAttention;
        if (unetConfig.isPresent() && unetConfig.get().path("up_block_types").isArray()) {
            JsonNode types = unetConfig.get().path("up_block_types");
            attention = new boolean[types.size()];
            for (int i = 0; i < attention.length; i++) {
                attention[i] = types.get(i).asText().contains("Attn");
            }
        } else if (unetConfig.isPresent() && unetConfig.get().path("block_out_channels").isArray()) {
            // without block types, SD 1.x's pattern: attention everywhere except the lowest-resolution level
            int levels = unetConfig.get().path("block_out_channels").size();
            attention = new boolean[levels];
            Arrays.fill(attention, 1, levels, true);
        }
        int vaeLevels = vaeConfig.filter(c -> c.path("block_out_channels").isArray())
                .map(c -> c.path("block_out_channels").size()).orElse(sd1.vaeLevels);
        return new CompVisKeys(layers, attention, vaeLevels);
    }

    /**
     * The numbering a single-file checkpoint uses, read off its keys (a checkpoint has no config):
     * the first U-Net downsampler {@code input_blocks.N.0.op} sits at N = layers_per_block + 1,
     * there are levels x (layers_per_block + 1) output blocks, an up level has attention when its
     * blocks have a child 1 that is not the upsampler, and the VAE's levels are its encoder's
     * {@code down.N}. What the keys do not show takes the SD 1.x value.
     */
    public static CompVisKeys fromCheckpointKeys(Iterable<String> checkpointKeys) {
        String unet = ModelComponent.UNET.compVisPrefix();
        String vae = ModelComponent.VAE.compVisPrefix() + "encoder.down.";
        Pattern downsampler = Pattern.compile(Pattern.quote(unet) + "input_blocks\\.(\\d+)\\.0\\.op\\..+");
        Pattern output = Pattern.compile(Pattern.quote(unet) + "output_blocks\\.(\\d+)\\.(\\d+)\\.(.+)");
        Pattern vaeDown = Pattern.compile(Pattern.quote(vae) + "(\\d+)\\..+");
        int firstDownsampler = Integer.MAX_VALUE;
        int outputBlocks = 0;
        int vaeLevels = 0;
        java.util.Set<Integer> outputsWithAttention = new java.util.HashSet<>();
        for (String key : checkpointKeys) {
            Matcher m = downsampler.matcher(key);
            if (m.matches()) {
                firstDownsampler = Math.min(firstDownsampler, Integer.parseInt(m.group(1)));
            }
            m = output.matcher(key);
            if (m.matches()) {
                int n = Integer.parseInt(m.group(1));
                outputBlocks = Math.max(outputBlocks, n + 1);
                if (m.group(2).equals("1") && !m.group(3).startsWith("conv.")) {
                    outputsWithAttention.add(n);
                }
            }
            m = vaeDown.matcher(key);
            if (m.matches()) {
                vaeLevels = Math.max(vaeLevels, Integer.parseInt(m.group(1)) + 1);
            }
        }
        CompVisKeys sd1 = sd1();
        int layers = firstDownsampler == Integer.MAX_VALUE ? sd1.layersPerBlock : firstDownsampler - 1;
        boolean[] attention = sd1.upBlockHasAttention;
        if (outputBlocks > 0 && layers >= 1 && outputBlocks % (layers + 1) == 0) {
            attention = new boolean[outputBlocks / (layers + 1)];
            for (int n : outputsWithAttention) {
                attention[n / (layers + 1)] = true;
            }
        }
        return new CompVisKeys(Math.max(1, layers), attention, vaeLevels == 0 ? sd1.vaeLevels : vaeLevels);
    }

    public int layersPerBlock() {
        return layersPerBlock;
    }

    public int unetLevels() {
        return upBlockHasAttention.length;
    }

    public int vaeLevels() {
        return vaeLevels;
    }

    /** Per U-Net up block, whether it has attention. */
    public boolean[] upBlockHasAttention() {
        return upBlockHasAttention.clone();
    }

    // ---------------------------------------------------------------- CompVis -> diffusers

    /**
     * The diffusers name of a checkpoint key. Empty for keys outside the three networks (the
     * noise schedule buffers, {@code model_ema.*}, ...) and for {@code position_ids}; throws
     * {@link WeightsException} for a key inside a network that has no SD 1.x counterpart.
     */
    public Optional<DiffusersKey> toDiffusers(String checkpointKey) {
        for (ModelComponent c : ModelComponent.values()) {
            if (checkpointKey.startsWith(c.compVisPrefix())) {
                String key = checkpointKey.substring(c.compVisPrefix().length());
                String converted = switch (c) {
                    case UNET -> unetToDiffusers(key);
                    case VAE -> vaeToDiffusers(key);
                    case TEXT_ENCODER -> clipToDiffusers(key);
                };
                if (converted == null && c == ModelComponent.TEXT_ENCODER && key.endsWith("position_ids")) {
                    return Optional.empty();
                }
                if (converted == null) {
                    throw new WeightsException("checkpoint key " + checkpointKey + " is not part of a Stable Diffusion 1.x "
                            + c.folder() + " (" + layersPerBlock + " layers per block, " + unetLevels() + " U-Net levels, "
                            + vaeLevels + " VAE levels)");
                }
                return Optional.of(new DiffusersKey(c, converted));
            }
        }
        return Optional.empty();
    }

    private String unetToDiffusers(String key) {
        String top = replacePrefix(key, UNET_TOP, 0);
        if (top != null) {
            return top;
        }
        int blockSize = layersPerBlock + 1;
        Matcher m = INPUT_BLOCK.matcher(key);
        if (m.matches()) {
            int n = Integer.parseInt(m.group(1)) - 1;
            int child = Integer.parseInt(m.group(2));
            String rest = m.group(3);
            int level = n / blockSize;
            int j = n % blockSize;
            if (n < 0 || level >= unetLevels()) {
                return null;
            }
            String block = "down_blocks." + level + ".";
            if (j < layersPerBlock) {
                return child == 0 ? prefixed(block + "resnets." + j + ".", replacePrefix(rest, UNET_RESNET, 0))
                        : child == 1 ? block + "attentions." + j + "." + rest : null;
            }
            boolean hasDownsampler = level < unetLevels() - 1;
            return hasDownsampler && child == 0 && rest.startsWith("op.")
                    ? block + "downsamplers.0.conv." + rest.substring(3) : null;
        }
        m = MIDDLE_BLOCK.matcher(key);
        if (m.matches()) {
            String rest = m.group(2);
            return switch (m.group(1)) {
                case "0" -> prefixed("mid_block.resnets.0.", replacePrefix(rest, UNET_RESNET, 0));
                case "1" -> "mid_block.attentions.0." + rest;
                case "2" -> prefixed("mid_block.resnets.1.", replacePrefix(rest, UNET_RESNET, 0));
                default -> null;
            };
        }
        m = OUTPUT_BLOCK.matcher(key);
        if (m.matches()) {
            int n = Integer.parseInt(m.group(1));
            int child = Integer.parseInt(m.group(2));
            String rest = m.group(3);
            int level = n / blockSize;
            int j = n % blockSize;
            if (level >= unetLevels()) {
                return null;
            }
            String block = "up_blocks." + level + ".";
            if (child == 0) {
                return prefixed(block + "resnets." + j + ".", replacePrefix(rest, UNET_RESNET, 0));
            }
            int upsamplerChild = upBlockHasAttention[level] ? 2 : 1;
            boolean hasUpsampler = level < unetLevels() - 1 && j == layersPerBlock;
            if (hasUpsampler && child == upsamplerChild && rest.startsWith("conv.")) {
                return block + "upsamplers.0.conv." + rest.substring(5);
            }
            return child == 1 && upBlockHasAttention[level] ? block + "attentions." + j + "." + rest : null;
        }
        return null;
    }

    private String vaeToDiffusers(String key) {
        String top = replacePrefix(key, VAE_TOP, 0);
        if (top != null) {
            return top;
        }
        Matcher m = VAE_DOWN.matcher(key);
        if (m.matches()) {
            String block = "encoder.down_blocks." + vaeLevel(m.group(1), false) + ".";
            return m.group(3) != null
                    ? prefixed(block + "resnets." + m.group(3) + ".", replacePrefix(m.group(4), VAE_RESNET, 0))
                    : m.group(4).startsWith("conv.") ? block + "downsamplers.0." + m.group(4) : null;
        }
        m = VAE_UP.matcher(key);
        if (m.matches()) {
            int level = vaeLevel(m.group(1), true);
            if (level < 0) {
                return null;
            }
            String block = "decoder.up_blocks." + level + ".";
            return m.group(3) != null
                    ? prefixed(block + "resnets." + m.group(3) + ".", replacePrefix(m.group(4), VAE_RESNET, 0))
                    : m.group(4).startsWith("conv.") ? block + "upsamplers.0." + m.group(4) : null;
        }
        m = VAE_MID.matcher(key);
        if (m.matches()) {
            String mid = m.group(1) + ".mid_block.";
            return switch (m.group(2)) {
                case "block_1" -> prefixed(mid + "resnets.0.", replacePrefix(m.group(3), VAE_RESNET, 0));
                case "block_2" -> prefixed(mid + "resnets.1.", replacePrefix(m.group(3), VAE_RESNET, 0));
                default -> prefixed(mid + "attentions.0.", replacePrefix(m.group(3), VAE_ATTENTION, 0));
            };
        }
        return null;
    }

    /** Reverses the level number for the decoder; -1 when out of range. */
    private int vaeLevel(String number, boolean reversed) {
        int n = Integer.parseInt(number);
        if (n >= vaeLevels) {
            return -1;
        }
        return reversed ? vaeLevels - 1 - n : n;
    }

    private static String clipToDiffusers(String key) {
        if (key.endsWith("position_ids")) {
            return null;
        }
        // some checkpoints lack the text_model level (transformers before 4.x saved CLIPTextModel flat)
        return key.startsWith("text_model.") ? key : "text_model." + key;
    }

    // ---------------------------------------------------------------- diffusers -> CompVis

    /** The checkpoint key (with its CompVis prefix) of a diffusers key; throws {@link WeightsException} when none. */
    public String toCompVis(ModelComponent component, String diffusersKey) {
        String converted = switch (component) {
            case UNET -> unetToCompVis(diffusersKey);
            case VAE -> vaeToCompVis(currentVaeName(diffusersKey));
            case TEXT_ENCODER -> diffusersKey.startsWith("text_model.") && !diffusersKey.endsWith("position_ids")
                    ? diffusersKey : null;
        };
        if (converted == null) {
            throw new WeightsException(component.folder() + " key " + diffusersKey + " has no CompVis counterpart in a "
                    + "Stable Diffusion 1.x checkpoint (" + layersPerBlock + " layers per block, " + unetLevels()
                    + " U-Net levels, " + vaeLevels + " VAE levels)");
        }
        return component.compVisPrefix() + converted;
    }

    private String unetToCompVis(String key) {
        String top = replacePrefix(key, UNET_TOP, 1);
        if (top != null) {
            return top;
        }
        int blockSize = layersPerBlock + 1;
        Matcher m = DOWN_BLOCK.matcher(key);
        if (m.matches()) {
            int level = Integer.parseInt(m.group(1));
            int j = Integer.parseInt(m.group(3));
            String rest = m.group(4);
            if (level >= unetLevels() || j >= layersPerBlock) {
                return null;
            }
            String first = "input_blocks." + (1 + level * blockSize + j) + ".";
            return switch (m.group(2)) {
                case "resnets" -> prefixed(first + "0.", replacePrefix(rest, UNET_RESNET, 1));
                case "attentions" -> first + "1." + rest;
                default -> j == 0 && level < unetLevels() - 1 && rest.startsWith("conv.")
                        ? "input_blocks." + (1 + level * blockSize + layersPerBlock) + ".0.op." + rest.substring(5) : null;
            };
        }
        m = MID_BLOCK.matcher(key);
        if (m.matches()) {
            String rest = m.group(3);
            return switch (m.group(1) + m.group(2)) {
                case "resnets0" -> prefixed("middle_block.0.", replacePrefix(rest, UNET_RESNET, 1));
                case "attentions0" -> "middle_block.1." + rest;
                case "resnets1" -> prefixed("middle_block.2.", replacePrefix(rest, UNET_RESNET, 1));
                default -> null;
            };
        }
        m = UP_BLOCK.matcher(key);
        if (m.matches()) {
            int level = Integer.parseInt(m.group(1));
            int j = Integer.parseInt(m.group(3));
            String rest = m.group(4);
            if (level >= unetLevels() || j > layersPerBlock) {
                return null;
            }
            String first = "output_blocks." + (level * blockSize + j) + ".";
            return switch (m.group(2)) {
                case "resnets" -> prefixed(first + "0.", replacePrefix(rest, UNET_RESNET, 1));
                case "attentions" -> upBlockHasAttention[level] ? first + "1." + rest : null;
                default -> j == 0 && level < unetLevels() - 1 && rest.startsWith("conv.")
                        ? "output_blocks." + (level * blockSize + layersPerBlock) + "."
                                + (upBlockHasAttention[level] ? 2 : 1) + "." + rest : null;
            };
        }
        return null;
    }

    private String vaeToCompVis(String key) {
        String top = replacePrefix(key, VAE_TOP, 1);
        if (top != null) {
            return top;
        }
        Matcher m = VAE_DOWN_BLOCK.matcher(key);
        if (m.matches()) {
            int level = vaeLevel(m.group(1), false);
            if (level < 0) {
                return null;
            }
            String block = "encoder.down." + level + ".";
            return m.group(3) != null
                    ? prefixed(block + "block." + m.group(3) + ".", replacePrefix(m.group(4), VAE_RESNET, 1))
                    : m.group(4).startsWith("conv.") ? block + "downsample." + m.group(4) : null;
        }
        m = VAE_UP_BLOCK.matcher(key);
        if (m.matches()) {
            int level = vaeLevel(m.group(1), true);
            if (level < 0) {
                return null;
            }
            String block = "decoder.up." + level + ".";
            return m.group(3) != null
                    ? prefixed(block + "block." + m.group(3) + ".", replacePrefix(m.group(4), VAE_RESNET, 1))
                    : m.group(4).startsWith("conv.") ? block + "upsample." + m.group(4) : null;
        }
        m = VAE_MID_BLOCK.matcher(key);
        if (m.matches()) {
            String mid = m.group(1) + ".mid.";
            return switch (m.group(2)) {
                case "resnets.0" -> prefixed(mid + "block_1.", replacePrefix(m.group(3), VAE_RESNET, 1));
                case "resnets.1" -> prefixed(mid + "block_2.", replacePrefix(m.group(3), VAE_RESNET, 1));
                default -> prefixed(mid + "attn_1.", replacePrefix(m.group(3), VAE_ATTENTION, 1));
            };
        }
        return null;
    }

    // ---------------------------------------------------------------- shapes and old names

    /** The diffusers shape of a tensor: VAE attention 1x1 convolutions [C,C,1,1] become linear [C,C]. */
    public static long[] toDiffusersShape(DiffusersKey key, long[] compVisShape) {
        if (isVaeAttentionWeight(key) && compVisShape.length == 4 && compVisShape[2] == 1 && compVisShape[3] == 1) {
            return new long[] {compVisShape[0], compVisShape[1]};
        }
        return compVisShape.clone();
    }

    /** The CompVis shape of a tensor: VAE attention linear [C,C] weights become 1x1 convolutions [C,C,1,1]. */
    public static long[] toCompVisShape(DiffusersKey key, long[] diffusersShape) {
        if (isVaeAttentionWeight(key) && diffusersShape.length == 2) {
            return new long[] {diffusersShape[0], diffusersShape[1], 1, 1};
        }
        return diffusersShape.clone();
    }

    private static boolean isVaeAttentionWeight(DiffusersKey key) {
        return key.component() == ModelComponent.VAE && VAE_ATTENTION_WEIGHT.matcher(currentVaeName(key.key())).matches();
    }

    /** A diffusers VAE key in today's names: {@code query/key/value/proj_attn} become {@code to_q/to_k/to_v/to_out.0}. */
    public static String currentVaeName(String diffusersKey) {
        int at = diffusersKey.indexOf(".mid_block.attentions.0.");
        if (at < 0) {
            return diffusersKey;
        }
        int restStart = at + ".mid_block.attentions.0.".length();
        String renamed = replacePrefix(diffusersKey.substring(restStart), OLD_DIFFUSERS_VAE_ATTENTION, 0);
        return renamed == null ? diffusersKey : diffusersKey.substring(0, restStart) + renamed;
    }

    // ---------------------------------------------------------------- views

    /**
     * One network of a CompVis checkpoint under diffusers keys and shapes. Only names are
     * converted here; tensor data is read from {@code checkpoint} when {@code floats} is called.
     */
    public Weights diffusersView(Weights checkpoint, ModelComponent component) {
        Map<String, String> sources = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String key : checkpoint.keys()) {
            Optional<DiffusersKey> converted = toDiffusers(key);
            if (converted.isPresent() && converted.get().component() == component) {
                String name = converted.get().key();
                String previous = sources.put(name, key);
                if (previous != null) {
                    throw new WeightsException("checkpoint keys " + previous + " and " + key + " both map to "
                            + component.folder() + " " + name);
                }
                shapes.put(name, toDiffusersShape(converted.get(), checkpoint.info(key).shape()));
            }
        }
        return new RenamedWeights(checkpoint, sources, shapes);
    }

    /** A diffusers VAE whose old attention names ({@code query}, ...) are presented as today's ({@code to_q}, ...). */
    public static Weights currentVaeNames(Weights vae) {
        Map<String, String> sources = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String key : vae.keys()) {
            String name = currentVaeName(key);
            if (sources.put(name, key) != null) {
                throw new WeightsException("VAE holds both " + key + " and its current name " + name);
            }
            shapes.put(name, toDiffusersShape(new DiffusersKey(ModelComponent.VAE, name), vae.info(key).shape()));
        }
        return new RenamedWeights(vae, sources, shapes);
    }

    /** The three networks as one CompVis checkpoint (keys with their prefixes, CompVis shapes), read lazily. */
    public Weights compVisView(Weights unet, Weights vae, Weights textEncoder) {
        Map<String, String> names = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, Weights> owners = new LinkedHashMap<>();
        Weights[] parts = {unet, vae, textEncoder};
        ModelComponent[] components = {ModelComponent.UNET, ModelComponent.VAE, ModelComponent.TEXT_ENCODER};
        for (int i = 0; i < parts.length; i++) {
            for (String key : parts[i].keys()) {
                if (components[i] == ModelComponent.TEXT_ENCODER && key.endsWith("position_ids")) {
                    continue;
                }
                String name = toCompVis(components[i], key);
                if (names.put(name, key) != null) {
                    throw new WeightsException(components[i].folder() + " keys map twice to " + name);
                }
                owners.put(name, parts[i]);
                shapes.put(name, toCompVisShape(new DiffusersKey(components[i], key), parts[i].info(key).shape()));
            }
        }
        return new RenamedWeights(owners, names, shapes);
    }

    // ---------------------------------------------------------------- helpers

    /** Replaces the first matching prefix of column {@code from} by column {@code 1 - from}; null when none matches. */
    private static String replacePrefix(String key, String[][] table, int from) {
        for (String[] row : table) {
            if (key.startsWith(row[from])) {
                return row[1 - from] + key.substring(row[from].length());
            }
        }
        return null;
    }

    private static String prefixed(String prefix, String rest) {
        return rest == null ? null : prefix + rest;
    }
}
