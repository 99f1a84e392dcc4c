/* Fast requantization for the fast kernels (internal): TFLite's
 * MultiplyByQuantizedMultiplier, bit-exact for every int32 accumulator,
 * as two SMLALs and a shift on the M4 when the shift s is a right shift
 * (r = -s >= 1). With y = acc * M (64-bit) and neg = [acc < 0]:
 *
 *   x = SaturatingRoundingDoublingHighMul(acc, M) = floor((y + 2^30) / 2^31)
 *   RoundingDivideByPOT(x, r) = floor((x + 2^(r-1) - [x < 0]) / 2^r)
 *                             = floor((y + 2^30 + 2^(30+r) - neg * 2^31) / 2^(31+r))
 *
 * (floors of floors merge; [x < 0] may be replaced by neg because for y in
 * [-2^30, 0) both give 0 when r >= 1). The 64-bit numerator is a per-channel
 * constant C plus y plus neg * INT32_MIN, and the result is its high word
 * shifted right by r - 1. A zero multiplier gives 0 whatever the shift.
 * Channels with a left shift (s >= 0, M != 0) make reef_rq_init return 0
 * and the kernel falls back to the scalar reference. */
#ifndef REEF_RT_RQ_H
#define REEF_RT_RQ_H

#include <stdint.h>

#include "dsp.h"

/* One output channel's constants (reef_rq_store2's assembly reads them by byte offset:
 * mult 4, c_lo 8, c_hi 12, post 16). */
typedef struct reef_rq {
    int32_t bias;   /* added to the raw sum (with a folded input offset, if any) */
    int32_t mult;   /* Q31 multiplier */
    uint32_t c_lo;  /* C = 2^30 + 2^(30+r), low and high words */
    int32_t c_hi;
    int32_t post;   /* r - 1 */
} reef_rq;

/* Fills q; returns 1 when the fast path is exact for this channel. */
static inline int reef_rq_init(reef_rq *q, int32_t bias, int32_t mult, int32_t shift)
{
    const int32_t r = mult == 0 || shift >= 0 ? 1 : -shift;
    q->bias = bias;
    q->mult = mult;
    q->c_lo = r == 1 ? 0xc0000000u : 0x40000000u;
    q->c_hi = r >= 2 ? (int32_t)(1u << (r - 2)) : 0;
    q->post = r - 1;
    return mult == 0 || (shift < 0 && shift >= -31);
}

/* The accumulator (bias included) -> the requantized value before the
 * output offset. */
#if defined(__ARM_FEATURE_DSP)
static inline int32_t reef_rq_scale(int32_t acc, const reef_rq *q)
{
    uint32_t lo = q->c_lo;
    int32_t hi = q->c_hi;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(q->mult));
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"((uint32_t)acc >> 31), "r"(INT32_MIN));
    return hi >> q->post;
}
#else
static inline int32_t reef_rq_scale(int32_t acc, const reef_rq *q)
{
    const int64_t c = (int64_t)(((uint64_t)(uint32_t)q->c_hi << 32) | q->c_lo);
    const int64_t y = c + (int64_t)acc * q->mult - (acc < 0 ? (int64_t)1 << 31 : 0);
    return (int32_t)(y >> 32) >> q->post;
}
#endif

/* sum (without the bias) -> the requantized value before the output
 * offset. */
static inline int32_t reef_rq_apply(int32_t sum, const reef_rq *q)
{
    return reef_rq_scale((int32_t)((uint32_t)sum + (uint32_t)q->bias), q);
}

/* Two sums of one channel, its constants read once. */
static inline void reef_rq_apply2(int32_t sum0, int32_t sum1, const reef_rq *q, int32_t *v0,
                                  int32_t *v1)
{
    reef_rq c = *q;
    *v0 = reef_rq_apply(sum0, &c);
    *v1 = reef_rq_apply(sum1, &c);
}

/* reef_rq_apply2 plus the output offset, clamped to [-128, 127]. */
static inline void reef_rq_s8_plain2(int32_t sum0, int32_t sum1, const reef_rq *q,
                                     int32_t output_offset, int8_t v[2])
{
    int32_t a, b;
    reef_rq_apply2(sum0, sum1, q, &a, &b);
    v[0] = (int8_t)reef_ssat8(a + output_offset);
    v[1] = (int8_t)reef_ssat8(b + output_offset);
}

/* reef_rq_apply2 plus the output offset, clamped to [act_min, act_max]. */
static inline void reef_rq_s8_clamp2(int32_t sum0, int32_t sum1, const reef_rq *q,
                                     int32_t output_offset, int32_t act_min, int32_t act_max,
                                     int8_t v[2])
{
    int32_t a, b;
    reef_rq_apply2(sum0, sum1, q, &a, &b);
    a += output_offset;
    b += output_offset;
    a = a < act_min ? act_min : (a > act_max ? act_max : a);
    b = b < act_min ? act_min : (b > act_max ? act_max : b);
    v[0] = (int8_t)a;
    v[1] = (int8_t)b;
}

/* The same plus the output offset, clamped to [-128, 127] (the
 * activation range of most layers: ReLU is folded into the zero point). */
static inline int8_t reef_rq_s8_plain(int32_t sum, const reef_rq *q, int32_t output_offset)
{
    return (int8_t)reef_ssat8(reef_rq_apply(sum, q) + output_offset);
}

/* The same plus the output offset, clamped to [act_min, act_max]. */
static inline int8_t reef_rq_s8(int32_t sum, const reef_rq *q, int32_t output_offset,
                                int32_t act_min, int32_t act_max)
{
    int32_t v = reef_rq_apply(sum, q) + output_offset;
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

#if defined(REEF_ASM_LOOPS)
/* One requantized value of reef_rq_store2: acc (clobbered) with the
 * channel's constants into %[h], before the clamp. */
#define REEF_RQ_ONE(acc)                                                       \
    "ldrd %[l], %[h], [%[q], #8]\n\t"                                          \
    "smlal %[l], %[h], %[" acc "], %[mult]\n\t"                                \
    "lsr %[" acc "], %[" acc "], #31\n\t"                                      \
    "smlal %[l], %[h], %[" acc "], %[min]\n\t"                                 \
    "asr %[h], %[h], %[post]\n\t"                                              \
    "add %[h], %[h], %[zp]\n\t"
#define REEF_RQ_CLAMP                                                          \
    "cmp %[h], %[lo]\n\t"                                                      \
    "it lt\n\t"                                                                \
    "movlt %[h], %[lo]\n\t"                                                    \
    "cmp %[h], %[hi]\n\t"                                                      \
    "it gt\n\t"                                                                \
    "movgt %[h], %[hi]\n\t"

/* One channel's two accumulators (bias included), requantized (mult at
 * byte 4, c_lo and c_hi at 8, post at 16) and stored at out[0]
 * and out[gap]: 8 instructions per value plus 2 per channel when plain.
 * The constants are read before the stores, and only this channel's. */
static inline __attribute__((always_inline)) void
reef_rq_store2(int32_t a0, int32_t a1, const reef_rq *q, int8_t *out, int32_t gap, int32_t zp,
               int32_t lo, int32_t hi, const int plain)
{
    int32_t mult, post, l, h;
    const int32_t min = INT32_MIN;
    if (plain)
        __asm__ volatile("ldr %[mult], [%[q], #4]\n\t"
                         "ldr %[post], [%[q], #16]\n\t" REEF_RQ_ONE("a0")
                         "ssat %[h], #8, %[h]\n\t"
                         "strb %[h], [%[out]]\n\t" REEF_RQ_ONE("a1")
                         "ssat %[h], #8, %[h]\n\t"
                         "strb %[h], [%[out], %[gap]]\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [mult] "=&r"(mult),
                           [post] "=&r"(post), [l] "=&r"(l), [h] "=&r"(h)
                         : [q] "r"(q), [out] "r"(out), [gap] "r"(gap), [zp] "r"(zp),
                           [min] "r"(min)
                         : "memory");
    else
        __asm__ volatile("ldr %[mult], [%[q], #4]\n\t"
                         "ldr %[post], [%[q], #16]\n\t" REEF_RQ_ONE("a0") REEF_RQ_CLAMP
                         "strb %[h], [%[out]]\n\t" REEF_RQ_ONE("a1") REEF_RQ_CLAMP
                         "strb %[h], [%[out], %[gap]]\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [mult] "=&r"(mult),
                           [post] "=&r"(post), [l] "=&r"(l), [h] "=&r"(h)
                         : [q] "r"(q), [out] "r"(out), [gap] "r"(gap), [zp] "r"(zp),
                           [min] "r"(min), [lo] "r"(lo), [hi] "r"(hi)
                         : "cc", "memory");
}
#else
/* One channel's two accumulators (bias included) -> out[0], out[gap];
 * plain: the activation range is [-128, 127]. */
static inline void reef_rq_store2(int32_t a0, int32_t a1, const reef_rq *q, int8_t *out,
                                  int32_t gap, int32_t zp, int32_t lo, int32_t hi,
                                  const int plain)
{
    int32_t a = reef_rq_scale(a0, q) + zp, b = reef_rq_scale(a1, q) + zp;
    if (plain) {
        a = reef_ssat8(a);
        b = reef_ssat8(b);
    } else {
        a = a < lo ? lo : (a > hi ? hi : a);
        b = b < lo ? lo : (b > hi ? hi : b);
    }
    /* both computed before either store: int8 stores may alias the
     * constants, as far as the compiler knows */
    out[0] = (int8_t)a;
    out[gap] = (int8_t)b;
}
#endif

#endif
