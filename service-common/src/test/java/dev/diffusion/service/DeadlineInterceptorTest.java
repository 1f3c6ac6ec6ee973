package dev.diffusion.service;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DeadlineInterceptorTest {
    @Test
    void grpcTimeoutUnits() {
        assertEquals(2L * 3600 * 1_000_000_000L, DeadlineInterceptor.parseTimeoutNanos("2H"));
        assertEquals(3L * 60 * 1_000_000_000L, DeadlineInterceptor.parseTimeoutNanos("3M"));
        assertEquals(59_999_000_000L, DeadlineInterceptor.parseTimeoutNanos("59999m"));
        assertEquals(99_999_999_000L, DeadlineInterceptor.parseTimeoutNanos("99999999u"));
        assertEquals(5L, DeadlineInterceptor.parseTimeoutNanos("5n"));
        assertEquals(1_000_000_000L, DeadlineInterceptor.parseTimeoutNanos("1S"));
    }

    @Test
    void malformedMeansNoDeadline() {
        assertEquals(-1, DeadlineInterceptor.parseTimeoutNanos("S"));
        assertEquals(-1, DeadlineInterceptor.parseTimeoutNanos("123456789S")); // 9 digits: above the spec's 8
        assertEquals(-1, DeadlineInterceptor.parseTimeoutNanos("10x"));
        assertEquals(-1, DeadlineInterceptor.parseTimeoutNanos("-5m"));
        assertEquals(-1, DeadlineInterceptor.parseTimeoutNanos("1.5S"));
    }
}
