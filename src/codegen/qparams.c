/* TFLite's host-side quantization arithmetic (see qparams.h). Doubles and
 * floats are used exactly where TFLite uses them: a float computed in
 * double (or the reverse) can round differently and change an output. */
#include "codegen/qparams.h"

#include <math.h>

void reef_quantize_multiplier(double m, int32_t *multiplier, int32_t *shift)
{
    if (m == 0.0) {
        *multiplier = 0;
        *shift = 0;
        return;
    }
    int exp;
    double q = frexp(m, &exp);
    int64_t q_fixed = (int64_t)round(q * (double)(1LL << 31));
    if (q_fixed == (1LL << 31)) {
        q_fixed /= 2;
        exp++;
    }
    if (exp < -31) { /* every bit would shift out: TFLite flushes to zero */
        exp = 0;
        q_fixed = 0;
    }
    if (exp > 30) {
        exp = 30;
        q_fixed = (1LL << 31) - 1;
    }
    *multiplier = (int32_t)q_fixed;
    *shift = exp;
}

/* CalculateActivationRangeQuantizedImpl over [qmin, qmax]: Quantize is
 * zero_point + static_cast<int32_t>(TfLiteRound(f / scale)), f and scale
 * floats, refused when the rounded value does not fit an int32. */
static int quantize_act(float f, float scale, int32_t zero_point, int32_t *q)
{
    const float t = roundf(f / scale);
    if (!(t >= -2147483648.0f && t <= 2147483520.0f)) return -1;
    *q = zero_point + (int32_t)t;
    return 0;
}

static int activation_range(int fused, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                            int32_t *act_min, int32_t *act_max)
{
    int32_t lo = qmin, hi = qmax;
    switch (fused) {
    case 0: break;
    case 1:
        if (quantize_act(0.0f, scale, zero_point, &lo)) return -1;
        break;
    case 2:
        if (quantize_act(-1.0f, scale, zero_point, &lo) || quantize_act(1.0f, scale, zero_point, &hi)) return -1;
        break;
    case 3:
        if (quantize_act(0.0f, scale, zero_point, &lo) || quantize_act(6.0f, scale, zero_point, &hi)) return -1;
        break;
    default: return -1;
    }
    *act_min = lo > qmin ? lo : qmin, *act_max = hi < qmax ? hi : qmax;
    return 0;
}

int reef_activation_range(int fused, float scale, int32_t zero_point, int32_t *act_min, int32_t *act_max)
{
    return activation_range(fused, scale, zero_point, -128, 127, act_min, act_max);
}

int reef_activation_range_s16(int fused, float scale, int32_t zero_point, int32_t *act_min, int32_t *act_max)
{
    return activation_range(fused, scale, zero_point, -32768, 32767, act_min, act_max);
}

void reef_softmax_scaling(double beta, double input_scale, int32_t *input_multiplier,
                          int32_t *input_left_shift, int32_t *diff_min)
{
    const int integer_bits = 5; /* kScaledDiffIntegerBits */
    /* The double-rounding build's cap (TFLite Micro's default). */
    const double max_real = (double)((1LL << 31) - 1);
    double real = beta * input_scale * (double)(1 << (31 - integer_bits));
    if (real > max_real) real = max_real;
    reef_quantize_multiplier(real, input_multiplier, input_left_shift);
    /* CalculateInputRadius(5, left_shift, 31) */
    double max_input_rescaled = 1.0 * ((1 << integer_bits) - 1) * (double)(1LL << (31 - integer_bits)) /
                                (double)(1LL << *input_left_shift);
    *diff_min = (int32_t)(-1.0 * floor(max_input_rescaled));
}

/* CalculateOpDataAdd (add_common.cc) for a left shift of 20 (int8) or 15
 * (int16). */
static int add_quantize(float input1_scale, float input2_scale, float output_scale, int32_t left_shift,
                        reef_add_quant *q)
{
    if (!(input1_scale > 0) || !(input2_scale > 0) || !(output_scale > 0)) return -1;
    q->left_shift = left_shift;
    float max_scale = input1_scale > input2_scale ? input1_scale : input2_scale;
    const double twice_max_input_scale = 2 * (double)max_scale;
    const double real_input1 = (double)input1_scale / twice_max_input_scale;
    const double real_input2 = (double)input2_scale / twice_max_input_scale;
    const double real_output = twice_max_input_scale / ((double)(1 << q->left_shift) * (double)output_scale);
    reef_quantize_multiplier(real_input1, &q->input1_multiplier, &q->input1_shift);
    reef_quantize_multiplier(real_input2, &q->input2_multiplier, &q->input2_shift);
    reef_quantize_multiplier(real_output, &q->output_multiplier, &q->output_shift);
    return 0;
}

int reef_add_quantize(float input1_scale, float input2_scale, float output_scale, reef_add_quant *q)
{
    return add_quantize(input1_scale, input2_scale, output_scale, 20, q);
}

int reef_add_quantize_s16(float input1_scale, float input2_scale, float output_scale, reef_add_quant *q)
{
    if (add_quantize(input1_scale, input2_scale, output_scale, 15, q)) return -1;
    const double twice_max_input_scale = 2 * (double)(input1_scale > input2_scale ? input1_scale : input2_scale);
    return twice_max_input_scale / (32768.0 * (double)output_scale) < 1.0 ? 0 : -1;
}
