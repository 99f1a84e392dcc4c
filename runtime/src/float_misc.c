/* Float32 fully connected, add, pools and copy, and the step functions that
 * resolve arena offsets for every float kernel (see reef/float_ops.h). */
#include "reef/float_ops.h"

#include "check.h"

reef_status reef_float_fc(const reef_float_fc_args *a, const float *input, float *output)
{
    int32_t b, o, i;
    if (!a || !input || !output || !a->filter || a->batches < 1 || a->in_features < 1 || a->out_features < 1)
        return REEF_ARG_ERROR;
    for (b = 0; b < a->batches; b++) {
        const float *x = input + b * a->in_features; /* (C_IN) */
        for (o = 0; o < a->out_features; o++) {
            const float *w = a->filter + o * a->in_features; /* (C_IN) */
            float acc = a->bias ? a->bias[o] : 0.0f;
            for (i = 0; i < a->in_features; i++) acc += x[i] * w[i];
            output[b * a->out_features + o] = reef_clampf(acc, a->act);
        }
    }
    return REEF_OK;
}

/* One output cell of a pool: the window clipped to the input. */
static void pool_pixel(const reef_float_pool_args *a, int is_max, const float *input, int32_t oy,
                       int32_t ox, float *out)
{
    const reef_dims *in = &a->input_dims;
    int32_t y0 = oy * a->stride.h - a->padding.h, x0 = ox * a->stride.w - a->padding.w;
    int32_t y_lo = y0 < 0 ? 0 : y0, x_lo = x0 < 0 ? 0 : x0;
    int32_t y_hi = y0 + a->filter.h > in->h ? in->h : y0 + a->filter.h;
    int32_t x_hi = x0 + a->filter.w > in->w ? in->w : x0 + a->filter.w;
    int32_t c, y, x, cells = (y_hi - y_lo) * (x_hi - x_lo);
    for (c = 0; c < in->c; c++) {
        float acc = is_max ? input[(y_lo * in->w + x_lo) * in->c + c] : 0.0f;
        for (y = y_lo; y < y_hi; y++)
            for (x = x_lo; x < x_hi; x++) {
                float v = input[(y * in->w + x) * in->c + c];
                if (is_max)
                    acc = v > acc ? v : acc;
                else
                    acc += v;
            }
        if (!is_max) acc = cells > 0 ? acc / (float)cells : 0.0f;
        out[c] = reef_clampf(acc, a->act);
    }
}

reef_status reef_float_pool(const reef_float_pool_args *a, int is_max, const float *input, float *output)
{
    int32_t b, oy, ox;
    if (!a || !input || !output || !reef_dims_valid(&a->input_dims) || !reef_dims_valid(&a->output_dims) ||
        !reef_window_valid(&a->stride, &a->padding) || a->filter.h < 1 || a->filter.w < 1 ||
        a->input_dims.c != a->output_dims.c || a->input_dims.n != a->output_dims.n)
        return REEF_ARG_ERROR;
    for (b = 0; b < a->input_dims.n; b++) {
        const float *in = input + b * a->input_dims.h * a->input_dims.w * a->input_dims.c;
        float *out = output + b * a->output_dims.h * a->output_dims.w * a->output_dims.c;
        for (oy = 0; oy < a->output_dims.h; oy++)
            for (ox = 0; ox < a->output_dims.w; ox++)
                pool_pixel(a, is_max, in, oy, ox, out + (oy * a->output_dims.w + ox) * a->output_dims.c);
    }
    return REEF_OK;
}

/* ---- steps ---------------------------------------------------------------- */

static const float *in_at(uint8_t *arena, uint32_t at) { return (const float *)(void *)(arena + at); }
static float *out_at(uint8_t *arena, uint32_t at) { return (float *)(void *)(arena + at); }

reef_status reef_float_conv_step(const void *args, uint8_t *arena)
{
    const reef_float_conv_args *a = (const reef_float_conv_args *)args;
    return reef_float_conv(a, in_at(arena, a->io.input_at), out_at(arena, a->io.output_at));
}

reef_status reef_float_dw_conv_step(const void *args, uint8_t *arena)
{
    const reef_float_conv_args *a = (const reef_float_conv_args *)args;
    return reef_float_dw_conv(a, in_at(arena, a->io.input_at), out_at(arena, a->io.output_at));
}

reef_status reef_float_fc_step(const void *args, uint8_t *arena)
{
    const reef_float_fc_args *a = (const reef_float_fc_args *)args;
    return reef_float_fc(a, in_at(arena, a->io.input_at), out_at(arena, a->io.output_at));
}

reef_status reef_float_add_step(const void *args, uint8_t *arena)
{
    const reef_float_add_args *a = (const reef_float_add_args *)args;
    const float *x = in_at(arena, a->io.input_at), *y = in_at(arena, a->io.input2_at);
    float *out = out_at(arena, a->io.output_at);
    int32_t i;
    if (a->count < 0) return REEF_ARG_ERROR;
    for (i = 0; i < a->count; i++) out[i] = reef_clampf(x[i] + y[i], a->act);
    return REEF_OK;
}

reef_status reef_float_avgpool_step(const void *args, uint8_t *arena)
{
    const reef_float_pool_args *a = (const reef_float_pool_args *)args;
    return reef_float_pool(a, 0, in_at(arena, a->io.input_at), out_at(arena, a->io.output_at));
}

reef_status reef_float_maxpool_step(const void *args, uint8_t *arena)
{
    const reef_float_pool_args *a = (const reef_float_pool_args *)args;
    return reef_float_pool(a, 1, in_at(arena, a->io.input_at), out_at(arena, a->io.output_at));
}

reef_status reef_float_copy_step(const void *args, uint8_t *arena)
{
    const reef_float_copy_args *a = (const reef_float_copy_args *)args;
    const float *in = in_at(arena, a->io.input_at);
    float *out = out_at(arena, a->io.output_at);
    int32_t i;
    if (a->count < 0) return REEF_ARG_ERROR;
    if (in != out)
        for (i = 0; i < a->count; i++) out[i] = in[i];
    return REEF_OK;
}
