/* reef runtime: int8 REDUCE_MAX over any axes of a tensor of rank <= 4
 * (TFLite Micro reduce_common.cc EvalMinMaxHelper: the largest raw int8
 * value, input and output in one quantization, keep_dims or not). */
#ifndef REEF_RT_REDUCE_H
#define REEF_RT_REDUCE_H

#include "reef/types.h"

/* axes: bit 3 = n, 2 = h, 1 = w, 0 = c of input_dims; output: the
 * input dims with those axes removed, row-major. */
reef_status reef_reduce_max_s8(const reef_dims *input_dims, int32_t axes, const int8_t *input, int8_t *output);

typedef struct reef_reduce_step_args {
    reef_step_io io;
    reef_dims input_dims;
    int32_t axes;
} reef_reduce_step_args;
reef_status reef_reduce_max_step(const void *args, uint8_t *arena);

#endif
