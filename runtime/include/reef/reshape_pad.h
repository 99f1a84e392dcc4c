/* reef runtime: data movement (TFLite RESHAPE, PAD). */
#ifndef REEF_RT_RESHAPE_PAD_H
#define REEF_RT_RESHAPE_PAD_H

#include "reef/types.h"

/* RESHAPE: the bytes do not change; copies count bytes when the buffers
 * differ (they may overlap) and does nothing when they are the same. */
reef_status reef_reshape_s8(const int8_t *input, int32_t count, int8_t *output);

/* PAD: before/after give the number of pad elements on each side of each
 * dimension (>= 0); pad_value is the output zero point (TFLite pads int8
 * with the zero point unless a constant is given). */
typedef struct reef_pad_params {
    reef_dims before;
    reef_dims after;
    int32_t pad_value;
} reef_pad_params;

/* input_dims:  (N, H, W, C)
 * output_dims: (N + before.n + after.n, ..., C + before.c + after.c)
 * output must not overlap input. */
reef_status reef_pad_s8(const reef_pad_params *params,
                        const reef_dims *input_dims, const int8_t *input,
                        const reef_dims *output_dims, int8_t *output);

#endif
