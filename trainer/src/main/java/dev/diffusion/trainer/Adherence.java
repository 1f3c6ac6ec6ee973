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

    /**
     * One held-out prompt: what it asks for (position and background null when the text does not name them),
     * its text, and the seed its image is drawn with.
     */
    public record Prompt(Scene.Shape shape, Scene.Colour colour, Scene.Position position, Scene.Background background,
                         String text, long seed) {}

    /**
     * Per-attribute hit counts over {@code total} images; position and background over the prompts that name
     * them ({@code positionAsked}, {@code backgroundAsked}).
     */
    public record Report(int total, int colour, int position, int positionAsked, int background, int backgroundAsked,
                         int shape, int all) {
        public double colourRate() {
            return colour / (double) total;
        }

        public double positionRate() {
            return position / (double) positionAsked;
        }

        public double backgroundRate() {
            return background / (double) backgroundAsked;
        }

        public double shapeRate() {
            return shape / (double) total;
        }

        public String summary() {
            return String.format("colour %.1f %% (%d/%d), position %.1f %% (%d/%d), background %.1f %% (%d/%d), "
                    + "shape %.1f %% (%d/%d), all asked %.1f %%", 100 * colourRate(), colour, total, 100 * positionRate(),
                    position, positionAsked, 100 * backgroundRate(), background, backgroundAsked, 100 * shapeRate(), shape,
                    total, 100.0 * all / total);
        }
    }

    /**
     * {@code count} prompts with seeded random attributes, cycling through the held-out phrasings; two in five
     * carry a size word.
     */
    public static List<Prompt> heldOutPrompts(int count, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<Prompt> prompts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Scene.Shape s = Scene.pick(rng, Scene.Shape.values());
            Scene.Colour c = Scene.pick(rng, Scene.Colour.values());
            Scene.Position p = Scene.pick(rng, Scene.Position.values());
            Scene.Background b = Scene.pick(rng, Scene.Background.values());
            String size = rng.nextInt(5) < 2 ? Scene.pick(rng, Captions.SIZE_WORDS) : "";
            prompts.add(new Prompt(s, c, Captions.heldOutNamesPosition(i) ? p : null,
                    Captions.heldOutNamesBackground(i) ? b : null, Captions.heldOut(s, c, p, b, i, size), seed + 1000 + i));
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
        return evaluate(pipeline, prompts, base, save, log, null);
    }

    /** As above, also adding each image with its prompt and verdict to {@code sheet} when that is not null. */
    static Report evaluate(StableDiffusionPipeline pipeline, List<Prompt> prompts, GenerationRequest base, Path save,
                           PrintStream log, List<ContactSheet.Tile> sheet) {
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
            if (sheet != null) {
                String seen = a.shape() == null ? name(a.colour()) + " " + a.flaw()
                        : name(a.colour()) + " " + name(a.shape()) + " " + name(a.position()) + " on " + name(a.background());
                sheet.add(new ContactSheet.Tile(img.rgb(), side, p.text(), "seen: " + seen, c && pos && b && s));
            }
            if (log != null) {
                log.printf("%3d %s%s%s%s  \"%s\" -> %s%n", i, c ? "c" : "-", pos ? "p" : "-", b ? "b" : "-", s ? "s" : "-",
                        p.text(), a.describe());
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
            SplittableRandom rng = new SplittableRandom(p.seed());
            Scene scene = Scene.of(p.shape(), p.colour(), p.position() != null ? p.position() : Scene.pick(rng, Scene.Position.values()),
                    p.background() != null ? p.background() : Scene.pick(rng, Scene.Background.values()), rng, side);
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
        private int positionAsked;
        private int background;
        private int backgroundAsked;
        private int shape;
        private int all;

        /** Counts one analysed image of {@code p}; returns the hits: colour, position, background, shape. */
        boolean[] add(Prompt p, ShapeAnalyser.Analysis a) {
            boolean[] hit = {a.colour() == p.colour(), p.position() == null || a.position() == p.position(),
                p.background() == null || a.background() == p.background(), a.shape() == p.shape()};
            total++;
            colour += hit[0] ? 1 : 0;
            positionAsked += p.position() != null ? 1 : 0;
            position += p.position() != null && hit[1] ? 1 : 0;
            backgroundAsked += p.background() != null ? 1 : 0;
            background += p.background() != null && hit[2] ? 1 : 0;
            shape += hit[3] ? 1 : 0;
            all += hit[0] && hit[1] && hit[2] && hit[3] ? 1 : 0;
            return hit;
        }

        Report report() {
            return new Report(total, colour, position, positionAsked, background, backgroundAsked, shape, all);
        }
    }

    private static String name(Enum<?> e) {
        return e == null ? "?" : Scene.word(e);
    }
}
