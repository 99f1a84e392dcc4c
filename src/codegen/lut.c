/* Tables of the LUT step (see lut.h). The fixed-point helpers follow
 * gemmlowp's scalar int32/int16 semantics: '+' and '-' on raw values wrap
 * (done in uint32 here, to stay defined), '*' is the saturating rounding
 * doubling high multiply, Rescale to fewer integer bits is a saturating
 * left shift, to more a rounding right shift. A value "Qn" below has n
 * integer bits and 31 - n fractional bits. */
#include "codegen/lut.h"

#include <math.h>

#include "codegen/qparams.h"
#include "reef/requant.h"

static int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int32_t wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static int32_t mul(int32_t a, int32_t b) { return reef_doubling_high_mul(a, b); }

/* SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0. */
static int32_t sat_shift_left(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return reef_shift_left(x, exponent);
}

/* RoundingHalfSum: (a + b) / 2 rounded half away from zero. */
static int32_t rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a Q0 in [-1/4, 0): Taylor series around -1/8. */
static int32_t exp_quarter(int32_t a)
{
    const int32_t exp_minus_1_8 = 1895147668, one_third = 715827883;
    const int32_t x = wrap_add(a, 1 << 28);
    const int32_t x2 = mul(x, x), x3 = mul(x2, x), x4 = mul(x2, x2);
    const int32_t x4_over_4 = reef_divide_by_pot(x4, 2);
    const int32_t poly = reef_divide_by_pot(wrap_add(mul(wrap_add(x4_over_4, x3), one_third), x2), 1);
    return wrap_add(exp_minus_1_8, mul(exp_minus_1_8, wrap_add(x, poly)));
}

/* exp(a) as Q0 for a <= 0 with integer_bits (4 or 5) integer bits. */
static int32_t exp_negative(int32_t a, int integer_bits)
{
    /* exp(-2^e) in Q0 for e = -2 .. 4 */
    static const int32_t factor[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mod_minus_quarter = wrap_sub(a & (one_quarter - 1), one_quarter);
    int32_t result = exp_quarter(sat_shift_left(mod_minus_quarter, integer_bits));
    const int32_t remainder = wrap_sub(mod_minus_quarter, a);
    for (int e = -2; e <= 4; e++)
        if (integer_bits > e && (remainder & ((int32_t)1 << (fractional_bits + e))))
            result = mul(result, factor[e + 2]);
    return a == 0 ? INT32_MAX : result;
}

/* Newton-Raphson for 1 / (1 + a), a Q0 in (0, 1): returns x as Q2 (the
 * two callers take different tails). */
static int32_t reciprocal_q2(int32_t a)
{
    const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
    int32_t x = wrap_add(1515870810, mul(half_denominator, -1010580540)); /* 48/17 - 32/17 d */
    for (int i = 0; i < 3; i++) {
        const int32_t one_minus_dx = wrap_sub(1 << 29, mul(half_denominator, x));
        x = wrap_add(x, sat_shift_left(mul(x, one_minus_dx), 2));
    }
    return x;
}

/* gemmlowp::logistic of a Q4 value, as Q0. */
static int32_t logistic_q4(int32_t a)
{
    const int32_t magnitude = a > 0 ? a : wrap_sub(0, a);
    const int32_t positive = sat_shift_left(reciprocal_q2(exp_negative(wrap_sub(0, magnitude), 4)), 1);
    if (a == 0) return 1 << 30;
    return a > 0 ? positive : wrap_sub(INT32_MAX, positive);
}

/* gemmlowp::tanh of a Q4 value, as Q0. */
static int32_t tanh_q4(int32_t a)
{
    const int32_t n = a < 0 ? a : wrap_sub(0, a);
    /* exp(2n): the same raw value read as Q5 */
    const int32_t t = sat_shift_left(wrap_sub(reciprocal_q2(exp_negative(n, 5)), 1 << 29), 2);
    if (a == 0) return 0;
    return a < 0 ? wrap_sub(0, t) : t;
}

/* The Prepare of int8 LOGISTIC and TANH: frexp(in_scale * 2^27) and
 * CalculateInputRadius(4, shift, 31). */
static int sigmoid_params(float input_scale, int32_t input_zero_point, int32_t *multiplier, int *shift,
                          int32_t *radius, reef_error *err)
{
    if (!(input_scale > 0) || !isfinite(input_scale))
        return reef_fail(err, "input scale %g is not positive and finite", (double)input_scale);
    if (input_zero_point < -128 || input_zero_point > 127)
        return reef_fail(err, "input zero point %d is outside [-128, 127]", (int)input_zero_point);
    const double q = frexp((double)input_scale * (double)(1 << 27), shift);
    /* TFLite Micro shifts 1LL by this amount in CalculateInputRadius */
    if (*shift < 0 || *shift > 62)
        return reef_fail(err, "input scale %g is outside what TFLite Micro's int8 kernel takes", (double)input_scale);
    *multiplier = (int32_t)round(q * (double)(1LL << 31));
    *radius = (int32_t)floor(15.0 * (double)(1LL << 27) / (double)(1LL << *shift));
    return 0;
}

/* input q4 for the int8 value v, or the saturated output when outside the radius */
static int sigmoid_input(int v, int32_t zero_point, int32_t multiplier, int shift, int32_t radius, int32_t *q4)
{
    const int32_t x = v - zero_point;
    if (x <= -radius) return -1;
    if (x >= radius) return 1;
    *q4 = reef_requantize(x, multiplier, shift);
    return 0;
}

static int8_t clamp_s8(int32_t v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }

/* The table of one curve of the sigmoid family: int8 v -> the curve's Q0.31
 * value at v's q4 input, divided by 2^out_shift and moved by out_offset
 * (TFLite Micro's int8 LOGISTIC: >> 23, - 128; TANH: >> 24), saturated
 * outside the radius. */
static int sigmoid_table(float input_scale, int32_t input_zero_point, int32_t (*curve_q4)(int32_t),
                         int out_shift, int32_t out_offset, int8_t table[256], reef_error *err)
{
    int32_t multiplier = 0, radius = 0; /* set by sigmoid_params; zeroed for GCC's flow analysis */
    int shift = 0;
    if (sigmoid_params(input_scale, input_zero_point, &multiplier, &shift, &radius, err)) return -1;
    for (int v = -128; v <= 127; v++) {
        int32_t q4 = 0;
        const int side = sigmoid_input(v, input_zero_point, multiplier, shift, radius, &q4);
        table[v + 128] = side < 0   ? -128
                         : side > 0 ? 127
                                    : clamp_s8(reef_divide_by_pot(curve_q4(q4), out_shift) + out_offset);
    }
    return 0;
}

int reef_lut_logistic(float input_scale, int32_t input_zero_point, int8_t table[256], reef_error *err)
{
    return sigmoid_table(input_scale, input_zero_point, logistic_q4, 23, -128, table, err);
}

int reef_lut_tanh(float input_scale, int32_t input_zero_point, int8_t table[256], reef_error *err)
{
    return sigmoid_table(input_scale, input_zero_point, tanh_q4, 24, 0, table, err);
}

/* ---- HARD_SWISH: int16 fixed point -------------------------------------- */

/* DownScaleInt32ToInt16Multiplier */
static int16_t multiplier_to_q15(int32_t m)
{
    if (m >= INT32_MAX - (1 << 15)) return INT16_MAX;
    return (int16_t)((m + (1 << 15)) >> 16);
}

/* gemmlowp SaturatingRoundingDoublingHighMul for int16 */
static int16_t mul16_round(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    const int32_t ab = (int32_t)a * b;
    return (int16_t)((ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15));
}

/* TFLite's SaturatingDoublingHighMul: the same, truncating toward zero */
static int16_t mul16_trunc(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

static int16_t sat_shift_left16(int16_t v, int amount)
{
    const int64_t r = (int64_t)v * ((int64_t)1 << amount);
    return (int16_t)(r > INT16_MAX ? INT16_MAX : r < INT16_MIN ? INT16_MIN : r);
}

/* gemmlowp RoundingDivideByPOT on int16 for exponent in [0, 31]: the mask
 * (2^exponent - 1) is truncated to int16, which matters past 15. */
static int16_t divide_by_pot16(int16_t x, int exponent)
{
    const int16_t mask = (int16_t)(((int64_t)1 << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

int reef_lut_hard_swish(float input_scale, int32_t input_zero_point, float output_scale,
                        int32_t output_zero_point, int8_t table[256], reef_error *err)
{
    if (!(input_scale > 0) || !isfinite(input_scale) || !(output_scale > 0) || !isfinite(output_scale))
        return reef_fail(err, "scales %g (input) and %g (output) must be positive and finite",
                         (double)input_scale, (double)output_scale);
    if (input_zero_point < -128 || input_zero_point > 127 || output_zero_point < -128 || output_zero_point > 127)
        return reef_fail(err, "zero points %d and %d must be in [-128, 127]", (int)input_zero_point,
                         (int)output_zero_point);
    /* hard_swish_common.cc computes these ratios in float */
    const float hires_input_scale = (1.0f / 128.0f) * input_scale;
    const float reluish_scale = 3.0f / 32768.0f;
    int32_t m32, out_exp, reluish_exp;
    reef_quantize_multiplier((double)(hires_input_scale / output_scale), &m32, &out_exp);
    const int16_t out_mult = multiplier_to_q15(m32);
    if (out_exp > 0)
        return reef_fail(err, "input scale %g / output scale %g is too large for TFLite Micro's HARD_SWISH",
                         (double)input_scale, (double)output_scale);
    reef_quantize_multiplier((double)(hires_input_scale / reluish_scale), &m32, &reluish_exp);
    const int16_t reluish_mult = multiplier_to_q15(m32);
    for (int v = -128; v <= 127; v++) {
        const int16_t hires = (int16_t)((v - input_zero_point) * (1 << 7));
        const int16_t preshift = mul16_round(hires, out_mult);
        int16_t reluish = hires;
        if (reluish_exp > 0) reluish = sat_shift_left16(reluish, reluish_exp - 1);
        reluish = mul16_round(reluish, reluish_mult);
        if (reluish_exp > 0) reluish = sat_shift_left16(reluish, 1);
        if (reluish_exp < 0) reluish = divide_by_pot16(reluish, -reluish_exp);
        reluish = (int16_t)((reluish + (1 << 15)) >> 1);
        int16_t out = divide_by_pot16(mul16_trunc(reluish, preshift), -out_exp);
        out = (int16_t)(out + output_zero_point);
        table[v + 128] = clamp_s8(out);
    }
    return 0;
}
