/* The running background (runtime/src/background.c): hand-computed values
 * (first frame, a step up, clamping both ways), and long random clips
 * against an independent reference written with different arithmetic
 * (sign and magnitude instead of C's truncating division; floating point
 * rounding for the background); the difference-only step (in place)
 * against the same reference. The temporal step (a second channel: the
 * difference to the previous frame, or to a slower background): a hand-made
 * sequence, and random clips against the same kind of reference, with the
 * frame read from the second half of the output as the firmware does. The
 * step fused with a 2x2 average pool (reef_temporal_step_pool2; every other
 * frame in place over its frame, as the harness runs it) against the
 * unfused chain the firmware ran before: step, map through the input
 * tables, reef_avgpool_s8; outputs and every buffer equal, both kinds. */
#include "testing.h"

#include <math.h>

#include "reef/background.h"
#include "reef/pool.h"

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

static uint8_t clamp_difference(long p, long b)
{
    const long d = 128 + 2 * (p - b);
    return (uint8_t)(d < 0 ? 0 : d > 255 ? 255 : d);
}

static long toward_zero(long delta, long rate) { return delta >= 0 ? delta / rate : -((-delta) / rate); }

/* A clip's next frame: a still scene with noise (+-4), a bright blob of
 * width `width` every `period` pixels moving `speed` a frame, and one
 * frame in `jump_every` (on average) replaced by noise at full scale. */
typedef struct clip_motion {
    int speed, period, width, bump, jump_every;
} clip_motion;

static void next_frame(uint8_t *frame, const uint8_t *scene, int n, int f, const clip_motion *m, uint64_t *rng)
{
    const int jump = next_rand(rng) % (uint32_t)m->jump_every == 0;
    for (int p = 0; p < n; p++) {
        int v = scene[p] + (int)(next_rand(rng) % 9) - 4;
        if (((p + m->speed * f) % m->period) < m->width) v += m->bump;
        if (jump) v = (int)(next_rand(rng) & 255);
        frame[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* The reference: mean as a long, the sixteenth by magnitude, the
 * background as floor(mean / 256 + 0.5). */
static void reference_step(long *mean, int primed, const uint8_t *frame, uint8_t *out, int n)
{
    for (int p = 0; p < n; p++) {
        if (!primed) mean[p] = (long)frame[p] * 256;
        const long b = (long)floor((double)mean[p] / 256.0 + 0.5);
        out[2 * p] = frame[p];
        out[2 * p + 1] = clamp_difference(frame[p], b);
        mean[p] += toward_zero((long)frame[p] * 256 - mean[p], 16);
    }
}

static void test_random_clips(void **state)
{
    (void)state;
    enum { N = 1024, FRAMES = 300 };
    static uint16_t mean[N], mean_diff[N];
    static long ref_mean[N];
    static uint8_t frame[N], out[2 * N], want[2 * N];
    const clip_motion motion = {.speed = 3, .period = 97, .width = 10, .bump = 90, .jump_every = 50};
    uint64_t rng = 11;
    for (int clip = 0; clip < 4; clip++) {
        reef_background bg;
        reef_background_init(&bg, mean, N);
        reef_background bg_diff;
        reef_background_init(&bg_diff, mean_diff, N);
        uint8_t scene[N];
        for (int p = 0; p < N; p++) scene[p] = (uint8_t)next_rand(&rng);
        for (int f = 0; f < FRAMES; f++) {
            next_frame(frame, scene, N, f, &motion, &rng);
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

/* 100, 110, 0, 60 in every pixel: d is the step above's; s by hand. */
static void test_temporal_hand_computed(void **state)
{
    (void)state;
    uint16_t mean[3], slow[3];
    uint8_t previous[3], frame[3], out[6];
    const int values[4] = {100, 110, 0, 60};
    const int want_d[4] = {128, 148, 0, 60};
    // previous frame: 128, 128 + 2 * 10, 128 - 220 clamps to 0, 128 + 2 * 60
    const int want_previous[4] = {128, 148, 0, 248};
    // slow: 25600 -> 25600 + 2560 / 128 = 25620 -> 25620 - 25620 / 128 = 25420 (its
    // background 100: 128 - 200 clamps to 0) -> background (25420 + 128) >> 8 = 99:
    // 128 + 2 (60 - 99) = 50, and 25420 + (15360 - 25420) / 128 = 25420 - 78
    const int want_slow[4] = {128, 148, 0, 50}, want_slow_mean[4] = {25600, 25620, 25420, 25342};
    reef_temporal tp, ts;
    reef_temporal_init(&tp, REEF_TEMPORAL_LAG, mean, previous, 1, NULL, 3);
    for (int f = 0; f < 4; f++) {
        fill(frame, 3, values[f]);
        reef_temporal_step(&tp, frame, out);
        assert_int_equal(out[0], want_d[f]);
        assert_int_equal(out[5], want_previous[f]);
        assert_int_equal(previous[1], values[f]);
    }
    reef_temporal_init(&ts, REEF_TEMPORAL_SLOW, mean, NULL, 0, slow, 3);
    for (int f = 0; f < 4; f++) {
        fill(frame, 3, values[f]);
        reef_temporal_step(&ts, frame, out);
        assert_int_equal(out[2], want_d[f]);
        assert_int_equal(out[1], want_slow[f]);
        assert_int_equal(slow[2], want_slow_mean[f]);
    }
    // a new init starts over
    reef_temporal_init(&tp, REEF_TEMPORAL_LAG, mean, previous, 1, NULL, 3);
    fill(frame, 3, 7);
    reef_temporal_step(&tp, frame, out);
    assert_int_equal(out[0], 128);
    assert_int_equal(out[1], 128);
    // lag 2 over 100, 110, 0, 60: the first frame until there are two behind,
    // so 128, 128 + 20, 128 - 200 clamps to 0, 128 + 2 (60 - 110) = 28
    uint8_t history[2 * 3];
    const int want_lag2[4] = {128, 148, 0, 28};
    reef_temporal_init(&tp, REEF_TEMPORAL_LAG, mean, history, 2, NULL, 3);
    for (int f = 0; f < 4; f++) {
        fill(frame, 3, values[f]);
        reef_temporal_step(&tp, frame, out);
        assert_int_equal(out[0], want_d[f]);
        assert_int_equal(out[3], want_lag2[f]);
    }
}

/* Random clips (a still scene, noise, a moving blob, jumps): both kinds (lag 4)
 * against a reference in longs and floating-point rounding, with the frame
 * written into out's second half first (in place, as the firmware reads). */
static void test_temporal_random_clips(void **state)
{
    (void)state;
    enum { N = 1024, FRAMES = 200 };
    static uint16_t mean_p[N], mean_s[N], slow[N];
    enum { LAG = 4 };
    static uint8_t previous[LAG * N], frame[N], out_p[2 * N], out_s[2 * N];
    static long ref_mean[N], ref_slow[N], ref_back[FRAMES][N];
    const clip_motion motion = {.speed = 5, .period = 89, .width = 8, .bump = 100, .jump_every = 40};
    uint64_t rng = 5;
    for (int clip = 0; clip < 3; clip++) {
        reef_temporal tp, ts;
        reef_temporal_init(&tp, REEF_TEMPORAL_LAG, mean_p, previous, LAG, NULL, N);
        reef_temporal_init(&ts, REEF_TEMPORAL_SLOW, mean_s, NULL, 0, slow, N);
        uint8_t scene[N];
        for (int p = 0; p < N; p++) scene[p] = (uint8_t)next_rand(&rng);
        for (int f = 0; f < FRAMES; f++) {
            next_frame(frame, scene, N, f, &motion, &rng);
            memcpy(out_p + N, frame, N);
            memcpy(out_s + N, frame, N);
            reef_temporal_step(&tp, out_p + N, out_p);
            reef_temporal_step(&ts, out_s + N, out_s);
            for (int p = 0; p < N; p++) {
                if (f == 0) ref_mean[p] = ref_slow[p] = frame[p] * 256L;
                ref_back[f][p] = frame[p];
                const long back = ref_back[f >= LAG ? f - LAG : 0][p]; // the first frame until LAG are behind
                const long b = (long)floor((double)ref_mean[p] / 256.0 + 0.5);
                const long q = (long)floor((double)ref_slow[p] / 256.0 + 0.5);
                assert_int_equal(out_p[2 * p], clamp_difference(frame[p], b));
                assert_int_equal(out_s[2 * p], clamp_difference(frame[p], b));
                assert_int_equal(out_p[2 * p + 1], clamp_difference(frame[p], back));
                assert_int_equal(out_s[2 * p + 1], clamp_difference(frame[p], q));
                ref_mean[p] += toward_zero(frame[p] * 256L - ref_mean[p], 16);
                ref_slow[p] += toward_zero(frame[p] * 256L - ref_slow[p], 128);
                assert_int_equal(slow[p], ref_slow[p]);
            }
        }
    }
}


/* One frame through the unfused chain: the temporal step, each byte mapped
 * through its channel's table, the runtime's own 2x2 average pool. */
static void unfused_pool2(reef_temporal *t, const uint8_t *frame, int h, int w, const int8_t map[2][256],
                          int32_t lo, int32_t hi, uint8_t *bytes, int8_t *pooled)
{
    const int pixels = h * w;
    memcpy(bytes + pixels, frame, (size_t)pixels);
    reef_temporal_step(t, bytes + pixels, bytes);
    for (int i = 0; i < 2 * pixels; i++) bytes[i] = (uint8_t)map[i & 1][bytes[i]];
    const reef_pool_params params = {.stride = {2, 2}, .padding = {0, 0}, .activation = {lo, hi}};
    const reef_dims in = {1, h, w, 2}, out = {1, h / 2, w / 2, 2};
    const reef_hw window = {2, 2};
    const reef_context ctx = {0, 0};
    assert_int_equal(reef_avgpool_s8(&ctx, &params, &in, (const int8_t *)bytes, &window, &out, pooled), REEF_OK);
}

static void test_temporal_pool2_matches_unfused(void **state)
{
    (void)state;
    enum { H = 16, W = 24, N = H * W, LAG = 2 };
    const int frames = testing_sanitizer_run() ? 20 : 80;
    static uint16_t mean_a[N], mean_b[N], slow_a[N], slow_b[N];
    static uint8_t hist_a[LAG * N], hist_b[LAG * N], frame[N], bytes[2 * N], scene[N], in_place[N];
    static int8_t map[2][256], pooled_a[N / 2], pooled_b[N / 2];
    const clip_motion motion = {.speed = 3, .period = 41, .width = 5, .bump = 90, .jump_every = 25};
    uint64_t rng = 11;
    int checked = 0;
    for (int clip = 0; clip < 4; clip++) {
        const reef_temporal_kind kind = clip & 1 ? REEF_TEMPORAL_LAG : REEF_TEMPORAL_SLOW;
        /* clips 0-1: an identity-like map and the full range; 2-3: random
         * tables and a clamp that bites on both sides */
        const int32_t lo = clip < 2 ? -128 : -90, hi = clip < 2 ? 127 : 60;
        for (int c = 0; c < 2; c++)
            for (int v = 0; v < 256; v++)
                map[c][v] = (int8_t)(clip < 2 ? v - 128 : (int)(next_rand(&rng) & 255) - 128);
        reef_temporal a, b;
        reef_temporal_init(&a, kind, mean_a, hist_a, LAG, slow_a, N);
        reef_temporal_init(&b, kind, mean_b, hist_b, LAG, slow_b, N);
        for (int p = 0; p < N; p++) scene[p] = (uint8_t)next_rand(&rng);
        for (int f = 0; f < frames; f++) {
            next_frame(frame, scene, N, f, &motion, &rng);
            unfused_pool2(&a, frame, H, W, (const int8_t(*)[256])map, lo, hi, bytes, pooled_a);
            if (f & 1) { /* in place, as the harness runs it (REEF_MODEL_POOL2_IN_PLACE) */
                memcpy(in_place, frame, N);
                reef_temporal_step_pool2(&b, in_place, W, (const int8_t(*)[256])map, lo, hi, (int8_t *)in_place);
                memcpy(pooled_b, in_place, N / 2);
            } else
                reef_temporal_step_pool2(&b, frame, W, (const int8_t(*)[256])map, lo, hi, pooled_b);
            assert_memory_equal(pooled_a, pooled_b, N / 2);
            assert_memory_equal(mean_a, mean_b, sizeof mean_a);
            if (kind == REEF_TEMPORAL_SLOW) assert_memory_equal(slow_a, slow_b, sizeof slow_a);
            else assert_memory_equal(hist_a, hist_b, sizeof hist_a), assert_int_equal(a.slot, b.slot);
            checked++;
        }
    }
    assert_int_equal(checked, 4 * frames);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_random_clips),
        cmocka_unit_test(test_temporal_hand_computed),
        cmocka_unit_test(test_temporal_random_clips),
        cmocka_unit_test(test_temporal_pool2_matches_unfused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
