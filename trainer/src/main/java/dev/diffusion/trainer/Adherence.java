package dev.diffusion.trainer;

import dev.diffusion.core.pipeline.GeneratedImage;
import dev.diffusion.core.pipeline.GenerationRequest;
import dev.diffusion.core.pipeline.ProgressListener;
import dev.diffusion.core.pipeline.StableDiffusionPipeline;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Prompt adherence of a model on held-out phrasings: generate one image per prompt through
 * {@link StableDiffusionPipeline} at the command line's defaults (Euler, 20 steps, cfg 7, the
 * model's native size), name what is in it with {@link ShapeAnalyser}, and count, per attribute,
 * how often that is what the prompt asked for.
 */
public final class Adherence {
    private Adherence() {}

    /** One held-out prompt: what it asks for, its text, and the seed its image is drawn with. */
    public record Prompt(Scene.Shape shape, Scene.Colour colour, Scene.Position position, Scene.Background background,
                         String text, long seed) {}

    /** Per-attribute hit counts over {@code total} images. */
    public record Report(int total, int colour, int position, int background, int shape, int all) {
        public double colourRate() {
            return colour / (double) total;
        }

        public double positionRate() {
            return position / (double) total;
        }

        public double backgroundRate() {
            return background / (double) total;
        }

        public double shapeRate() {
            return shape / (double) total;
        }

        public String summary() {
            return String.format("colour %.1f %% (%d/%d), position %.1f %% (%d/%d), background %.1f %% (%d/%d), "
                    + "shape %.1f %% (%d/%d), all four %.1f %%", 100 * colourRate(), colour, total, 100 * positionRate(),
                    position, total, 100 * backgroundRate(), background, total, 100 * shapeRate(), shape, total,
                    100.0 * all / total);
        }
    }

    /** {@code count} prompts with seeded random attributes, cycling through the held-out phrasings. */
    public static List<Prompt> heldOutPrompts(int count, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<Prompt> prompts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Scene.Shape s = Scene.pick(rng, Scene.Shape.values());
            Scene.Colour c = Scene.pick(rng, Scene.Colour.values());
            Scene.Position p = Scene.pick(rng, Scene.Position.values());
            Scene.Background b = Scene.pick(rng, Scene.Background.values());
            prompts.add(new Prompt(s, c, p, b, Captions.heldOut(s, c, p, b, i), seed + 1000 + i));
        }
        return prompts;
    }

    /**
     * @param base   sampler, steps and cfg to use (prompt, seed and size are set per image)
     * @param save   folder to write each image into, or null
     * @param log    one line per image, or null
     */
    public static Report evaluate(StableDiffusionPipeline pipeline, List<Prompt> prompts, GenerationRequest base, Path save,
                                  PrintStream log) {
        int side = pipeline.nativeImageSize();
        Tally tally = new Tally();
        for (int i = 0; i < prompts.size(); i++) {
            Prompt p = prompts.get(i);
            GenerationRequest r = new GenerationRequest(p.text(), base.negativePrompt(), side, side, base.steps(),
                    base.sampler(), base.scheduler(), base.cfgScale(), p.seed(), 1, base.clipSkip(), base.rng());
            GeneratedImage img = pipeline.generate(r, ProgressListener.NONE).get(0);
            ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(img.rgb(), side, side);
            boolean[] hit = tally.add(p, a);
            boolean c = hit[0];
            boolean pos = hit[1];
            boolean b = hit[2];
            boolean s = hit[3];
            if (save != null) {
                try {
                    Files.createDirectories(save);
                    Files.write(save.resolve(String.format("%03d.png", i)), img.png());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
            if (log != null) {
                log.printf("%3d %s%s%s%s  \"%s\" -> %s %s %s on %s (fill %.2f, top %.2f)%n", i, c ? "c" : "-", pos ? "p" : "-",
                        b ? "b" : "-", s ? "s" : "-", p.text(), name(a.colour()), name(a.shape()), name(a.position()),
                        name(a.background()), a.fill(), a.topShare());
            }
        }
        return tally.report();
    }

    /**
     * The ceiling the VAE sets: drawn scenes of the held-out prompts' attributes, encoded and decoded
     * (latent mode) by the model's VAE, then analysed.
     */
    public static Report reconstructions(dev.diffusion.core.vae.AutoencoderKL vae, List<Prompt> prompts, int side, Path save) {
        Tally tally = new Tally();
        for (Prompt p : prompts) {
            Scene scene = Scene.of(p.shape(), p.colour(), p.position(), p.background(), new SplittableRandom(p.seed()), side);
            float[] pixels = new float[side * side * 3];
            Scene.toUnit(scene.render(), pixels, 0);
            var moments = vae.encode(pixels, 1, side, side);
            float[] latents = moments.mode(vae.config().scalingFactor(), vae.config().shiftFactor());
            int l = side / vae.config().downscale();
            byte[] rgb = dev.diffusion.core.vae.AutoencoderKL.toRgb8(vae.decode(latents, 1, l, l));
            if (save != null) {
                try {
                    Files.createDirectories(save);
                    Files.write(save.resolve(String.format("%03d.png", prompts.indexOf(p))),
                            dev.diffusion.core.image.Png.encodeRgb(side, side, rgb, java.util.Map.of()));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
            ShapeAnalyser.Analysis a = ShapeAnalyser.analyse(rgb, side, side);
            tally.add(p, a);
        }
        return tally.report();
    }

    /** Per-attribute hit counts, an image at a time. */
    private static final class Tally {
        private int total;
        private int colour;
        private int position;
        private int background;
        private int shape;
        private int all;

        /** Counts one analysed image of {@code p}; returns the hits: colour, position, background, shape. */
        boolean[] add(Prompt p, ShapeAnalyser.Analysis a) {
            boolean[] hit = {a.colour() == p.colour(), a.position() == p.position(), a.background() == p.background(),
                a.shape() == p.shape()};
            total++;
            colour += hit[0] ? 1 : 0;
            position += hit[1] ? 1 : 0;
            background += hit[2] ? 1 : 0;
            shape += hit[3] ? 1 : 0;
            all += hit[0] && hit[1] && hit[2] && hit[3] ? 1 : 0;
            return hit;
        }

        Report report() {
            return new Report(total, colour, position, background, shape, all);
        }
    }

    private static String name(Enum<?> e) {
        return e == null ? "?" : Scene.word(e);
    }
}
