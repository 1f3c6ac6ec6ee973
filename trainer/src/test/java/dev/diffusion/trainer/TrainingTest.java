package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion.core.tokenizer.ClipTokenizer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** A few dozen Adam steps on the tiny sizes lower the loss on a fixed batch (same pixels, noise and timesteps). */
class TrainingTest {

    @Test
    void vaeTrainingLowersTheReconstructionLoss() {
        float[] loss = vaeLossBeforeAndAfter30Steps(ModelSizes.TINY);
        assertTrue(loss[1] < 0.6 * loss[0], "VAE loss " + loss[0] + " -> " + loss[1]);
    }

    /** The loss on a fixed batch of 8 scenes, before and after 30 Adam steps on fresh batches. */
    private static float[] vaeLossBeforeAndAfter30Steps(ModelSizes sizes) {
        try (VaeTraining vae = new VaeTraining(sizes, 11, 2e-3f, 0.99)) {
            VaeTraining.Batch fixed = vae.drawBatch(new SplittableRandom(3), 8);
            float before = vae.loss(fixed, new SplittableRandom(4));
            SplittableRandom rng = new SplittableRandom(5);
            for (int i = 0; i < 30; i++) {
                vae.step(vae.drawBatch(rng, 8), rng);
            }
            return new float[] {before, vae.loss(fixed, new SplittableRandom(4))};
        }
    }

    @Test
    void diffusionTrainingLowersTheNoisePredictionLoss() {
        ClipTokenizer tokenizer = DemoModelTrainer.learnTokenizer(1);
        int size = 16;
        int batch = 16;
        // stand-in latents: each scene's pixels averaged over 4x4 blocks, RGB + one zero channel
        SplittableRandom data = new SplittableRandom(2);
        float[] latents = new float[batch * size * size * 4];
        String[] captions = new String[batch];
        for (int b = 0; b < batch; b++) {
            Scene s = Scene.random(data, 64);
            captions[b] = Captions.training(s, data);
            byte[] rgb = s.render();
            for (int y = 0; y < 64; y++) {
                for (int x = 0; x < 64; x++) {
                    for (int c = 0; c < 3; c++) {
                        latents[((b * size + y / 4) * size + x / 4) * 4 + c] += ((rgb[(y * 64 + x) * 3 + c] & 0xff) / 127.5f - 1) / 16;
                    }
                }
            }
        }
        try (DiffusionTraining diffusion = new DiffusionTraining(ModelSizes.TINY, tokenizer, 12, 2e-3f, 0.99)) {
            float before = diffusion.loss(latents, captions, size, new SplittableRandom(6));
            SplittableRandom rng = new SplittableRandom(7);
            for (int i = 0; i < 40; i++) {
                diffusion.step(latents, captions, size, rng);
            }
            float after = diffusion.loss(latents, captions, size, new SplittableRandom(6));
            assertTrue(after < 0.8 * before, "diffusion loss " + before + " -> " + after);
        }
    }

    @Test
    void learningRateIsFlatThenFallsLinearlyOverTheWarmdown() {
        // warm-down 0.3: 1 up to 70 % of the phase, then a line to 0.05 at 100 %: 85 % → 1 − 0.5·0.95 = 0.525
        assertEquals(1.0, DemoModelTrainer.rateScale(0.0, 0.3), 1e-12);
        assertEquals(1.0, DemoModelTrainer.rateScale(0.7, 0.3), 1e-12);
        assertEquals(0.525, DemoModelTrainer.rateScale(0.85, 0.3), 1e-12);
        assertEquals(0.05, DemoModelTrainer.rateScale(1.0, 0.3), 1e-12);
        assertEquals(0.05, DemoModelTrainer.rateScale(1.2, 0.3), 1e-12); // past the time limit: stays at the floor
        assertEquals(1.0, DemoModelTrainer.rateScale(0.99, 0.0), 1e-12); // no warm-down: constant
    }

    @Test
    void lossWeightIsMinSnrWhenCleanAndOneOverSnrWhenNoisy() {
        // SNR = ᾱ/(1−ᾱ), γ = 5, cap 20: SNR 1 → 1; 3 → 1; 9 → 5/9; 99 → 5/99; 1/9 → 9; 1/99 → 99, capped to 20
        assertEquals(1.0, DiffusionTraining.lossWeight(0.5), 1e-12);
        assertEquals(1.0, DiffusionTraining.lossWeight(0.75), 1e-12);
        assertEquals(5.0 / 9.0, DiffusionTraining.lossWeight(0.9), 1e-12);
        assertEquals(5.0 / 99.0, DiffusionTraining.lossWeight(0.99), 1e-12);
        assertEquals(9.0, DiffusionTraining.lossWeight(0.1), 1e-9);
        assertEquals(20.0, DiffusionTraining.lossWeight(0.01), 1e-12);
    }

    @Test
    void shapePixelsWeighElevenTimesTheBackground() {
        // a red square of half-extent 10 centred on pixel (32, 32) of a gray 64x64 image: the square covers
        // x, y in [23, 41] exactly (0.9·10 = 9 pixels each side), so pixel 32 is inside and the corner outside
        Scene s = new Scene(Scene.Shape.SQUARE, Scene.Colour.RED, Scene.Position.CENTER, Scene.Background.GRAY,
                32, 32, 10, 64);
        float[] pixels = new float[64 * 64 * 3];
        Scene.toUnit(s.render(), pixels, 0);
        try (VaeTraining vae = new VaeTraining(ModelSizes.TINY, 1, 1e-3f, 0.99)) {
            float[] w = VaeTraining.pixelWeights(vae.coverage(pixels, 1));
            assertEquals(1f, w[0], 1e-6f);
            assertEquals(1f + VaeTraining.SHAPE_WEIGHT, w[32 * 64 + 32], 1e-6f);
            assertEquals(1f + VaeTraining.SHAPE_WEIGHT, w[24 * 64 + 24], 1e-6f);
            assertEquals(1f, w[22 * 64 + 32], 1e-6f); // one row above the square's top edge (23)
        }
    }

    @Test
    void theAverageMovesEveryFourStepsAtFourStepsWorthOfDecay() {
        // step 4: d = min(0.999, 5/14) = 5/14, rate 1 − (5/14)^4; late in a run d = 0.999: rate 1 − 0.999^4
        assertEquals(1 - Math.pow(5.0 / 14.0, 4), TrainingGraph.averagingRate(4, 0.999), 1e-12);
        assertEquals(1 - Math.pow(0.999, 4), TrainingGraph.averagingRate(40_000, 0.999), 1e-12);
        assertEquals(0.003994003999, TrainingGraph.averagingRate(40_000, 0.999), 1e-12);
    }

    @Test
    void snapshotsReadTheAveragesWithoutDisturbingTraining() {
        ClipTokenizer tokenizer = DemoModelTrainer.learnTokenizer(1);
        SplittableRandom data = new SplittableRandom(3);
        float[] latents = Gaussian.fill(data, new float[4 * 16 * 16 * 4]);
        String[] captions = {"a red circle", "a blue square", "green triangle, left", "a yellow circle on black"};
        try (DiffusionTraining diffusion = new DiffusionTraining(ModelSizes.TINY, tokenizer, 12, 2e-3f, 0.5)) {
            SplittableRandom rng = new SplittableRandom(7);
            for (int i = 0; i < 5; i++) {
                diffusion.step(latents, captions, 16, rng);
            }
            var current = diffusion.weights();
            var averaged = diffusion.averagedWeights();
            var after = diffusion.weights();
            String key = "conv_in.weight";
            assertArrayEquals(current.floats(key), after.floats(key), "training weights changed by a snapshot");
            assertTrue(!java.util.Arrays.equals(current.floats(key), averaged.floats(key)),
                    "the averages should lag the weights after 5 steps");
            diffusion.useAveragedWeights();
            assertArrayEquals(averaged.floats(key), diffusion.weights().floats(key));
        }
    }

    /** A run of the tiny sizes: 3 VAE steps of 4, 64 scenes, {@code unetSteps} U-Net steps of 4, no time limit. */
    private static DemoModelTrainer.Options tinyOptions(long seed, int unetSteps, java.nio.file.Path vaeFrom,
                                                        java.nio.file.Path unetFrom) {
        return new DemoModelTrainer.Options(ModelSizes.TINY, seed, 3, 4, 2e-3f, 64, unetSteps, 4, 1e-3f, 0.99,
                dev.diffusion.core.weights.TensorDtype.F16, 0, 0, vaeFrom, 0.3, unetFrom, DiffusionTraining.HIGH_T_SHARE, 0, 0.0);
    }

    @Test
    void retrainingOnAnExistingVaeKeepsItsWeightsAndScalingExactly(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws java.io.IOException {
        java.io.PrintStream quiet = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
        var first = tinyOptions(5, 2, null, null);
        DemoModelTrainer.Result a = new DemoModelTrainer(first, quiet).train(dir.resolve("a"));
        var second = tinyOptions(6, 2, dir.resolve("a"), null);
        DemoModelTrainer.Result b = new DemoModelTrainer(second, quiet).train(dir.resolve("b"));
        for (String file : new String[] {"vae/diffusion_pytorch_model.safetensors", "vae/config.json"}) {
            assertArrayEquals(java.nio.file.Files.readAllBytes(dir.resolve("a").resolve(file)),
                    java.nio.file.Files.readAllBytes(dir.resolve("b").resolve(file)), file);
        }
        assertEquals((float) a.scalingFactor(), (float) b.scalingFactor());
        assertEquals(0.0, b.vaeSeconds());
        assertFalse(java.util.Arrays.equals(
                java.nio.file.Files.readAllBytes(dir.resolve("a/unet/diffusion_pytorch_model.safetensors")),
                java.nio.file.Files.readAllBytes(dir.resolve("b/unet/diffusion_pytorch_model.safetensors"))),
                "the U-Net is trained anew (other seed)");
    }

    @Test
    void continuingFromAFolderStartsFromItsUnetAndTextEncoder(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws java.io.IOException {
        java.io.PrintStream quiet = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
        var first = tinyOptions(5, 2, null, null);
        new DemoModelTrainer(first, quiet).train(dir.resolve("a"));
        // no U-Net steps from a's U-Net and text encoder (same seed: same tokenizer): they come back as they went in
        var none = tinyOptions(5, 0, dir.resolve("a"), dir.resolve("a"));
        new DemoModelTrainer(none, quiet).train(dir.resolve("b"));
        // four steps from them (the written averages move every 4th step): trained further, so not the same
        var four = tinyOptions(5, 4, dir.resolve("a"), dir.resolve("a"));
        new DemoModelTrainer(four, quiet).train(dir.resolve("c"));
        for (String file : new String[] {"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"}) {
            byte[] a = java.nio.file.Files.readAllBytes(dir.resolve("a").resolve(file));
            assertArrayEquals(a, java.nio.file.Files.readAllBytes(dir.resolve("b").resolve(file)), file);
            assertFalse(java.util.Arrays.equals(a, java.nio.file.Files.readAllBytes(dir.resolve("c").resolve(file))), file);
        }
    }

    @Test
    void theDecoderPhaseTrainsTheDecoderAloneAndKeepsTheLatentSpace(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws java.io.IOException {
        java.io.PrintStream quiet = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
        new DemoModelTrainer(tinyOptions(5, 2, null, null), quiet).train(dir.resolve("a"));
        var base = tinyOptions(5, 0, dir.resolve("a"), dir.resolve("a"));
        var decoderOnly = new DemoModelTrainer.Options(base.sizes(), base.seed(), base.vaeSteps(), base.vaeBatch(),
                base.vaeLearningRate(), base.datasetSize(), 0, base.unetBatch(), base.unetLearningRate(), base.emaDecay(),
                base.dtype(), 0, 0, base.vaeFrom(), base.warmdown(), base.unetFrom(), base.highTShare(), 8, 0.2);
        new DemoModelTrainer(decoderOnly, quiet).train(dir.resolve("b"));
        var a = dev.diffusion.core.weights.StableDiffusionModel.open(dir.resolve("a"));
        var b = dev.diffusion.core.weights.StableDiffusionModel.open(dir.resolve("b"));
        int encoderKeys = 0;
        int decoderChanged = 0;
        for (String key : a.vae().keys()) {
            boolean same = java.util.Arrays.equals(a.vae().floats(key), b.vae().floats(key));
            if (key.startsWith("encoder.") || key.startsWith("quant_conv.")) {
                encoderKeys++;
                assertTrue(same, key + " must not change: the latent space is the U-Net's");
            } else if (!same) {
                decoderChanged++;
            }
        }
        assertTrue(encoderKeys > 10, "encoder keys: " + encoderKeys);
        assertTrue(decoderChanged > 10, "decoder weights changed: " + decoderChanged);
        for (String file : new String[] {"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
            "vae/config.json"}) {
            assertArrayEquals(java.nio.file.Files.readAllBytes(dir.resolve("a").resolve(file)),
                    java.nio.file.Files.readAllBytes(dir.resolve("b").resolve(file)), file);
        }
        a.close();
        b.close();
    }

    @Test
    void decoderTrainingLowersTheReconstructionLossOfNoisyLatents(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        java.io.PrintStream quiet = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
        new DemoModelTrainer(tinyOptions(5, 0, null, null), quiet).train(dir.resolve("a"));
        try (var model = dev.diffusion.core.weights.StableDiffusionModel.open(dir.resolve("a"));
             var source = dev.diffusion.core.pipeline.ModelSource.open(dir.resolve("a").toString(), null);
             var vae = source.vae(dev.diffusion.core.nn.Precision.FP32, false, true);
             DecoderTraining decoder = new DecoderTraining(vae.config(), ModelSizes.TINY.imageSize,
                     new dev.diffusion.core.weights.MapWeights().putAll(model.vae()), 3, 2e-3f, 0.99)) {
            float before = decoder.loss(new SplittableRandom(4), 8, 0.2);
            SplittableRandom rng = new SplittableRandom(5);
            for (int i = 0; i < 30; i++) {
                decoder.step(rng, 8, 0.2);
            }
            float after = decoder.loss(new SplittableRandom(4), 8, 0.2);
            assertTrue(after < 0.8 * before, "decoder loss " + before + " -> " + after);
        }
    }

    @Test
    void vTargetIsWhatTheSamplerTurnsBackIntoTheCleanLatent() {
        // k-diffusion form of x_t: x = x0 + σ·ε with σ = √((1−ᾱ)/ᾱ); the sampler's V_PREDICTION denoiser on the
        // training target must give x0 back, and ε must come back from v at the U-Net's input x_t = √ᾱ·x
        SplittableRandom rng = new SplittableRandom(9);
        for (double a : new double[] {0.999, 0.7, 0.2, 0.006}) {
            double sigma = Math.sqrt((1 - a) / a);
            float[] x = new float[16];
            float[] v = new float[16];
            float[] x0 = new float[16];
            float[] eps = new float[16];
            for (int i = 0; i < 16; i++) {
                x0[i] = (float) (rng.nextDouble() * 4 - 2);
                eps[i] = (float) (rng.nextDouble() * 4 - 2);
                x[i] = (float) (x0[i] + sigma * eps[i]);
                v[i] = DiffusionTraining.vTarget(a, eps[i], x0[i]);
                float xt = (float) (Math.sqrt(a) * x[i]);
                assertEquals(eps[i], DiffusionTraining.epsilonFromV(a, v[i], xt), 1e-4, "eps at alphaBar " + a);
            }
            float[] denoised = dev.diffusion.core.sampling.PredictionType.V_PREDICTION.denoised(x, v, sigma);
            assertArrayEquals(x0, denoised, 1e-4f, "x0 at alphaBar " + a);
        }
        // hand values: v = √ᾱ·ε − √(1−ᾱ)·x0 at ᾱ = 0.36: 0.6·1 − 0.8·2 = −1
        assertEquals(-1.0, DiffusionTraining.vTarget(0.36, 1f, 2f), 1e-6);
    }

    @Test
    void vLossWeightPutsTheSameWeightOnCleanLatentErrorsAsTheEpsilonWeight() {
        // an x0 error d is an eps error √SNR·d and a v error d/√(1−ᾱ): both weighted losses must equal clamp(SNR, 1, 5)·d²
        for (double a : new double[] {0.999, 0.9, 0.5, 0.2, 0.1}) {
            double snr = a / (1 - a);
            double x0Weight = Math.max(1, Math.min(snr, 5));
            assertEquals(x0Weight, DiffusionTraining.lossWeight(a) * snr, 1e-9, "eps at " + a);
            assertEquals(x0Weight, DiffusionTraining.vLossWeight(a) / (1 - a), 1e-9, "v at " + a);
        }
        assertEquals(0.5, DiffusionTraining.vLossWeight(0.5), 1e-12); // SNR 1: 1/2
        assertEquals(0.5, DiffusionTraining.vLossWeight(0.9), 1e-12); // SNR 9: 5/10
        // noisy end: no cap needed, the weight tends to 1 (v ≈ −x0)
        assertEquals(1.0, DiffusionTraining.vLossWeight(1e-6), 1e-5);
    }

    @Test
    void demoSizesPredictVAndEpsilonCanBeChosen() {
        assertEquals(dev.diffusion.core.sampling.PredictionType.V_PREDICTION, ModelSizes.DEMO.scheduler().predictionType());
        assertEquals(dev.diffusion.core.sampling.PredictionType.EPSILON,
                ModelSizes.DEMO.withPrediction("epsilon").scheduler().predictionType());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ModelSizes.DEMO.withPrediction("x0"));
        assertTrue(e.getMessage().contains("prediction_type"), e.getMessage());
    }

    @Test
    void demoSizesAreTheCommittedDemoModelsUNetAndExportAsIt() throws Exception {
        var committed = ModelSizes.JSON.readTree(java.nio.file.Files.readString(
                DemoModelAdherenceTest.demoModel().resolve("unet").resolve("config.json")));
        var exported = ModelSizes.JSON.readTree(ModelSizes.DEMO.unetConfig());
        assertEquals(dev.diffusion.core.unet.UNetConfig.fromJson(committed), ModelSizes.DEMO.unet());
        assertEquals(ModelSizes.DEMO.unet(), dev.diffusion.core.unet.UNetConfig.fromJson(exported));
        assertEquals(committed.path("sample_size").asInt(), exported.path("sample_size").asInt());
    }

    @Test
    void maskTargetIsTheBlockAveragedCoverageWhateverTheColours() {
        // a square of half-side 0.9·13 = 11.7 around (32, 32): pixels 20.3 .. 43.7 in x and y; a square's gain 1.5
        try (VaeTraining vae = new VaeTraining(ModelSizes.TINY, 1, 1e-3f, 0.99)) {
            for (Scene.Colour colour : new Scene.Colour[] {Scene.Colour.RED, Scene.Colour.YELLOW}) {
                for (Scene.Background bg : new Scene.Background[] {Scene.Background.BLACK, Scene.Background.WHITE}) {
                    Scene s = new Scene(Scene.Shape.SQUARE, colour, Scene.Position.CENTER, bg, 32, 32, 13, 64);
                    float[] pixels = new float[64 * 64 * 3];
                    Scene.toUnit(s.render(), pixels, 0);
                    float[] m = vae.maskTargets(vae.latentCoverage(vae.coverage(pixels, 1), 1), new Scene.Shape[] {Scene.Shape.SQUARE});
                    assertEquals(16 * 16, m.length);
                    assertEquals(4 * 1.5f - 0.5f, m[8 * 16 + 8], 1e-5f, "block inside the shape");
                    assertEquals(-0.5f, m[0], 1e-5f, "corner block");
                    assertEquals(-0.5f, m[8 * 16 + 2], 1e-5f, "block left of the shape (x 8..11)");
                    // block x 20..23, y 32..35: columns 21..23 inside; column 20 has 3 of its 4 supersamples
                    // (20.375, 20.625, 20.875 >= 20.3) inside: coverage (3 + 0.75)/4
                    assertEquals(4 * (3.75f / 4) * 1.5f - 0.5f, m[8 * 16 + 5], 3e-2f, "edge block");
                }
            }
        }
    }

    @Test
    void maskLossIsTheSquaredErrorOfChannelZeroAlone() {
        // two latent pixels of 4 channels (channels 1..3 = 7, not part of the loss): channel 0 = 1 against 1.5 and
        // 0 against −2.5: squares 0.25 and 6.25, mean 3.25
        try (org.tensorflow.Graph g = new org.tensorflow.Graph(); org.tensorflow.Session session = new org.tensorflow.Session(g)) {
            org.tensorflow.op.Ops tf = org.tensorflow.op.Ops.create(g);
            var mean = tf.constant(new float[][][][] {{{{1f, 7f, 7f, 7f}, {0f, 7f, 7f, 7f}}}});
            var targets = tf.constant(new float[][][][] {{{{1.5f}, {-2.5f}}}});
            try (var result = session.runner().fetch(VaeTraining.maskLoss(tf, mean, 4, targets)).run()) {
                assertEquals(3.25f, ((org.tensorflow.types.TFloat32) result.get(0)).getFloat(), 1e-6f);
            }
        }
    }

    @Test
    void channelZeroTellsCirclesFromSquaresOverTheWholeShape() {
        // a circle of radius 12 around (32, 32): block (8, 8) = pixels 32..35 lies inside each of the three shapes
        try (VaeTraining vae = new VaeTraining(ModelSizes.TINY, 1, 1e-3f, 0.99)) {
            float[] pixels = new float[3 * 64 * 64 * 3];
            Scene.Shape[] shapes = Scene.Shape.values(); // circle, square, triangle
            for (int i = 0; i < 3; i++) {
                Scene s = new Scene(shapes[i], Scene.Colour.BLUE, Scene.Position.CENTER, Scene.Background.GRAY, 32, 32, 12, 64);
                Scene.toUnit(s.render(), pixels, i * 64 * 64 * 3);
            }
            float[] m = vae.maskTargets(vae.latentCoverage(vae.coverage(pixels, 3), 3), shapes);
            int inside = 8 * 16 + 8;
            int per = 16 * 16;
            assertEquals(4 * 0.5f - 0.5f, m[inside], 1e-5f, "circle");
            assertEquals(4 * 1.5f - 0.5f, m[per + inside], 1e-5f, "square");
            assertEquals(4 * 1f - 0.5f, m[2 * per + inside], 1e-5f, "triangle");
            for (int i = 0; i < 3; i++) {
                assertEquals(-0.5f, m[i * per], 0f, "background of image " + i);
            }
        }
    }
}
