package dev.diffusion.core.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Per-job state: noise continuation, batches, resume from a snapshot, interleaved jobs. */
class SamplerStateTest {
    private static final NoiseSchedule SD = NoiseSchedule.sd15();
    private static final LatentShape SHAPE = LatentShape.nchw(1, 4, 8, 8);

    /** A deterministic stand-in for a U-Net: a fixed function of (input, t), the same for each 4x8x8 image. */
    private static final Loops.Eps TOY = (x, t) -> {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) (0.9 * x[i] + 0.1 * Math.sin(i % 256 + t / 100.0));
        }
        return out;
    };

    @Test
    void ancestralNoiseContinuesThePhiloxStreamAfterTheInitialNoise() {
        SamplingLoop loop = Loops.of("Euler a", 5, SchedulerConfig.sd15());
        SamplerState state = loop.start(RngKind.PHILOX, 42, SHAPE);
        float[] initial = new PhiloxGenerator(42).randn(SHAPE.size());
        for (int i = 0; i < initial.length; i++) {
            initial[i] *= (float) loop.schedule().initNoiseSigma();
        }
        assertArrayEquals(initial, state.x());
        assertArrayEquals(new PhiloxGenerator(42, 1).randn(SHAPE.size()), state.nextNoise());
        assertEquals(2, state.snapshot().rngPositions()[0]);
    }

    @Test
    void nhwcStateGetsTheSameNoiseTransposed() {
        SamplerState nchw = SamplerState.create(RngKind.PHILOX, 7, LatentShape.nchw(2, 4, 3, 5));
        SamplerState nhwc = SamplerState.create(RngKind.PHILOX, 7, LatentShape.nhwc(2, 4, 3, 5));
        for (int draw = 0; draw < 2; draw++) {
            assertArrayEquals(SeededNoise.nchwToNhwc(nchw.nextNoise(), 2, 4, 3, 5), nhwc.nextNoise());
        }
        assertArrayEquals(SeededNoise.initialNoiseNhwc(RngKind.PHILOX, 7, 2, 4, 3, 5),
                SamplerState.create(RngKind.PHILOX, 7, LatentShape.nhwc(2, 4, 3, 5)).nextNoise());
    }

    @Test
    void aResumedJobFinishesExactlyAsAnUninterruptedOne() throws Exception {
        for (String name : new String[] {"Euler a", "DPM++ 2M Karras", "DDPM", "Euler"}) {
            for (RngKind rng : RngKind.values()) {
                SamplingLoop loop = Loops.of(name, 8, SchedulerConfig.sd15());
                float[] whole = Loops.run(loop, TOY, loop.start(rng, 5, SHAPE));

                SamplerState first = loop.start(rng, 5, SHAPE);
                for (int i = 0; i < 3; i++) {
                    loop.advance(first, TOY.predict(loop.modelInput(first), (float) loop.timestep(first)));
                }
                SamplerState.Snapshot snap = roundTrip(first.snapshot());
                assertEquals(3, snap.stepIndex());
                SamplerState resumed = SamplerState.restore(snap);
                float[] out = Loops.run(loop, TOY, resumed);
                assertArrayEquals(whole, out, name + " " + rng);
            }
        }
    }

    @Test
    void dpmpp2mRemembersThePreviousDenoised() {
        SamplingLoop loop = Loops.of("DPM++ 2M", 4, SchedulerConfig.sd15());
        SamplerState state = loop.start(RngKind.PHILOX, 1, SHAPE);
        assertNull(state.snapshot().previousDenoised());
        float[] denoised = loop.advance(state, TOY.predict(loop.modelInput(state), (float) loop.timestep(state)));
        assertArrayEquals(denoised, state.snapshot().previousDenoised());
        assertEquals(loop.schedule().sigma(0), state.previousSigma());
    }

    @Test
    void interleavedJobsDoNotDisturbEachOther() {
        SamplingLoop loop = Loops.of("Euler a", 6, SchedulerConfig.sd15());
        List<float[]> alone = new ArrayList<>();
        for (long seed = 0; seed < 4; seed++) {
            alone.add(Loops.run(loop, TOY, loop.start(RngKind.PHILOX, seed, SHAPE)));
        }
        List<SamplerState> jobs = new ArrayList<>();
        for (long seed = 0; seed < 4; seed++) {
            jobs.add(loop.start(RngKind.PHILOX, seed, SHAPE));
        }
        while (!loop.done(jobs.get(0))) {
            for (SamplerState job : jobs) {
                loop.advance(job, TOY.predict(loop.modelInput(job), (float) loop.timestep(job)));
            }
        }
        for (int j = 0; j < 4; j++) {
            assertArrayEquals(alone.get(j), loop.output(jobs.get(j)));
        }
        assertThrows(IllegalStateException.class, () -> loop.timestep(jobs.get(0)));
    }

    @Test
    void aBatchIsItsImagesRunAlone() {
        // Image i of a batch uses seed + i, for the initial noise and for every ancestral draw.
        SamplingLoop loop = Loops.of("Euler a", 5, SchedulerConfig.sd15());
        float[] batch = Loops.run(loop, TOY, loop.start(RngKind.PHILOX, 100, LatentShape.nhwc(3, 4, 8, 8)));
        for (int b = 0; b < 3; b++) {
            float[] one = Loops.run(loop, TOY, loop.start(RngKind.PHILOX, 100 + b, LatentShape.nhwc(1, 4, 8, 8)));
            assertArrayEquals(one, Arrays.copyOfRange(batch, b * 256, (b + 1) * 256));
        }
    }

    @Test
    void callbackSeesEveryStep() {
        SamplingLoop loop = Loops.of("Euler", 5, SchedulerConfig.sd15());
        List<Integer> seen = new ArrayList<>();
        Loops.run(loop, TOY, loop.start(RngKind.PHILOX, 1, SHAPE), new GuidedSampling.Observer() {
            @Override
            public void onStep(GuidedSampling.Step s) {
                assertEquals(5, s.total());
                assertEquals(SHAPE.size(), s.denoised().length);
                seen.add(s.number());
            }
        });
        assertEquals(List.of(1, 2, 3, 4, 5), seen);
    }

    private static SamplerState.Snapshot roundTrip(SamplerState.Snapshot s) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(s);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            SamplerState.Snapshot back = (SamplerState.Snapshot) in.readObject();
            assertEquals(s, back);
        }
        // And as JSON, for job stores that keep text.
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        SamplerState.Snapshot back = json.readValue(json.writeValueAsString(s), SamplerState.Snapshot.class);
        assertEquals(s, back);
        return back;
    }
}
