/* reef runtime: int8 MEAN over height and width (TFLite MEAN on axes 1
 * and 2, global average pooling). */
#ifndef REEF_RT_MEAN_H
#define REEF_RT_MEAN_H

#include "reef/types.h"

/* MEAN over H and W as TFLite Micro computes int8 MEAN
 * (reference_ops::QuantizedMeanOrSum, either keep_dims):
 *   acc = sum_{y, x} (in[n, y, x, c] + input_offset)
 *   out[n, 0, 0, c] = clamp(requant(acc, multiplier, shift) + output_offset,
 *                           -128, 127)
 * where multiplier and shift already hold 1 / (H * W): the host folds it
 * into input_scale / output_scale as QuantizedMeanOrSum does
 * (lower_mean, src/codegen/lower.c).
 *   input_offset: -input zero point; output_offset: output zero point */
typedef struct reef_mean_params {
    int32_t input_offset;
    int32_t output_offset;
    int32_t multiplier;
    int32_t shift;
} reef_mean_params;

/* input_dims: (N, H, W, C); output_dims: (N, 1, 1, C). */
reef_status reef_mean_hw_s8(const reef_mean_params *params,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_dims *output_dims, int8_t *output);

#endif
