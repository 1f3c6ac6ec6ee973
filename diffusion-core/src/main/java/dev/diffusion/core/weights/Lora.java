package dev.diffusion.core.weights;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A LoRA file bound to one model: low-rank updates ΔW = (alpha / rank) · up · down of that model's text-encoder
 * and U-Net weights. Two layouts are read, both {@code .safetensors} only (pickle is refused as for checkpoints):
 * <ul>
 *   <li>kohya-ss (A1111, ComfyUI, sd.cpp): {@code lora_unet_<module>.lora_down.weight}, {@code .lora_up.weight},
 *       {@code .alpha}, the module named by its diffusers path ({@code down_blocks_0_attentions_0_proj_in}) or its
 *       CompVis path ({@code input_blocks_1_1_proj_in}) with dots as underscores; {@code lora_te_<module>} for the
 *       text encoder;</li>
 *   <li>diffusers / PEFT: {@code unet.<module>.lora_A.weight} (down), {@code .lora_B.weight} (up),
 *       {@code text_encoder.<module>...}; no alpha, so the scale is 1 unless a {@code .alpha} tensor is present.</li>
 * </ul>
 * Module names are matched against the model's own weight keys: its diffusers keys, and their CompVis names through
 * the one mapping ({@link CompVisKeys#toCompVis}) — there is no separate LoRA key table. Linear layers and 1×1 and
 * k×k convolutions (LoCon: down [r, in, k, k], up [out, r, 1, 1]) are patched; every tensor that patches nothing
 * is listed in {@link #unmatchedKeys()} by name. LoRAs for SDXL or SD 2.x are refused with the reason.
 */
public final class Lora {
    /** One patched weight: ΔW = scale · up [out, rank] · down [rank, inner], inner = the weight's size / out. */
    public record Patch(ModelComponent component, String weightKey, long[] weightShape, int rank, double scale,
                        float[] up, float[] down) {
        public int out() {
            return (int) weightShape[0];
        }

        public int inner() {
            return down.length / rank;
        }
    }

    private static final Pattern KOHYA = Pattern.compile("(lora_(?:unet|te|te1|te2)_[^.]+)\\.(lora_down\\.weight|lora_up\\.weight|alpha)");
    private static final Pattern PEFT = Pattern.compile("(.+)\\.(lora_A|lora_B)(?:\\.[A-Za-z0-9_]+)?\\.weight");
    private static final Pattern PEFT_ALPHA = Pattern.compile("(.+)\\.alpha");

    private final String name;
    private final Path path;
    private final List<Patch> patches;
    private final List<String> unmatchedKeys;
    private final String shortHash;

    private Lora(String name, Path path, List<Patch> patches, List<String> unmatchedKeys, String shortHash) {
        this.name = name;
        this.path = path;
        this.patches = List.copyOf(patches);
        this.unmatchedKeys = List.copyOf(unmatchedKeys);
        this.shortHash = shortHash;
    }

    /**
     * The weights a LoRA can reach in one model: for every U-Net and text-encoder weight, the names a LoRA file may
     * give its module (kohya's underscore form of the diffusers and of the CompVis path).
     */
    public static final class Targets {
        record Target(ModelComponent component, String key, long[] shape) {}

        private final Map<String, Target> byKohyaName = new LinkedHashMap<>();

        public Targets(Weights unet, Weights textEncoder, CompVisKeys compVis) {
            for (String key : unet.keys()) {
                if (key.endsWith(".weight")) {
                    Target t = new Target(ModelComponent.UNET, key, unet.info(key).shape());
                    byKohyaName.put(kohya("lora_unet_", module(key)), t);
                    String cv = compVis.toCompVis(ModelComponent.UNET, key).substring(ModelComponent.UNET.compVisPrefix().length());
                    byKohyaName.putIfAbsent(kohya("lora_unet_", module(cv)), t);
                }
            }
            for (String key : textEncoder.keys()) {
                if (key.endsWith(".weight")) {
                    byKohyaName.put(kohya("lora_te_", module(key)), new Target(ModelComponent.TEXT_ENCODER, key,
                            textEncoder.info(key).shape()));
                }
            }
        }

        private static String module(String weightKey) {
            return weightKey.substring(0, weightKey.length() - ".weight".length());
        }

        private static String kohya(String prefix, String module) {
            return prefix + module.replace('.', '_');
        }

        Target find(String kohyaName) {
            return byKohyaName.get(kohyaName);
        }
    }

    /** Reads {@code file} as a LoRA of the model {@code targets} describes; {@code name} is how jobs call it. */
    public static Lora open(Path file, String name, Targets targets) {
        String lower = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (lower.endsWith(".ckpt") || lower.endsWith(".pt") || lower.endsWith(".pth") || lower.endsWith(".bin")) {
            throw StableDiffusionModel.pickleRefused(file);
        }
        if (!lower.endsWith(".safetensors")) {
            throw new WeightsException(file + ": a LoRA must be a .safetensors file");
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            refuseOtherArchitectures(file, f);
            // group the tensors by module: kohya and PEFT names both reduce to kohya's lora_unet_/lora_te_ form
            Map<String, Map<String, String>> modules = new TreeMap<>();
            List<String> unmatched = new ArrayList<>();
            for (String key : f.keys()) {
                String[] mp = moduleAndPart(key);
                if (mp == null) {
                    unmatched.add(key);
                } else {
                    modules.computeIfAbsent(mp[0], k -> new LinkedHashMap<>()).put(mp[1], key);
                }
            }
            List<Patch> patches = new ArrayList<>();
            for (Map.Entry<String, Map<String, String>> e : modules.entrySet()) {
                Map<String, String> parts = e.getValue();
                Targets.Target target = targets.find(e.getKey());
                if (target == null || !parts.containsKey("down") || !parts.containsKey("up")) {
                    unmatched.addAll(parts.values());
                    continue;
                }
                patches.add(patch(file, f, target, parts));
            }
            if (patches.isEmpty()) {
                throw new WeightsException(file + ": no tensor of this file patches a layer of the model (not a Stable "
                        + "Diffusion 1.x LoRA, or a format other than kohya or diffusers/PEFT LoRA); unmatched: "
                        + preview(unmatched));
            }
            unmatched.sort(null);
            return new Lora(name, file, patches, unmatched, shortHash(file));
        }
    }

    /** {module in kohya form, "down" | "up" | "alpha"}, or null for a key of neither layout. */
    private static String[] moduleAndPart(String key) {
        Matcher m = KOHYA.matcher(key);
        if (m.matches()) {
            return new String[] {m.group(1), part(m.group(2))};
        }
        m = PEFT.matcher(key);
        if (m.matches()) {
            String module = peftModule(m.group(1));
            return module == null ? null : new String[] {module, m.group(2).equals("lora_A") ? "down" : "up"};
        }
        m = PEFT_ALPHA.matcher(key);
        if (m.matches() && !key.startsWith("lora_")) {
            String module = peftModule(m.group(1));
            return module == null ? null : new String[] {module, "alpha"};
        }
        return null;
    }

    private static String part(String suffix) {
        return suffix.startsWith("lora_down") ? "down" : suffix.startsWith("lora_up") ? "up" : "alpha";
    }

    /** A diffusers/PEFT module path in kohya form: {@code unet.a.b} → {@code lora_unet_a_b}. */
    private static String peftModule(String module) {
        String m = module.startsWith("base_model.model.") ? module.substring("base_model.model.".length()) : module;
        String prefix;
        if (m.startsWith("unet.")) {
            prefix = "lora_unet_";
            m = m.substring("unet.".length());
        } else if (m.startsWith("text_encoder.")) {
            prefix = "lora_te_";
            m = m.substring("text_encoder.".length());
        } else if (m.startsWith("text_model.")) {
            prefix = "lora_te_";
        } else if (m.startsWith("down_blocks.") || m.startsWith("mid_block.") || m.startsWith("up_blocks.")) {
            prefix = "lora_unet_";
        } else {
            return null;
        }
        return prefix + m.replace('.', '_');
    }

    private static Patch patch(Path file, SafeTensorsFile f, Targets.Target target, Map<String, String> parts) {
        String downKey = parts.get("down");
        String upKey = parts.get("up");
        long[] down = f.info(downKey).shape();
        long[] up = f.info(upKey).shape();
        long[] w = target.shape();
        long weightSize = 1;
        for (long d : w) {
            weightSize *= d;
        }
        long rank = down.length > 0 ? down[0] : 0;
        long downSize = f.info(downKey).elementCount();
        boolean fits = down.length >= 2 && up.length >= 2 && rank > 0 && up[1] == rank && up[0] == w[0]
                && f.info(upKey).elementCount() == up[0] * rank && down[1] == w[1] && downSize % rank == 0
                && downSize / rank * w[0] == weightSize;
        if (!fits) {
            String arch = guessArchitecture(target, down);
            throw new WeightsException(file + ": " + downKey + " " + java.util.Arrays.toString(down) + " and " + upKey + " "
                    + java.util.Arrays.toString(up) + " do not fit " + target.component().folder() + " weight " + target.key()
                    + " " + java.util.Arrays.toString(w) + (arch == null ? "" : " (this LoRA was made for " + arch
                    + "; only Stable Diffusion 1.x LoRAs are supported)"));
        }
        double scale = 1.0;
        String alphaKey = parts.get("alpha");
        if (alphaKey != null) {
            float[] alpha = f.floats(alphaKey);
            if (alpha.length != 1) {
                throw new WeightsException(file + ": " + alphaKey + " should be one number, has " + alpha.length);
            }
            scale = alpha[0] / (double) rank;
        }
        return new Patch(target.component(), target.key(), w.clone(), (int) rank, scale, f.floats(upKey), f.floats(downKey));
    }

    /** What a LoRA whose layer does not fit SD 1.x was made for, from the width its cross-attention or text encoder reads. */
    private static String guessArchitecture(Targets.Target target, long[] down) {
        if (down.length < 2) {
            return null;
        }
        long in = down[1];
        boolean crossAttention = target.key().contains("attn2.to_k") || target.key().contains("attn2.to_v");
        if ((crossAttention || target.component() == ModelComponent.TEXT_ENCODER) && in == 1024) {
            return "Stable Diffusion 2.x (OpenCLIP ViT-H, 1024-wide)";
        }
        if ((crossAttention && in == 2048) || (target.component() == ModelComponent.TEXT_ENCODER && in == 1280)) {
            return "Stable Diffusion XL";
        }
        return null;
    }

    private static void refuseOtherArchitectures(Path file, SafeTensorsFile f) {
        String base = f.metadata().getOrDefault("ss_base_model_version", "").toLowerCase(Locale.ROOT);
        String why = null;
        if (base.startsWith("sdxl")) {
            why = "Stable Diffusion XL (metadata ss_base_model_version = " + base + ")";
        } else if (base.startsWith("sd_v2") || "true".equalsIgnoreCase(f.metadata().get("ss_v2"))) {
            why = "Stable Diffusion 2.x (metadata " + (base.isEmpty() ? "ss_v2 = True" : "ss_base_model_version = " + base) + ")";
        } else {
            for (String key : f.keys()) {
                if (key.startsWith("lora_te1_") || key.startsWith("lora_te2_") || key.startsWith("text_encoder_2.")) {
                    why = "Stable Diffusion XL (it has a second text encoder: " + key + ")";
                    break;
                }
            }
        }
        if (why != null) {
            throw new WeightsException(file + ": this LoRA was made for " + why + "; only Stable Diffusion 1.x LoRAs are supported");
        }
    }

    /**
     * The hash A1111 writes as {@code Lora hashes}: the first 12 hex digits of the SHA-256 of the file after its
     * safetensors header (kohya's "addnet" hash, which leaves out the metadata).
     */
    public static String shortHash(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] len = in.readNBytes(8);
            long headerBytes = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            in.skipNBytes(headerBytes);
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(sha.digest()).substring(0, 12);
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot read: " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String preview(List<String> keys) {
        return keys.size() <= 5 ? String.join(", ", keys)
                : String.join(", ", keys.subList(0, 5)) + " and " + (keys.size() - 5) + " more";
    }

    public String name() {
        return name;
    }

    public Path path() {
        return path;
    }

    public List<Patch> patches() {
        return patches;
    }

    /** Tensors of the file that patch no layer of the model, by name (reported, never silently dropped). */
    public List<String> unmatchedKeys() {
        return unmatchedKeys;
    }

    /** A one-line warning naming the unmatched tensors, or null when every tensor was used. */
    public String unmatchedWarning() {
        return unmatchedKeys.isEmpty() ? null : "LoRA " + name + ": " + unmatchedKeys.size()
                + " tensors match no layer of the model and are not applied: " + preview(unmatchedKeys);
    }

    /** 12 hex digits, as A1111's {@code Lora hashes} (see {@link #shortHash(Path)}). */
    public String shortHash() {
        return shortHash;
    }

    /** Bytes the patches hold on the heap (up and down as float32). */
    public long heapBytes() {
        return patches.stream().mapToLong(p -> 4L * (p.up().length + p.down().length)).sum();
    }
}
