/* reef runtime: data movement by index remapping (TFLite TRANSPOSE and
 * SLICE): for every output element (n, h, w, c) in row-major order
 *   output[k] = input[offset + n*s.n + h*s.h + w*s.w + c*s.c]
 * with the input strides s and the offset computed on the host (a
 * permutation of the input's row-major strides for TRANSPOSE, the
 * begin offset for SLICE). Values are copied, never requantized. */
#ifndef REEF_RT_PERMUTE_H
#define REEF_RT_PERMUTE_H

#include "reef/types.h"

/* input and output must not overlap. */
reef_status reef_strided_copy_s8(const reef_dims *output_dims, const reef_dims *input_strides, int32_t input_offset,
                                 const int8_t *input, int8_t *output);

typedef struct reef_strided_step_args {
    reef_step_io io;
    reef_dims output_dims;
    reef_dims input_strides; /* elements */
    int32_t input_offset;    /* elements */
} reef_strided_step_args;
reef_status reef_strided_step(const void *args, uint8_t *arena);

#endif
