package dev.diffusion.core.unet;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.diffusion.core.nn.Nn;
import dev.diffusion.core.nn.Precision;
import dev.diffusion.core.nn.Tensors;
import dev.diffusion.core.nn.TfNetwork;
import dev.diffusion.core.weights.MapWeights;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TFloating;

/** Compares ways to run a 3×3 convolution on CPU. Gated like UNetBenchmark. */
class ConvMicroBenchmark {
    @Test
    void compare() {
        assumeTrue(Boolean.getBoolean("unet.benchmark"), "benchmark: pass -Dunet.benchmark=true");
        for (int[] s : new int[][] {{32, 960, 320}, {16, 1920, 640}, {8, 2560, 1280}, {4, 2560, 1280}}) {
            for (Precision p : List.of(Precision.FP32)) {
                for (int mode = 0; mode < 3; mode++) {
                    time(s[0], s[1], s[2], p, mode);
                }
            }
        }
    }

    private static void time(int hw, int cin, int cout, Precision p, int mode) {
        MapWeights w = new MapWeights().put("c.weight", new long[] {cout, cin, 3, 3}, UNetBlocksTest.gaussian(cout * cin * 9, 1));
        final class Net extends TfNetwork {
            final Placeholder<TFloat32> in;
            final Operand<TFloat32> out;

            Net() {
                super(w, p);
                in = nn.tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, cin)));
                Operand<? extends TFloating> k = nn.convWeight("c.weight", cout, cin, 3, 3);
                if (mode == 2) {
                    // the same kernel as a graph constant: lets oneDNN cache its reordered filter
                    float[] hwio = new float[9 * cin * cout];
                    float[] oihw = w.floats("c.weight");
                    for (int o = 0; o < cout; o++) {
                        for (int i = 0; i < cin; i++) {
                            for (int t = 0; t < 9; t++) {
                                hwio[(t * cin + i) * cout + o] = oihw[(o * cin + i) * 9 + t];
                            }
                        }
                    }
                    Operand<TFloat32> c = nn.tf.constant(Shape.of(3, 3, cin, cout),
                            org.tensorflow.ndarray.buffer.DataBuffers.of(hwio, true, false));
                    out = nn.conv2d(in, c, 1, "SAME", null);
                } else {
                    out = mode == 0 ? nn.conv2d(in, k, 1, "SAME", null) : im2col(nn, in, k, cin, cout);
                }
                load();
            }

            Result run(TFloat32 x) {
                return session().runner().feed(in, x).fetch(out).run();
            }
        }
        try (Net net = new Net(); TFloat32 x = Tensors.of(UNetBlocksTest.gaussian(2 * hw * hw * cin, 2), 2, hw, hw, cin)) {
            long best = Long.MAX_VALUE;
            for (int i = 0; i < 6; i++) {
                long start = System.nanoTime();
                try (Result r = net.run(x)) {
                    best = Math.min(best, System.nanoTime() - start);
                }
            }
            double gflop = 2.0 * 2 * hw * hw * cin * cout * 9 / 1e9;
            System.out.printf("%2dx%-2d %4d->%4d %s %-7s best %6.1f ms  %6.1f GFLOP/s%n", hw, hw, cin, cout, p,
                    new String[] {"conv", "im2col", "constK"}[mode], best / 1e6, gflop / (best / 1e9));
        }
    }

    static Operand<TFloat32> im2col(Nn nn, Operand<TFloat32> x, Operand<? extends TFloating> k, int cin, int cout) {
        var tf = nn.tf;
        Operand<TFloat32> patches = tf.image.extractImagePatches(x, List.of(1L, 3L, 3L, 1L), List.of(1L, 1L, 1L, 1L),
                List.of(1L, 1L, 1L, 1L), "SAME");
        Operand<TFloat32> flat = tf.reshape(patches, nn.ints(-1, 9 * cin));
        @SuppressWarnings({"unchecked", "rawtypes"})
        Operand<? extends TFloating> k2 = tf.reshape((Operand) k, nn.ints(9 * cin, cout));
        Operand<TFloat32> y = nn.matmul(flat, k2);
        return tf.reshape(y, nn.shape(nn.dim(x, 0), nn.dim(x, 1), nn.dim(x, 2), nn.ints(cout)));
    }
}
