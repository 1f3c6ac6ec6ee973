package dev.diffusion.core.weights;

import java.util.Arrays;

/** Name, stored dtype (F32, F16, BF16) and PyTorch shape of one tensor. */
public record TensorInfo(String name, String dtype, long[] shape) {

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape);
    }
}
