/* REDUCE_MAX over any axes and ARG_MAX over one (see reef/reduce.h). */
#include "reef/reduce.h"

#include "check.h"

reef_status reef_reduce_max_s8(const reef_dims *input_dims, int32_t axes, const int8_t *input, int8_t *output)
{
    int32_t n, h, w, c, k;
    if (!input_dims || !input || !output || !reef_dims_valid(input_dims) || axes < 0 || axes > 15)
        return REEF_ARG_ERROR;
    /* the output's extent along each axis: 1 where reduced */
    const int32_t on = axes & 8 ? 1 : input_dims->n, oh = axes & 4 ? 1 : input_dims->h;
    const int32_t ow = axes & 2 ? 1 : input_dims->w, oc = axes & 1 ? 1 : input_dims->c;
    for (k = 0; k < on * oh * ow * oc; k++) output[k] = -128;
    for (n = 0; n < input_dims->n; n++)
        for (h = 0; h < input_dims->h; h++)
            for (w = 0; w < input_dims->w; w++)
                for (c = 0; c < input_dims->c; c++) {
                    const int8_t v = *input++;
                    int8_t *o = output + (((axes & 8 ? 0 : n) * oh + (axes & 4 ? 0 : h)) * ow + (axes & 2 ? 0 : w)) * oc +
                                (axes & 1 ? 0 : c);
                    if (v > *o) *o = v;
                }
    return REEF_OK;
}

reef_status reef_reduce_max_step(const void *args, uint8_t *arena)
{
    const reef_reduce_step_args *a = (const reef_reduce_step_args *)args;
    return reef_reduce_max_s8(&a->input_dims, a->axes, (const int8_t *)(arena + a->io.input_at),
                              (int8_t *)(arena + a->io.output_at));
}

reef_status reef_arg_max_s8(int32_t outer, int32_t axis_size, int32_t inner, const int8_t *input, int32_t *output)
{
    int32_t o, i, k;
    if (!input || !output || outer < 1 || axis_size < 1 || inner < 1) return REEF_ARG_ERROR;
    for (o = 0; o < outer; o++)
        for (i = 0; i < inner; i++) {
            const int8_t *x = input + o * axis_size * inner + i;
            int8_t best = x[0];
            int32_t at = 0;
            for (k = 1; k < axis_size; k++)
                if (x[k * inner] > best) best = x[k * inner], at = k; /* strictly greater: the first wins ties */
            output[o * inner + i] = at;
        }
    return REEF_OK;
}

reef_status reef_arg_max_step(const void *args, uint8_t *arena)
{
    const reef_arg_max_step_args *a = (const reef_arg_max_step_args *)args;
    return reef_arg_max_s8(a->outer, a->axis_size, a->inner, (const int8_t *)(arena + a->io.input_at),
                           (int32_t *)(void *)(arena + a->io.output_at));
}
