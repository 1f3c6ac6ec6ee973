package dev.diffusion.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * ScheduledAdam against Adam worked by hand (Kingma &amp; Ba 2015, Algorithm 1) on
 * loss = Σ c_i·w_i²: the gradient of weight i is 2·c_i·w_i, so every step can be computed in
 * doubles here, at rates that change from step to step.
 */
class ScheduledAdamTest {
    private static final double[] C = {1.0, 0.25, 3.0};
    private static final double[] W0 = {1.0, -2.0, 0.5};

    @Test
    void followsHandComputedAdamWithAChangingLearningRate() {
        double[] rates = {0.1, 0.1, 0.05, 0.0, 0.2, 0.01};
        double[] expected = handAdam(rates);
        double[] actual = tensorflowAdam(rates);
        for (int i = 0; i < W0.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5, "weight " + i);
        }
    }

    @Test
    void theFirstStepMovesEachWeightByTheLearningRateAgainstItsGradient() {
        // step 1: m̂ = g, v̂ = g², so the update is lr·g/|g| (ε aside)
        double[] w = tensorflowAdam(new double[] {0.3});
        assertEquals(1.0 - 0.3, w[0], 1e-6);
        assertEquals(-2.0 + 0.3, w[1], 1e-6);
        assertEquals(0.5 - 0.3, w[2], 1e-6);
    }

    @Test
    void aZeroRateLeavesTheWeightsButStillAdvancesTheMoments() {
        // with lr 0 the weights stay; the next step must still see the moments of both gradients
        double[] w = tensorflowAdam(new double[] {0.0, 0.1});
        double[] expected = handAdam(new double[] {0.0, 0.1});
        for (int i = 0; i < W0.length; i++) {
            assertEquals(expected[i], w[i], 1e-6, "weight " + i);
        }
        assertEquals(W0[0] - 0.1, w[0], 1e-3); // same sign of gradient twice: a full-size step
    }

    private static double[] handAdam(double[] rates) {
        double b1 = ScheduledAdam.BETA_ONE;
        double b2 = ScheduledAdam.BETA_TWO;
        double eps = ScheduledAdam.EPSILON;
        double[] w = W0.clone();
        double[] m = new double[w.length];
        double[] v = new double[w.length];
        for (int t = 1; t <= rates.length; t++) {
            for (int i = 0; i < w.length; i++) {
                double g = 2 * C[i] * w[i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                // m̂/√v̂ with the corrections folded into the rate; TensorFlow's kernel puts ε beside √v, not √v̂
                double lrT = rates[t - 1] * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
                w[i] -= lrT * m[i] / (Math.sqrt(v[i]) + eps);
            }
        }
        return w;
    }

    private static double[] tensorflowAdam(double[] rates) {
        try (Graph g = new Graph()) {
            Ops tf = Ops.create(g);
            float[] init = new float[W0.length];
            for (int i = 0; i < init.length; i++) {
                init[i] = (float) W0[i];
            }
            Variable<TFloat32> w = tf.variable(org.tensorflow.ndarray.Shape.of(init.length), TFloat32.class);
            Op assign = tf.assign(w, tf.constant(init));
            // read through Identity: the C API's Square gradient crashes on a variable's reference-typed output
            Operand<TFloat32> loss = tf.reduceSum(tf.math.mul(tf.constant(toFloats(C)), tf.math.square(tf.identity(w))),
                    tf.constant(0));
            ScheduledAdam adam = new ScheduledAdam(g);
            Op minimize = adam.minimize(loss);
            try (Session s = new Session(g)) {
                s.initialize();
                s.runner().addTarget(assign).run();
                for (double rate : rates) {
                    try (TFloat32 lr = TFloat32.scalarOf((float) rate)) {
                        s.runner().feed(adam.learningRate(), lr).addTarget(minimize).run();
                    }
                }
                try (Result r = s.runner().fetch(w).run()) {
                    TFloat32 out = (TFloat32) r.get(0);
                    double[] values = new double[W0.length];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = out.getFloat(i);
                    }
                    return values;
                }
            }
        }
    }

    private static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
