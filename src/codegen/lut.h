/* The 256-entry tables of the LUT step (reef/lut.h): TFLite Micro's int8
 * LOGISTIC, TANH and HARD_SWISH evaluated for every input value with the
 * reference kernels' integer arithmetic (gemmlowp fixed point, TFLite's
 * MultiplyByQuantizedMultiplier), and the parameters their Prepare
 * functions compute from the scales:
 *   LOGISTIC, TANH: input rescaled to Q4.27 by frexp(in_scale * 2^27)
 *     (logistic_common.cc, tanh.cc), inputs beyond the radius
 *     CalculateInputRadius(4, shift, 31) saturate; the output is Q0.31
 *     rounded to 1/256 with zero point -128 (LOGISTIC) or to 1/128 with
 *     zero point 0 (TANH), whatever the output tensor says, so lowering
 *     requires those output quantizations.
 *   HARD_SWISH: reference_ops::HardSwish with the int16 multipliers of
 *     hard_swish_common.cc (float scale arithmetic as TFLM does it).
 * Each returns 0, or -1 with a message in err for parameters TFLite Micro
 * refuses or whose arithmetic is undefined there. */
#ifndef REEF_CODEGEN_LUT_H
#define REEF_CODEGEN_LUT_H

#include <stdint.h>

#include "util/err.h"

int reef_lut_logistic(float input_scale, int32_t input_zero_point, int8_t table[256], reef_error *err);
int reef_lut_tanh(float input_scale, int32_t input_zero_point, int8_t table[256], reef_error *err);
int reef_lut_hard_swish(float input_scale, int32_t input_zero_point, float output_scale,
                        int32_t output_zero_point, int8_t table[256], reef_error *err);

#endif
