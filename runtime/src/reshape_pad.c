/* RESHAPE (a copy) and PAD. */
#include "reef/reshape_pad.h"

#include "check.h"

reef_status reef_reshape_s8(const int8_t *input, int32_t count, int8_t *output)
{
    int32_t k;
    if (!input || !output || count < 0) return REEF_ARG_ERROR;
    if (input == output) return REEF_OK;
    /* memmove without libc: copy in the direction that is safe. */
    if (output < input)
        for (k = 0; k < count; k++) output[k] = input[k];
    else
        for (k = count - 1; k >= 0; k--) output[k] = input[k];
    return REEF_OK;
}

static int pad_shape_valid(const reef_pad_params *p, const reef_dims *in,
                           const reef_dims *out)
{
    const reef_dims *a = &p->before, *z = &p->after;
    if (a->n < 0 || a->h < 0 || a->w < 0 || a->c < 0 || z->n < 0 || z->h < 0 || z->w < 0 ||
        z->c < 0)
        return 0;
    return out->n == in->n + a->n + z->n && out->h == in->h + a->h + z->h &&
           out->w == in->w + a->w + z->w && out->c == in->c + a->c + z->c &&
           p->pad_value >= -128 && p->pad_value <= 127;
}

reef_status reef_pad_s8(const reef_pad_params *params,
                        const reef_dims *input_dims, const int8_t *input,
                        const reef_dims *output_dims, int8_t *output)
{
    int32_t b, y, x, c;
    if (!params || !input || !output || !reef_dims_valid(input_dims) ||
        !reef_dims_valid(output_dims) || !pad_shape_valid(params, input_dims, output_dims))
        return REEF_ARG_ERROR;
    for (b = 0; b < output_dims->n; b++)
        for (y = 0; y < output_dims->h; y++)
            for (x = 0; x < output_dims->w; x++)
                for (c = 0; c < output_dims->c; c++) {
                    const int32_t ib = b - params->before.n, iy = y - params->before.h;
                    const int32_t ix = x - params->before.w, ic = c - params->before.c;
                    const int inside = ib >= 0 && ib < input_dims->n && iy >= 0 &&
                                       iy < input_dims->h && ix >= 0 && ix < input_dims->w &&
                                       ic >= 0 && ic < input_dims->c;
                    *output++ = inside ? input[((ib * input_dims->h + iy) * input_dims->w + ix) *
                                                   input_dims->c + ic]
                                       : (int8_t)params->pad_value;
                }
    return REEF_OK;
}
