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
/* The loop reef_add_s8 runs these parameters with (the REEF_ADD_PATH_*
 * values). A build that defines REEF_ADD_PATHS (a generated model header
 * does: the OR of 1 << path over its ADD steps) compiles only those loops;
 * parameters needing another one then get REEF_UNSUPPORTED. */
enum {
    REEF_ADD_PATH_SMM_EQUAL = 0,   /* equal input scales, one rounding multiply per input */
    REEF_ADD_PATH_SMM_PLAIN = 1,   /* the same with one input shifted, range [-128, 127] */
    REEF_ADD_PATH_SMM_CLAMPED = 2, /* ... clamped to a narrower range */
    REEF_ADD_PATH_FAST_PLAIN = 3,  /* 64-bit constants, range [-128, 127] */
    REEF_ADD_PATH_FAST_CLAMPED = 4,
    REEF_ADD_PATH_SCALAR = 5,      /* TFLite's reference arithmetic, any parameters */
    REEF_ADD_PATH_COUNT = 6
};
int reef_add_s8_path(const reef_add_params *params);

reef_status reef_add_s8(const reef_add_params *params, const int8_t *input1,
                        const int8_t *input2, int32_t count, int8_t *output);

#endif
