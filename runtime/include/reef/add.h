/* reef runtime: int8 elementwise addition (TFLite ADD), with TFLite's
 * rescaling of both inputs to a common scale. */
#ifndef REEF_RT_ADD_H
#define REEF_RT_ADD_H

#include "reef/types.h"

/* TFLite's int8 ADD parameters (the host computes them from the scales:
 * left_shift = 20, twice_max = 2 * max(s1, s2),
 * input_k multiplier/shift from s_k / twice_max, output multiplier/shift
 * from twice_max / (2^20 * s_out)).
 *   input1_offset, input2_offset: -zero_point of each input, [-127, 128]
 *   left_shift:                   [0, 30] (20 for int8)
 *   inputK_multiplier/shift:      Q31 multiplier, shift in [-31, 0]
 *   output_offset:                output zero point
 *   output_multiplier/shift:      Q31 multiplier, shift in [-31, 30] */
typedef struct reef_add_params {
    int32_t input1_offset;
    int32_t input1_multiplier;
    int32_t input1_shift;
    int32_t input2_offset;
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t left_shift;
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;
    reef_activation activation;
} reef_add_params;

/* For each k < count:
 *   a = requant((in1[k] + input1_offset) << left_shift, m1, s1)
 *   b = requant((in2[k] + input2_offset) << left_shift, m2, s2)
 *   out[k] = clamp(requant(a + b, mo, so) + output_offset)
 * input1, input2, output: (count) elements of same-shaped tensors. The
 * output may be the same buffer as either input (in place). */
reef_status reef_add_s8(const reef_add_params *params, const int8_t *input1,
                        const int8_t *input2, int32_t count, int8_t *output);

#endif
