/* Data movement: STRIDED, COPY_ROWS and RESIZE_NEAREST (see reef/permute.h). */
#include "reef/permute.h"

#include "check.h"
#include "reef/requant.h"

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

reef_status reef_copy_rows_s8(int32_t rows, int32_t row_size, const int8_t *input, int32_t input_stride,
                              int8_t *output, int32_t output_stride, const reef_copy_quant *quant)
{
    int32_t r, i;
    if (!input || !output || !quant || rows < 0 || row_size < 0 || input_stride < 0 || output_stride < 0)
        return REEF_ARG_ERROR;
    if (quant->requantize && (quant->multiplier < 0 || quant->shift < -31 || quant->shift > 30)) return REEF_ARG_ERROR;
    for (r = 0; r < rows; r++) {
        const int8_t *from = input + r * input_stride;
        int8_t *to = output + r * output_stride;
        if (!quant->requantize)
            for (i = 0; i < row_size; i++) to[i] = from[i];
        else
            for (i = 0; i < row_size; i++)
                to[i] = reef_requantize_s8((int32_t)from[i] + quant->input_offset, quant->multiplier, quant->shift,
                                           quant->output_offset, -128, 127);
    }
    return REEF_OK;
}

reef_status reef_copy_rows_step(const void *args, uint8_t *arena)
{
    const reef_copy_rows_step_args *a = (const reef_copy_rows_step_args *)args;
    return reef_copy_rows_s8(a->rows, a->row_size, (const int8_t *)(arena + a->io.input_at) + a->input_offset,
                             a->input_stride, (int8_t *)(arena + a->io.output_at) + a->output_offset,
                             a->output_stride, &a->quant);
}

reef_status reef_resize_nearest_s8(const reef_dims *input_dims, const reef_dims *output_dims, const int32_t *index,
                                   const int8_t *input, int8_t *output)
{
    int32_t n, y, x, c;
    if (!input_dims || !output_dims || !index || !input || !output || !reef_dims_valid(input_dims) ||
        !reef_dims_valid(output_dims) || input_dims->n != output_dims->n || input_dims->c != output_dims->c)
        return REEF_ARG_ERROR;
    for (n = 0; n < output_dims->n; n++)
        for (y = 0; y < output_dims->h; y++) {
            const int8_t *row = input + (n * input_dims->h + index[y]) * input_dims->w * input_dims->c;
            for (x = 0; x < output_dims->w; x++) {
                const int8_t *pixel = row + index[output_dims->h + x] * input_dims->c;
                for (c = 0; c < output_dims->c; c++) *output++ = pixel[c];
            }
        }
    return REEF_OK;
}

reef_status reef_resize_nearest_step(const void *args, uint8_t *arena)
{
    const reef_resize_nearest_step_args *a = (const reef_resize_nearest_step_args *)args;
    return reef_resize_nearest_s8(&a->input_dims, &a->output_dims, a->index, (const int8_t *)(arena + a->io.input_at),
                                  (int8_t *)(arena + a->io.output_at));
}
