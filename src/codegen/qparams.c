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

int reef_activation_range(int fused, float scale, int32_t zero_point, int32_t *act_min, int32_t *act_max)
{
    const int32_t qmin = -128, qmax = 127;
    /* TFLite: zero_point + static_cast<int32_t>(TfLiteRound(f / scale)),
     * f and scale floats. */
#define QUANTIZE(f) (zero_point + (int32_t)roundf((float)(f) / scale))
    switch (fused) {
    case 0: *act_min = qmin, *act_max = qmax; return 0;
    case 1: {
        int32_t lo = QUANTIZE(0.0f);
        *act_min = lo > qmin ? lo : qmin, *act_max = qmax;
        return 0;
    }
    case 2: {
        int32_t lo = QUANTIZE(-1.0f), hi = QUANTIZE(1.0f);
        *act_min = lo > qmin ? lo : qmin, *act_max = hi < qmax ? hi : qmax;
        return 0;
    }
    case 3: {
        int32_t lo = QUANTIZE(0.0f), hi = QUANTIZE(6.0f);
        *act_min = lo > qmin ? lo : qmin, *act_max = hi < qmax ? hi : qmax;
        return 0;
    }
    default: return -1;
    }
#undef QUANTIZE
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

int reef_add_quantize(float input1_scale, float input2_scale, float output_scale, reef_add_quant *q)
{
    if (!(input1_scale > 0) || !(input2_scale > 0) || !(output_scale > 0)) return -1;
    q->left_shift = 20;
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
