/* The running background and the difference channel: see background.h. */
#include "reef/background.h"

void reef_background_init(reef_background *bg, uint16_t *mean, uint32_t pixels)
{
    bg->mean = mean;
    bg->pixels = pixels;
    bg->primed = 0;
}

static uint8_t difference(int32_t pixel, int32_t background)
{
    const int32_t d = 128 + 2 * (pixel - background);
    return (uint8_t)(d < 0 ? 0 : d > 255 ? 255 : d);
}

/* out: [frame, difference] per pixel (with_frame) or the difference alone. */
static void step(reef_background *bg, const uint8_t *frame, uint8_t *out, int with_frame)
{
    uint16_t *mean = bg->mean;
    if (!bg->primed) {
        for (uint32_t p = 0; p < bg->pixels; p++) mean[p] = (uint16_t)(frame[p] << 8);
        bg->primed = 1;
    }
    for (uint32_t p = 0; p < bg->pixels; p++) {
        const int32_t m = mean[p], x = (int32_t)frame[p] << 8;
        const uint8_t d = difference(frame[p], (m + 128) >> 8);
        if (with_frame) out[2 * p] = frame[p], out[2 * p + 1] = d;
        else out[p] = d;
        // the mean stays within [0, 255 << 8]: it moves a sixteenth of the way to x, rounding toward m
        mean[p] = (uint16_t)(m + (x - m) / 16);
    }
}

void reef_background_step(reef_background *bg, const uint8_t *frame, uint8_t *out) { step(bg, frame, out, 1); }

void reef_background_difference(reef_background *bg, const uint8_t *frame, uint8_t *out) { step(bg, frame, out, 0); }

void reef_temporal_init(reef_temporal *t, reef_temporal_kind kind, uint16_t *mean, uint8_t *history, uint32_t lag,
                        uint16_t *slow, uint32_t pixels)
{
    reef_background_init(&t->bg, mean, pixels);
    t->kind = kind;
    t->history = history;
    t->lag = lag ? lag : 1;
    t->slot = 0;
    t->slow = slow;
}

/* A firmware that runs one kind (the build defines REEF_TEMPORAL_KIND to the
 * harness's, which also passes it to reef_temporal_init) compiles only that
 * kind's branch: no per-pixel test (fish-nas-2ch on qemu-m4: 396 -> 220 B
 * of code, 5,543 fewer instructions a frame). */
#if defined(REEF_TEMPORAL_KIND)
#define TEMPORAL_IS_LAG(t) (REEF_TEMPORAL_KIND == REEF_TEMPORAL_LAG)
#else
#define TEMPORAL_IS_LAG(t) ((t)->kind == REEF_TEMPORAL_LAG)
#endif

/* The first frame primes every buffer with itself. */
static void temporal_prime(reef_temporal *t, const uint8_t *frame)
{
    const uint32_t pixels = t->bg.pixels;
    if (t->bg.primed) return;
    for (uint32_t p = 0; p < pixels; p++) {
        t->bg.mean[p] = (uint16_t)(frame[p] << 8);
        if (TEMPORAL_IS_LAG(t))
            for (uint32_t k = 0; k < t->lag; k++) t->history[k * pixels + p] = frame[p];
        else t->slow[p] = (uint16_t)(frame[p] << 8);
    }
    t->bg.primed = 1;
}

/* Pixel p's two differences [d, s] (out[0], out[1]), and its buffers moved;
 * back: the lag ring's oldest slot (LAG). The buffers come as arguments, not
 * through t: a byte store (out) may alias t, which would reload them every
 * pixel. Inlined into both loops below. */
static inline void temporal_pixel(int is_lag, uint16_t *mean, uint16_t *slow, uint8_t *back, uint32_t p,
                                  int32_t pixel, uint8_t *out)
{
    const int32_t m = mean[p], x = pixel << 8;
    out[0] = difference(pixel, (m + 128) >> 8);
    if (is_lag) {
        out[1] = difference(pixel, back[p]);
        back[p] = (uint8_t)pixel; /* the oldest slot becomes the newest */
    } else {
        const int32_t q = slow[p];
        out[1] = difference(pixel, (q + 128) >> 8);
        slow[p] = (uint16_t)(q + (x - q) / 128);
    }
    mean[p] = (uint16_t)(m + (x - m) / 16);
}

static void temporal_advance(reef_temporal *t)
{
    if (TEMPORAL_IS_LAG(t)) t->slot = t->slot + 1 == t->lag ? 0 : t->slot + 1;
}

void reef_temporal_step(reef_temporal *t, const uint8_t *frame, uint8_t *out)
{
    const uint32_t pixels = t->bg.pixels;
    uint8_t *back = TEMPORAL_IS_LAG(t) ? t->history + t->slot * pixels : 0; /* the frame lag steps back */
    uint16_t *mean = t->bg.mean, *slow = t->slow;
    const int is_lag = TEMPORAL_IS_LAG(t);
    temporal_prime(t, frame);
    for (uint32_t p = 0; p < pixels; p++) temporal_pixel(is_lag, mean, slow, back, p, frame[p], out + 2 * p);
    temporal_advance(t);
}

/* Pixel p stepped (temporal_pixel), its two differences mapped to the
 * model's int8 input and added to the window's sums. */
static inline void pool2_pixel(int is_lag, uint16_t *mean, uint16_t *slow, uint8_t *back, uint32_t p,
                               int32_t pixel, const int8_t map[2][256], int32_t *sum0, int32_t *sum1)
{
    uint8_t ds[2];
    temporal_pixel(is_lag, mean, slow, back, p, pixel, ds);
    *sum0 += map[0][ds[0]], *sum1 += map[1][ds[1]];
}

/* AVERAGE_POOL_2D's 2x2 rounding (runtime/src/pool.c avgpool_2x2: the sum
 * of four int8 values, rounded, then clamped). */
static inline int8_t pool2_average(int32_t sum, int32_t lo, int32_t hi)
{
    const int32_t v = (sum + (sum > 0 ? 2 : 1)) >> 2;
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

/* ---- SLOW, two pixels at a time --------------------------------------
 * Pixels p and p + 1 (p even) in the two halfword lanes of a word: the
 * frame's two bytes, the two means and the two slow means each one load.
 * Per lane, as temporal_pixel: b = (v + 128) >> 8; d = clamp(128 + 2 (x -
 * b), 0, 255) by USAT16 of 2 (x + 64 - b); v += ((x << 8) - v) / 2^k (C
 * division, toward zero) by the lanes' magnitude |(x << 8) - v| (two
 * USUB16 and a SEL on their GE flags), shifted, then added or taken away
 * with the saturating UQADD16 / UQSUB16 (which leave the GE flags alone
 * and never saturate here: the result lies between v and x << 8) and
 * picked by the same flags. r64-c8e2's stream on qemu-m4: 924,394 ->
 * 910,509 instructions a frame (13.6 fewer a window, of ~150), +60 B of
 * code; the constants and pointers do not all fit in registers, so less
 * than the ~40 a window the instruction count alone promised. On the host
 * the instructions are spelled in C, lane by lane, so the host tests run
 * the same scheme. */
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
/* v moved a 2^k-th of the way to xs, per lane; mask: 0xffff >> k per lane */
#define LANES_MOVE(out, v, xs, mask, k)                                              \
    do {                                                                             \
        uint32_t up_, down_;                                                         \
        __asm__("usub16 %[u], %[x], %[val]\n\t"                                        \
                "usub16 %[d], %[val], %[x]\n\t"                                        \
                "sel %[o], %[d], %[u]\n\t"                                           \
                "and %[o], %[m], %[o], lsr #" #k "\n\t"                              \
                "uqadd16 %[u], %[val], %[o]\n\t"                                       \
                "uqsub16 %[d], %[val], %[o]\n\t"                                       \
                "sel %[o], %[d], %[u]\n\t"                                           \
                : [u] "=&r"(up_), [d] "=&r"(down_), [o] "=&r"(out)                   \
                : [x] "r"(xs), [val] "r"(v), [m] "r"(mask)                             \
                : "cc");                                                             \
    } while (0)
static inline uint32_t lanes_high_bytes(uint32_t v)
{
    uint32_t r;
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#define lanes_add(a, b) ((uint32_t)__uadd16(a, b))
static inline uint32_t lanes_diff(uint32_t x64, uint32_t b)
{
    const int16x2_t t = __ssub16((int16x2_t)x64, (int16x2_t)b);
    return (uint32_t)__usat16(__sadd16(t, t), 8);
}
#define lanes_of_bytes(v) ((uint32_t)__uxtb16((v) | (v) << 8))
#else
static uint32_t lane(uint32_t v, int i) { return (v >> (16 * i)) & 0xffffu; }
static uint32_t lanes(uint32_t lo, uint32_t hi) { return (lo & 0xffffu) | (hi & 0xffffu) << 16; }
static uint32_t lanes_add(uint32_t a, uint32_t b) { return lanes(lane(a, 0) + lane(b, 0), lane(a, 1) + lane(b, 1)); }
static uint32_t lanes_high_bytes(uint32_t v) { return lanes(lane(v, 0) >> 8, lane(v, 1) >> 8); }
/* USAT16(2 (x64 - b), 8) on signed lanes */
static uint32_t lanes_diff(uint32_t x64, uint32_t b)
{
    uint32_t r[2];
    for (int i = 0; i < 2; i++) {
        const int32_t t = 2 * (int16_t)(lane(x64, i) - lane(b, i));
        r[i] = (uint32_t)(t < 0 ? 0 : t > 255 ? 255 : t);
    }
    return lanes(r[0], r[1]);
}
static uint32_t lanes_of_bytes(uint32_t v) { return lanes(v & 0xffu, (v >> 8) & 0xffu); }
/* USUB16 x - v and v - x (GE: v >= x), SEL, shift and mask, UQADD16 /
 * UQSUB16, SEL: one lane at a time */
#define LANES_MOVE(out, v, xs, mask, k)                                                        \
    do {                                                                                       \
        uint32_t r_[2];                                                                        \
        for (int i_ = 0; i_ < 2; i_++) {                                                       \
            const uint32_t x_ = lane(xs, i_), v_ = lane(v, i_), ge_ = v_ >= x_;                \
            const uint32_t mag_ = ((ge_ ? v_ - x_ : x_ - v_) & 0xffffu) >> (k) & lane(mask, i_); \
            const int32_t up_ = (int32_t)(v_ + mag_), down_ = (int32_t)v_ - (int32_t)mag_;     \
            r_[i_] = (uint32_t)(ge_ ? (down_ < 0 ? 0 : down_) : (up_ > 65535 ? 65535 : up_));  \
        }                                                                                      \
        (out) = lanes(r_[0], r_[1]);                                                           \
    } while (0)
#endif

/* Two pixels (SLOW): frame[0..1], mean[0..1], slow[0..1] stepped, mapped,
 * added to the window's sums. */
static inline __attribute__((always_inline)) void slow_pair(uint16_t *mean, uint16_t *slow, const uint8_t *frame,
                                                            const int8_t map[2][256], int32_t *sum0, int32_t *sum1)
{
    uint16_t two;
    uint32_t m, q, m1, q1;
    __builtin_memcpy(&two, frame, 2);
    __builtin_memcpy(&m, mean, 4);
    __builtin_memcpy(&q, slow, 4);
    const uint32_t x = lanes_of_bytes(two), xs = x << 8, x64 = lanes_add(x, 0x00400040u);
    const uint32_t d = lanes_diff(x64, lanes_high_bytes(lanes_add(m, 0x00800080u)));
    const uint32_t s = lanes_diff(x64, lanes_high_bytes(lanes_add(q, 0x00800080u)));
    LANES_MOVE(m1, m, xs, 0x0fff0fffu, 4);
    LANES_MOVE(q1, q, xs, 0x01ff01ffu, 7);
    __builtin_memcpy(mean, &m1, 4);
    __builtin_memcpy(slow, &q1, 4);
    *sum0 += map[0][d & 0xffu] + map[0][d >> 16];
    *sum1 += map[1][s & 0xffu] + map[1][s >> 16];
}

/* Each 2x2 window's four pixels stepped, mapped and pooled, window after
 * window along a pair of rows. The four pixels are read (into registers)
 * before the window's two bytes are written, so out may be the frame. The
 * four are spelled out, not looped over an array of corners: r64-c8e2 on
 * qemu-m4 997,955 -> 979,495 instructions a frame (18 fewer a window, of
 * about 183), for 184 B more code; a loop over the two rows saved 8 a
 * window for 62 B. */
void reef_temporal_step_pool2(reef_temporal *t, const uint8_t *frame, uint32_t width, const int8_t map[2][256],
                              int32_t lo, int32_t hi, int8_t *out)
{
    const uint32_t pixels = t->bg.pixels;
    uint8_t *back = TEMPORAL_IS_LAG(t) ? t->history + t->slot * pixels : 0;
    uint16_t *mean = t->bg.mean, *slow = t->slow;
    const int is_lag = TEMPORAL_IS_LAG(t);
    temporal_prime(t, frame);
    if (!is_lag) { /* SLOW: two pixels a lane pair, both windows' rows */
        for (const uint8_t *const end = frame + pixels; frame < end;
             frame += width, mean += width, slow += width)
            for (const uint8_t *const row_end = frame + width; frame < row_end; frame += 2, mean += 2, slow += 2) {
                int32_t sum0 = 0, sum1 = 0;
                slow_pair(mean, slow, frame, map, &sum0, &sum1);
                slow_pair(mean + width, slow + width, frame + width, map, &sum0, &sum1);
                *out++ = pool2_average(sum0, lo, hi);
                *out++ = pool2_average(sum1, lo, hi);
            }
        temporal_advance(t);
        return;
    }
    for (uint32_t top = 0; top < pixels; top += 2 * width)
        for (uint32_t p = top; p < top + width; p += 2) {
            const int32_t a = frame[p], b = frame[p + 1], c = frame[p + width], d = frame[p + width + 1];
            int32_t sum0 = 0, sum1 = 0;
            pool2_pixel(is_lag, mean, slow, back, p, a, map, &sum0, &sum1);
            pool2_pixel(is_lag, mean, slow, back, p + 1, b, map, &sum0, &sum1);
            pool2_pixel(is_lag, mean, slow, back, p + width, c, map, &sum0, &sum1);
            pool2_pixel(is_lag, mean, slow, back, p + width + 1, d, map, &sum0, &sum1);
            *out++ = pool2_average(sum0, lo, hi);
            *out++ = pool2_average(sum1, lo, hi);
        }
    temporal_advance(t);
}
