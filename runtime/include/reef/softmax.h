/* reef runtime: int8 softmax (TFLite SOFTMAX, int8 in and out, the integer
 * algorithm of TFLite's reference kernel / TFLite Micro / CMSIS-NN). */
#ifndef REEF_RT_SOFTMAX_H
#define REEF_RT_SOFTMAX_H

#include "reef/types.h"

/* Precomputed on the host from beta and the input scale, as TFLite's
 * PreprocessSoftmaxScaling with 5 integer bits does:
 *   input_multiplier, input_left_shift: beta * input_scale * 2^26 as a Q31
 *                                       multiplier and left shift (>= 0)
 *   diff_min: -CalculateInputRadius(5, input_left_shift, 31); differences
 *             from the row maximum below it give an output of -128. */
typedef struct reef_softmax_params {
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} reef_softmax_params;

/* Softmax of each row. The output is quantized with scale 1/256 and zero
 * point -128 (TFLite's fixed int8 softmax output).
 * input:  (rows, depth); output: (rows, depth), may not overlap input. */
reef_status reef_softmax_s8(const reef_softmax_params *params, int32_t rows,
                            int32_t depth, const int8_t *input, int8_t *output);

#endif
