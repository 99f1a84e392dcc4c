/* reef runtime: the one requantization helper, TFLite's arithmetic.
 *
 *   reef_requantize(acc, M, s) = round(acc * M * 2^(s - 31))
 *
 * computed exactly as TFLite's MultiplyByQuantizedMultiplier (the
 * double-rounding version used by TFLite's reference kernels, TFLite Micro
 * and CMSIS-NN): a left shift by max(s, 0), a saturating rounding doubling
 * high multiply (SaturatingRoundingDoublingHighMul), then a rounding right
 * shift by max(-s, 0) with ties away from zero (RoundingDivideByPOT).
 *
 * The host computes M and s from float scales (M in [2^30, 2^31) or 0,
 * s in [-31, 30]); nothing here uses floating point. Assumes two's
 * complement and arithmetic right shift of negative values (GCC, Clang).
 */
#ifndef REEF_RT_REQUANT_H
#define REEF_RT_REQUANT_H

#include <stdint.h>

/* SaturatingRoundingDoublingHighMul: the high 32 bits of 2*a*b, rounded to
 * nearest with ties away from zero; INT32_MIN * INT32_MIN saturates to
 * INT32_MAX. */
static inline int32_t reef_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    /* TFLite writes (ab + nudge) / 2^31 with nudge = 2^30 for ab >= 0 and
     * 1 - 2^30 below, truncating; for every ab that equals
     * floor((ab + 2^30) / 2^31), an arithmetic shift (SMLAL and two
     * shifts on the M4 instead of a sign-dependent nudge and a division). */
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from
 * zero. exponent: [0, 31]. */
static inline int32_t reef_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^left_shift with TFLite's int32 wrap-around (no UB). */
static inline int32_t reef_shift_left(int32_t x, int32_t left_shift)
{
    return (int32_t)((uint32_t)x << left_shift);
}

/* MultiplyByQuantizedMultiplier: acc * multiplier * 2^(shift - 31).
 * multiplier: Q31 in [0, 2^31); shift: [-31, 30], > 0 shifts left. */
static inline int32_t reef_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return reef_divide_by_pot(reef_doubling_high_mul(reef_shift_left(acc, left), multiplier),
                              right);
}

/* The usual tail of a kernel: requantize, add the output offset (the
 * output zero point) and clamp to the activation range. */
static inline int8_t reef_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                        int32_t output_offset, int32_t act_min,
                                        int32_t act_max)
{
    int32_t out = reef_requantize(acc, multiplier, shift) + output_offset;
    out = out < act_min ? act_min : out;
    out = out > act_max ? act_max : out;
    return (int8_t)out;
}

#endif
