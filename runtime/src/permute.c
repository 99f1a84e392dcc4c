/* Index-remapping copy for TRANSPOSE and SLICE (see reef/permute.h). */
#include "reef/permute.h"

#include "check.h"

reef_status reef_strided_copy_s8(const reef_dims *output_dims, const reef_dims *input_strides, int32_t input_offset,
                                 const int8_t *input, int8_t *output)
{
    int32_t n, h, w, c;
    if (!output_dims || !input_strides || !input || !output || !reef_dims_valid(output_dims) || input_offset < 0)
        return REEF_ARG_ERROR;
    for (n = 0; n < output_dims->n; n++)
        for (h = 0; h < output_dims->h; h++)
            for (w = 0; w < output_dims->w; w++) {
                const int8_t *row = input + input_offset + n * input_strides->n + h * input_strides->h +
                                    w * input_strides->w;
                for (c = 0; c < output_dims->c; c++) *output++ = row[c * input_strides->c];
            }
    return REEF_OK;
}

reef_status reef_strided_step(const void *args, uint8_t *arena)
{
    const reef_strided_step_args *a = (const reef_strided_step_args *)args;
    return reef_strided_copy_s8(&a->output_dims, &a->input_strides, a->input_offset,
                                (const int8_t *)(arena + a->io.input_at), (int8_t *)(arena + a->io.output_at));
}
