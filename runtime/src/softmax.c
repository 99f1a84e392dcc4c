/* reef_softmax_s8: the integer softmax of TFLite's reference kernel
 * (reference_ops::Softmax for int8, as TFLite Micro and CMSIS-NN compute
 * it), with gemmlowp's fixed-point exp and reciprocal written out.
 *
 * Fixed-point formats below are named Qk: k integer bits, 31 - k
 * fractional bits in an int32. */
#include "reef/softmax.h"
#include "reef/requant.h"

#include "check.h"

REEF_OPTIMIZE_SIZE

enum {
    SCALED_DIFF_BITS = 5,  /* input differences are Q5 */
    ACCUM_BITS = 12,       /* the sum of exps is Q12 */
};

/* gemmlowp's wrapping fixed-point + and - (int32, no UB). */
static int32_t fp_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int32_t fp_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating
 * left shift. */
static int32_t saturating_shift_left(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return reef_shift_left(x, exponent);
}

/* exp(a) for a in [-1/4, 0), a and result Q0: a Taylor expansion around
 * -1/8. */
static int32_t exp_on_quarter_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0 */
    const int32_t x = fp_add(a, 1 << 28);            /* a + 1/8 */
    const int32_t x2 = reef_doubling_high_mul(x, x);
    const int32_t x3 = reef_doubling_high_mul(x2, x);
    const int32_t x4 = reef_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = reef_divide_by_pot(x4, 2);
    const int32_t poly = reef_divide_by_pot(
        fp_add(reef_doubling_high_mul(fp_add(x4_over_4, x3), one_third), x2), 1);
    return fp_add(exp_minus_one_eighth,
                  reef_doubling_high_mul(exp_minus_one_eighth, fp_add(x, poly)));
}

/* exp(a) for a <= 0; a is Q5, the result Q0 (gemmlowp's
 * exp_on_negative_values): exp of a mod 1/4, times exp(-2^k) for each bit
 * k of the rest. */
static int32_t exp_on_negative_values(int32_t a)
{
    static const int32_t exp_of_minus_pow2[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1) */
        290630308,  /* exp(-2) */
        39332535,   /* exp(-4) */
        720401,     /* exp(-8) */
        242,        /* exp(-16) */
    };
    const int frac_bits = 31 - SCALED_DIFF_BITS;
    const int32_t one_quarter = 1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = fp_sub(a & (one_quarter - 1), one_quarter);
    const int32_t remainder = fp_sub(a_mod_quarter_minus_quarter, a);
    int32_t result = exp_on_quarter_interval(
        saturating_shift_left(a_mod_quarter_minus_quarter, SCALED_DIFF_BITS));
    int k;
    for (k = 0; k < 7; k++)
        if (remainder & (1 << (frac_bits - 2 + k)))
            result = reef_doubling_high_mul(result, exp_of_minus_pow2[k]);
    return a == 0 ? INT32_MAX : result;
}

/* gemmlowp's RoundingHalfSum: (a + b) / 2 rounded away from zero. */
static int32_t rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* 1 / (1 + a) for a in [0, 1), Q0 in and out: Newton-Raphson on Q2. */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
    const int32_t one_q2 = 1 << 29;
    int32_t x = fp_add(1515870810, /* 48/17 in Q2 */
                       reef_doubling_high_mul(half_denominator, -1010580540)); /* -32/17 */
    int i;
    for (i = 0; i < 3; i++) {
        const int32_t hd_times_x = reef_doubling_high_mul(half_denominator, x);
        const int32_t one_minus = fp_sub(one_q2, hd_times_x);
        x = fp_add(x, saturating_shift_left(reef_doubling_high_mul(x, one_minus), 2));
    }
    /* x / 2 reinterpreted from Q1 to Q0. */
    return saturating_shift_left(x, 1);
}

static int count_leading_zeros(uint32_t x)
{
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

/* TFLite's GetReciprocal: 1 / x for a Q12 sum x >= 1, as a Q0 scale and a
 * number of bits the result must still be shifted right by. */
static int32_t reciprocal(int32_t x, int32_t *num_bits_over_unit)
{
    const int headroom_plus_one = count_leading_zeros((uint32_t)x);
    const int32_t shifted_minus_one =
        (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    *num_bits_over_unit = ACCUM_BITS - headroom_plus_one;
    return one_over_one_plus_x(shifted_minus_one);
}

/* The Q5 rescaled difference to the row max (MultiplyByQuantized-
 * MultiplierGreaterThanOne). */
static int32_t scaled_diff(const reef_softmax_params *p, int32_t diff)
{
    return reef_doubling_high_mul(reef_shift_left(diff, p->input_left_shift),
                                  p->input_multiplier);
}

static void softmax_row(const reef_softmax_params *p, int32_t depth, const int8_t *in,
                        int8_t *out)
{
    int32_t max = -128, sum_of_exps = 0, scale, bits_over_unit, c;
    for (c = 0; c < depth; c++) max = in[c] > max ? in[c] : max;
    for (c = 0; c < depth; c++) {
        const int32_t diff = in[c] - max;
        if (diff >= p->diff_min)  /* Q0 exp rescaled to the Q12 sum */
            sum_of_exps = fp_add(sum_of_exps,
                                 reef_divide_by_pot(exp_on_negative_values(scaled_diff(p, diff)),
                                                    ACCUM_BITS));
    }
    scale = reciprocal(sum_of_exps, &bits_over_unit);
    for (c = 0; c < depth; c++) {
        const int32_t diff = in[c] - max;
        int32_t prob;
        if (diff < p->diff_min) {
            out[c] = -128;
            continue;
        }
        prob = reef_divide_by_pot(
            reef_doubling_high_mul(scale, exp_on_negative_values(scaled_diff(p, diff))),
            bits_over_unit + 31 - 8);
        out[c] = (int8_t)reef_clamp(prob - 128, -128, 127);
    }
}

reef_status reef_softmax_s8(const reef_softmax_params *params, int32_t rows,
                            int32_t depth, const int8_t *input, int8_t *output)
{
    int32_t r;
    if (!params || !input || !output || rows < 0 || depth < 1 ||
        params->input_left_shift < 0 || params->input_left_shift > 30 ||
        params->diff_min > 0)
        return REEF_ARG_ERROR;
    for (r = 0; r < rows; r++) softmax_row(params, depth, input + r * depth, output + r * depth);
    return REEF_OK;
}
