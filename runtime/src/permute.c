/* Data movement: STRIDED, COPY_ROWS, RESIZE_NEAREST and RESIZE_BILINEAR (see
 * reef/permute.h). */
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

/* One output row's (or column's) sample in 10-bit fixed point and the two
 * input rows around it (TFLite's ComputeInterpolationValuesInteger; C's
 * division truncates toward zero as C++'s does). */
static int32_t bilinear_sample(int32_t v, int32_t scale_10, int32_t half_pixel, int32_t in_size, int32_t *lo,
                               int32_t *hi)
{
    const int32_t at = half_pixel ? v * scale_10 + scale_10 / 2 - (1 << 9) : v * scale_10;
    const int32_t up = (at + (1 << 10) - 1) / (1 << 10);
    *lo = at / (1 << 10) > 0 ? at / (1 << 10) : 0;
    *hi = up < in_size - 1 ? up : in_size - 1;
    return at;
}

/* (sum + 2^19) / 2^20 for sum >= 0, (sum - 2^19) / 2^20 below, truncating
 * (TFLite's non-single rounding). |sum| < 2^30 (weights within [-512,
 * 1536], pixels within [-128, 127]), so int32 holds it. */
static int8_t bilinear_round(int32_t sum)
{
    return (int8_t)(sum >= 0 ? (sum + (1 << 19)) >> 20 : -((-sum + (1 << 19)) >> 20));
}

reef_status reef_resize_bilinear_s8(const reef_dims *input_dims, const reef_dims *output_dims,
                                    const reef_resize_bilinear_geometry *geometry, const int8_t *input,
                                    int8_t *output)
{
    int32_t n, y, x, c;
    if (!input_dims || !output_dims || !geometry || !input || !output || !reef_dims_valid(input_dims) ||
        !reef_dims_valid(output_dims) || input_dims->n != output_dims->n || input_dims->c != output_dims->c)
        return REEF_ARG_ERROR;
    const int32_t depth = input_dims->c, row_size = input_dims->w * depth;
    for (n = 0; n < output_dims->n; n++) {
        const int8_t *image = input + n * input_dims->h * row_size;
        for (y = 0; y < output_dims->h; y++) {
            int32_t y0, y1;
            const int32_t in_y = bilinear_sample(y, geometry->y_scale_10, geometry->half_pixel_centers,
                                                 input_dims->h, &y0, &y1);
            if (y0 >= input_dims->h) return REEF_ARG_ERROR;
            const int32_t dy = in_y - (1 << 10) * y0;
            for (x = 0; x < output_dims->w; x++) {
                int32_t x0, x1;
                const int32_t in_x = bilinear_sample(x, geometry->x_scale_10, geometry->half_pixel_centers,
                                                     input_dims->w, &x0, &x1);
                if (x0 >= input_dims->w) return REEF_ARG_ERROR;
                const int32_t dx = in_x - (1 << 10) * x0;
                const int8_t *p00 = image + y0 * row_size + x0 * depth, *p10 = image + y1 * row_size + x0 * depth;
                const int8_t *p01 = image + y0 * row_size + x1 * depth, *p11 = image + y1 * row_size + x1 * depth;
                const int32_t w00 = ((1 << 10) - dy) * ((1 << 10) - dx), w10 = dy * ((1 << 10) - dx);
                const int32_t w01 = ((1 << 10) - dy) * dx, w11 = dy * dx;
                for (c = 0; c < depth; c++)
                    *output++ = bilinear_round(p00[c] * w00 + p10[c] * w10 + p01[c] * w01 + p11[c] * w11);
            }
        }
    }
    return REEF_OK;
}

reef_status reef_resize_bilinear_step(const void *args, uint8_t *arena)
{
    const reef_resize_bilinear_step_args *a = (const reef_resize_bilinear_step_args *)args;
    return reef_resize_bilinear_s8(&a->input_dims, &a->output_dims, &a->geometry,
                                   (const int8_t *)(arena + a->io.input_at), (int8_t *)(arena + a->io.output_at));
}
