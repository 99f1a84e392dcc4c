/* The running background (runtime/src/background.c): hand-computed values
 * (first frame, a step up, clamping both ways), and long random clips
 * against an independent reference written with different arithmetic
 * (sign and magnitude instead of C's truncating division; floating point
 * rounding for the background); the difference-only step (in place)
 * against the same reference. */
#include "testing.h"

#include <math.h>

#include "reef/background.h"

static void fill(uint8_t *frame, int n, int value)
{
    for (int i = 0; i < n; i++) frame[i] = (uint8_t)value;
}

static void test_hand_computed(void **state)
{
    (void)state;
    uint16_t mean[4];
    uint8_t frame[4], out[8];
    reef_background bg;
    reef_background_init(&bg, mean, 4);
    // first frame: it is its own background, difference 128
    fill(frame, 4, 100);
    reef_background_step(&bg, frame, out);
    assert_int_equal(out[0], 100);
    assert_int_equal(out[1], 128);
    assert_int_equal(mean[0], 100 << 8);
    // 110 against 100: 128 + 2 * 10; mean 25600 + 2560 / 16 = 25760
    fill(frame, 4, 110);
    reef_background_step(&bg, frame, out);
    assert_int_equal(out[6], 110);
    assert_int_equal(out[7], 148);
    assert_int_equal(mean[3], 25760);
    // 0 against round(25760 / 256) = 101: 128 - 202 clamps to 0; mean 25760 - 1610
    fill(frame, 4, 0);
    reef_background_step(&bg, frame, out);
    assert_int_equal(out[1], 0);
    assert_int_equal(mean[1], 24150);
    // 255 against (24150 + 128) >> 8 = 94: 128 + 322 clamps to 255
    fill(frame, 4, 255);
    reef_background_step(&bg, frame, out);
    assert_int_equal(out[1], 255);
    assert_int_equal(mean[2], 24150 + (65280 - 24150) / 16);
    // a new init starts over: the next frame primes it again
    reef_background_init(&bg, mean, 4);
    fill(frame, 4, 7);
    reef_background_step(&bg, frame, out);
    assert_int_equal(out[1], 128);
    assert_int_equal(mean[0], 7 << 8);
}

static uint32_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* The reference: mean as a long, the sixteenth by magnitude, the
 * background as floor(mean / 256 + 0.5). */
static void reference_step(long *mean, int primed, const uint8_t *frame, uint8_t *out, int n)
{
    for (int p = 0; p < n; p++) {
        if (!primed) mean[p] = (long)frame[p] * 256;
        const long b = (long)floor((double)mean[p] / 256.0 + 0.5);
        long d = 128 + 2 * ((long)frame[p] - b);
        out[2 * p] = frame[p];
        out[2 * p + 1] = (uint8_t)(d < 0 ? 0 : d > 255 ? 255 : d);
        const long delta = (long)frame[p] * 256 - mean[p];
        mean[p] += delta >= 0 ? delta / 16 : -((-delta) / 16);
    }
}

static void test_random_clips(void **state)
{
    (void)state;
    enum { N = 1024, FRAMES = 300 };
    static uint16_t mean[N], mean_diff[N];
    static long ref_mean[N];
    static uint8_t frame[N], out[2 * N], want[2 * N];
    uint64_t rng = 11;
    for (int clip = 0; clip < 4; clip++) {
        reef_background bg;
        reef_background_init(&bg, mean, N);
        reef_background bg_diff;
        reef_background_init(&bg_diff, mean_diff, N);
        uint8_t scene[N];
        for (int p = 0; p < N; p++) scene[p] = (uint8_t)next_rand(&rng);
        for (int f = 0; f < FRAMES; f++) {
            // a still scene with noise, a moving bright blob, and now and then a jump (full scale)
            const int jump = next_rand(&rng) % 50 == 0;
            for (int p = 0; p < N; p++) {
                int v = scene[p] + (int)(next_rand(&rng) % 9) - 4;
                if (((p + 3 * f) % 97) < 10) v += 90;
                if (jump) v = (int)(next_rand(&rng) & 255);
                frame[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
            uint8_t diff[N];
            memcpy(diff, frame, N);
            reef_background_difference(&bg_diff, diff, diff); /* in place, the firmware's way */
            reef_background_step(&bg, frame, out);
            reference_step(ref_mean, f > 0, frame, want, N);
            assert_memory_equal(out, want, sizeof out);
            for (int p = 0; p < N; p++) assert_int_equal(diff[p], want[2 * p + 1]);
            for (int p = 0; p < N; p++) assert_int_equal(mean[p], ref_mean[p]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_random_clips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
