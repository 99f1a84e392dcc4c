/* reef runtime: int8 REDUCE_MAX over any axes of a tensor of rank <= 4
 * (TFLite Micro reduce_common.cc EvalMinMaxHelper: the largest raw int8
 * value, input and output in one quantization, keep_dims or not), and
 * ARG_MAX over one axis (TFLite Micro arg_min_max.cc: the int32 index of
 * the largest raw int8 value, the first of equal ones). */
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

/* input (outer, axis_size, inner) -> output (outer, inner) int32 indices
 * along the middle axis. */
reef_status reef_arg_max_s8(int32_t outer, int32_t axis_size, int32_t inner, const int8_t *input, int32_t *output);

typedef struct reef_arg_max_step_args {
    reef_step_io io; /* output: int32, at a multiple of 4 */
    int32_t outer, axis_size, inner;
} reef_arg_max_step_args;
reef_status reef_arg_max_step(const void *args, uint8_t *arena);

#endif
