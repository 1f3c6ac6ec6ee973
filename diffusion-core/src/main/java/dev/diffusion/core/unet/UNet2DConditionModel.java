package dev.diffusion.core.unet;

import dev.diffusion.core.nn.Activations;
import dev.diffusion.core.nn.Conv2d;
import dev.diffusion.core.nn.GroupNorm;
import dev.diffusion.core.nn.Linear;
import dev.diffusion.core.nn.LowRankAdapters;
import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.OpProfile;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.nn.TimestepEmbedding;
import dev.diffusion.core.weights.Lora;
import dev.diffusion.core.weights.ModelComponent;
import dev.diffusion.core.weights.StableDiffusionModel;
import dev.diffusion.core.weights.Weights;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * The Stable Diffusion noise predictor, diffusers {@code UNet2DConditionModel}, as one TensorFlow graph whose
 * module tree mirrors the diffusers weight keys ({@code conv_in}, {@code time_embedding.linear_1},
 * {@code down_blocks.i.resnets.j}, {@code mid_block}, {@code up_blocks.i.attentions.j}, {@code conv_out}, ...).
 *
 * <p>Batch, latent size and context length are free in the graph, so one model serves a batch of steps of
 * different jobs, each sample with its own timestep, at any latent size (the up path matches each skip connection's
 * size, see {@link UpBlock2D}: SD 1.x runs at any image size that is a multiple of 8, as in diffusers).
 */
public final class UNet2DConditionModel extends TfNetwork {
    /**
     * {@code diffusion.unet.replicas} (default 1): sessions holding the U-Net, each with its own copy of the weights
     * and an equal share of the threads; a batch is split over them and its parts run side by side. For small
     * networks on few cores, where one op is too small to keep several threads busy (the demo model: a CFG pair
     * 1.55–1.7× faster with two 1-thread replicas than with one 2-thread session on 2 cores); read when a U-Net is
     * built. Needs {@code TF_OVERRIDE_GLOBAL_THREADPOOL=1} in the environment ({@link TfNetwork#load(int)}).
     */
    public static final String REPLICAS_PROPERTY = "diffusion.unet.replicas";

    /** Runs the parts of a split batch beside the caller's own part. */
    private static final java.util.concurrent.ExecutorService PARTS = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "unet-replica");
        t.setDaemon(true);
        return t;
    });

    private final UNetConfig config;
    private final Placeholder<TFloat32> sample;
    private final Placeholder<TFloat32> timesteps;
    private final Placeholder<TFloat32> context;
    private final Operand<TFloat32> noisePrediction;

    private final LowRankAdapters lowRank;

    public UNet2DConditionModel(UNetConfig config, Weights weights, Precision precision) {
        this(config, weights, precision, null);
    }

    /**
     * With run-time LoRA slots ({@link LowRankAdapters}) on the layout's target weights (null: none), empty until
     * {@link #loadLoraSlot} fills them; {@link #predict(float[], int, int, int, float[], float[], int, float[])} says
     * per sample how much of each slot to add.
     */
    public UNet2DConditionModel(UNetConfig config, Weights weights, Precision precision, LowRankAdapters.Layout lowRankLayout) {
        super(weights, precision);
        this.config = config;
        var tf = nn.tf;
        lowRank = lowRankLayout == null ? null : nn.lowRank(lowRankLayout);
        sample = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, config.inChannels())));
        timesteps = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1)));
        context = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, config.crossAttentionDim())));
        noisePrediction = build(nn, config, sample, timesteps, context);
        if (lowRank != null && !lowRank.unbuiltTargets().isEmpty()) {
            close();
            throw new IllegalArgumentException("run-time LoRA: no Linear or 1x1 convolution layer reads "
                    + lowRank.unbuiltTargets());
        }
        load(Integer.getInteger(REPLICAS_PROPERTY, 1));
        if (lowRank != null) {
            for (org.tensorflow.Session s : replicaSessions()) {
                lowRank.clearAll(s);
            }
        }
    }

    /** The run-time LoRA targets of a set of LoRAs: every U-Net weight one of them patches. */
    public static LowRankAdapters.Layout lowRankLayout(java.util.Collection<Lora> loras, int slots, int rank) {
        java.util.Map<String, long[]> targets = new java.util.TreeMap<>();
        for (Lora l : loras) {
            for (Lora.Patch p : l.patches()) {
                if (p.component() == ModelComponent.UNET) {
                    targets.put(p.weightKey(), p.weightShape());
                }
            }
        }
        return new LowRankAdapters.Layout(targets, slots, rank);
    }

    /** Puts {@code lora}'s U-Net update (at multiplier 1: the job's weight is the call's scale) into slot {@code slot}. */
    public void loadLoraSlot(int slot, Lora lora) {
        if (lowRank == null) {
            throw new IllegalStateException("this U-Net was built without run-time LoRA slots");
        }
        java.util.Map<String, LowRankAdapters.LowRank> updates = new java.util.LinkedHashMap<>();
        for (Lora.Patch p : lora.patches()) {
            if (p.component() == ModelComponent.UNET) {
                updates.put(p.weightKey(), new LowRankAdapters.LowRank(p.rank(), p.scale(), p.up(), p.down()));
            }
        }
        for (org.tensorflow.Session s : replicaSessions()) {
            lowRank.load(s, slot, updates);
        }
    }

    /** Empties slot {@code slot}. */
    public void clearLoraSlot(int slot) {
        for (org.tensorflow.Session s : replicaSessions()) {
            lowRank.load(s, slot, java.util.Map.of());
        }
    }

    /** The run-time LoRA slots, or 0 when built without. */
    public int loraSlots() {
        return lowRank == null ? 0 : lowRank.layout().slots();
    }

    /**
     * The U-Net of a Stable Diffusion model: built from its {@code unet/config.json} when it has one (diffusers
     * folders), else with the SD 1.x config (single-file checkpoints carry no config).
     */
    public static UNet2DConditionModel of(StableDiffusionModel model, Precision precision) {
        UNetConfig config = model.unetConfig().map(UNetConfig::fromJson).orElseGet(UNetConfig::sd15);
        return new UNet2DConditionModel(config, model.unet(), precision);
    }

    /**
     * Builds the network's ops on the given inputs: sample [B, H, W, in] NHWC, timesteps [B], context [B, L, D].
     * Public so that a trainer can build the same module tree into a graph it owns.
     */
    public static Operand<TFloat32> build(Nn nn, UNetConfig config, Operand<TFloat32> sample, Operand<TFloat32> timesteps,
                                   Operand<TFloat32> context) {
        var tf = nn.tf;
        int[] channels = config.blockOutChannels();
        int n = config.blockCount();

        // time embedding: sinusoidal features → linear_1 → SiLU → linear_2 (diffusers Timesteps + TimestepEmbedding)
        Linear timeLinear1 = new Linear(nn, "time_embedding.linear_1", channels[0], config.timeEmbeddingDim(), true);
        Linear timeLinear2 = new Linear(nn, "time_embedding.linear_2", config.timeEmbeddingDim(), config.timeEmbeddingDim(), true);
        Operand<TFloat32> tProj = TimestepEmbedding.apply(nn, timesteps, channels[0], config.flipSinToCos(), config.freqShift());
        Operand<TFloat32> temb = timeLinear2.apply(Activations.silu(tf, timeLinear1.apply(tProj)));

        Conv2d convIn = new Conv2d(nn, "conv_in", config.inChannels(), channels[0], 3, 1, 1);
        Operand<TFloat32> x = convIn.apply(sample);
        List<Operand<TFloat32>> skips = new ArrayList<>();
        skips.add(x);

        long in = channels[0];
        for (int i = 0; i < n; i++) {
            boolean cross = config.downBlockTypes().get(i).equals(UNetConfig.CROSS_ATTN_DOWN);
            DownBlock2D block = new DownBlock2D(nn, "down_blocks." + i, config, i, in, cross);
            x = block.apply(x, temb, context, skips);
            in = channels[i];
        }

        x = new UNetMidBlock2DCrossAttn(nn, "mid_block", config).apply(x, temb, context);

        long prevOut = channels[n - 1];
        for (int i = 0; i < n; i++) {
            int mirrored = n - 1 - i;
            long skipIn = channels[Math.max(mirrored - 1, 0)];
            boolean cross = config.upBlockTypes().get(i).equals(UNetConfig.CROSS_ATTN_UP);
            UpBlock2D block = new UpBlock2D(nn, "up_blocks." + i, config, i, prevOut, skipIn, cross);
            x = block.apply(x, temb, context, skips);
            prevOut = channels[mirrored];
        }
        if (!skips.isEmpty()) {
            throw new IllegalStateException("U-Net wiring left " + skips.size() + " skip connections unused");
        }

        GroupNorm convNormOut = new GroupNorm(nn, "conv_norm_out", config.normNumGroups(), channels[0], config.normEps());
        Conv2d convOut = new Conv2d(nn, "conv_out", channels[0], config.outChannels(), 3, 1, 1);
        return convOut.apply(Activations.silu(tf, convNormOut.apply(x)));
    }

    public UNetConfig config() {
        return config;
    }

    /**
     * Predicts the noise in a batch of latents.
     *
     * @param latentsNhwc   [batch, height, width, in_channels] (the sampler's x already scaled by c_in)
     * @param timesteps     [batch], one per sample, possibly fractional
     * @param contextValues [batch, contextLength, cross_attention_dim], the text encoder's hidden states
     * @return the noise prediction [batch, height, width, out_channels], NHWC
     */
    public float[] predict(float[] latentsNhwc, int batch, int height, int width, float[] timesteps,
                           float[] contextValues, int contextLength) {
        return predict(latentsNhwc, batch, height, width, timesteps, contextValues, contextLength,
                lowRank == null ? null : new float[batch * lowRank.layout().slots()]);
    }

    /**
     * As {@link #predict(float[], int, int, int, float[], float[], int)} with run-time LoRA: {@code loraScales}
     * [batch, slots] is each sample's multiplier of each slot's LoRA (0 = not applied).
     */
    public float[] predict(float[] latentsNhwc, int batch, int height, int width, float[] timesteps,
                           float[] contextValues, int contextLength, float[] loraScales) {
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        }
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("height and width must be positive, got " + height + "x" + width);
        }
        if (contextLength < 1) {
            throw new IllegalArgumentException("contextLength must be >= 1, got " + contextLength);
        }
        long latentCount = (long) batch * height * width * config.inChannels();
        if (latentsNhwc == null || latentsNhwc.length != latentCount) {
            throw new IllegalArgumentException("latentsNhwc must hold batch*height*width*" + config.inChannels() + " = "
                    + latentCount + " values, got " + (latentsNhwc == null ? "null" : latentsNhwc.length));
        }
        if (timesteps == null || timesteps.length != batch) {
            throw new IllegalArgumentException("timesteps must hold one value per sample (" + batch + "), got "
                    + (timesteps == null ? "null" : timesteps.length));
        }
        for (int i = 0; i < batch; i++) {
            if (!Float.isFinite(timesteps[i])) {
                throw new IllegalArgumentException("timesteps[" + i + "] must be finite, got " + timesteps[i]);
            }
        }
        long contextCount = (long) batch * contextLength * config.crossAttentionDim();
        if (contextValues == null || contextValues.length != contextCount) {
            throw new IllegalArgumentException("context must hold batch*contextLength*" + config.crossAttentionDim() + " = "
                    + contextCount + " values, got " + (contextValues == null ? "null" : contextValues.length));
        }
        int slots = loraSlots();
        if ((loraScales == null ? 0 : loraScales.length) != batch * slots) {
            throw new IllegalArgumentException("loraScales must hold batch*" + slots + " = " + batch * slots
                    + " values (one per sample and run-time LoRA slot), got " + (loraScales == null ? "null" : loraScales.length));
        }
        List<org.tensorflow.Session> sessions = replicaSessions();
        int parts = Math.min(sessions.size(), batch);
        if (parts == 1) {
            return run(session(), latentsNhwc, batch, height, width, timesteps, contextValues, contextLength, loraScales);
        }
        // the batch split in consecutive parts, one per replica; the caller runs the first, pool threads the rest
        int latentPer = height * width * config.inChannels();
        int contextPer = contextLength * config.crossAttentionDim();
        List<java.util.concurrent.Future<float[]>> others = new ArrayList<>();
        float[] first = null;
        int outPer = height * width * config.outChannels();
        float[] out = new float[batch * outPer];
        int[] from = new int[parts + 1];
        for (int p = 0; p < parts; p++) {
            from[p + 1] = from[p] + batch / parts + (p < batch % parts ? 1 : 0);
        }
        try {
            for (int p = parts - 1; p >= 0; p--) {
                org.tensorflow.Session session = sessions.get(p);
                int a = from[p];
                int n = from[p + 1] - a;
                float[] lat = java.util.Arrays.copyOfRange(latentsNhwc, a * latentPer, (a + n) * latentPer);
                float[] ts = java.util.Arrays.copyOfRange(timesteps, a, a + n);
                float[] ctx = java.util.Arrays.copyOfRange(contextValues, a * contextPer, (a + n) * contextPer);
                float[] sc = slots == 0 ? null : java.util.Arrays.copyOfRange(loraScales, a * slots, (a + n) * slots);
                if (p == 0) {
                    first = run(session, lat, n, height, width, ts, ctx, contextLength, sc);
                } else {
                    others.add(PARTS.submit(() -> run(session, lat, n, height, width, ts, ctx, contextLength, sc)));
                }
            }
            System.arraycopy(first, 0, out, 0, first.length);
            for (int p = 1; p < parts; p++) {
                float[] part = others.get(parts - 1 - p).get();
                System.arraycopy(part, 0, out, from[p] * outPer, part.length);
            }
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the U-Net's replicas ran", e);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e.getCause());
        } finally {
            for (java.util.concurrent.Future<float[]> f : others) { // a failed part: wait for the rest before returning
                try {
                    f.get();
                } catch (Exception ignored) {
                    // the first failure is the one reported
                }
            }
        }
    }

    /** One session's run over a whole (part of a) batch; inputs already checked. */
    private float[] run(org.tensorflow.Session session, float[] latentsNhwc, int batch, int height, int width,
                        float[] timesteps, float[] contextValues, int contextLength, float[] loraScales) {
        int slots = loraSlots();
        try (TFloat32 x = Tensors.of(latentsNhwc, batch, height, width, config.inChannels());
             TFloat32 t = Tensors.of(timesteps, batch);
             TFloat32 c = Tensors.of(contextValues, batch, contextLength, config.crossAttentionDim());
             TFloat32 s = slots == 0 ? null : Tensors.of(loraScales, batch, slots)) {
            var runner = session.runner().feed(sample, x).feed(this.timesteps, t).feed(context, c);
            if (s != null) {
                runner.feed(lowRank.scales(), s);
            }
            try (Result r = OpProfile.run("U-Net", runner.fetch(noisePrediction))) {
                return Tensors.toFloats((TFloat32) r.get(0));
            }
        }
    }
}
