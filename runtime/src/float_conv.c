/* Float32 convolution and depthwise convolution (see reef/float_ops.h).
 * Plain loops ordered so the innermost runs over contiguous channels. */
#include "reef/float_ops.h"

#include "check.h"

static float clampf(float v, reef_float_act act)
{
    return v < act.min ? act.min : (v > act.max ? act.max : v);
}

/* The window's rows (or columns) [*lo, *hi) that fall inside the input. */
static void window_range(int32_t out_pos, int32_t stride, int32_t pad, int32_t k, int32_t in_size,
                         int32_t *start, int32_t *lo, int32_t *hi)
{
    *start = out_pos * stride - pad;
    *lo = *start < 0 ? -*start : 0;
    *hi = *start + k > in_size ? in_size - *start : k;
}

static int conv_args_valid(const reef_float_conv_args *a, const float *input, const float *output)
{
    return a && input && output && a->filter && reef_dims_valid(&a->input_dims) &&
           reef_dims_valid(&a->filter_dims) && reef_dims_valid(&a->output_dims) &&
           reef_window_valid(&a->stride, &a->padding) && a->output_dims.n == a->input_dims.n;
}

/* One output pixel of a convolution: all C_OUT channels. */
static void conv_pixel(const reef_float_conv_args *a, const float *input, int32_t oy, int32_t ox,
                       float *out)
{
    const reef_dims *in = &a->input_dims, *f = &a->filter_dims;
    int32_t y0, ky_lo, ky_hi, x0, kx_lo, kx_hi, oc, ky, kx, c;
    window_range(oy, a->stride.h, a->padding.h, f->h, in->h, &y0, &ky_lo, &ky_hi);
    window_range(ox, a->stride.w, a->padding.w, f->w, in->w, &x0, &kx_lo, &kx_hi);
    for (oc = 0; oc < f->n; oc++) {
        const float *w = a->filter + (int32_t)oc * f->h * f->w * f->c; /* (KH, KW, C_IN) */
        float acc = a->bias ? a->bias[oc] : 0.0f;
        for (ky = ky_lo; ky < ky_hi; ky++)
            for (kx = kx_lo; kx < kx_hi; kx++) {
                const float *x = input + ((y0 + ky) * in->w + (x0 + kx)) * in->c; /* (C_IN) */
                const float *wk = w + (ky * f->w + kx) * f->c;                    /* (C_IN) */
                for (c = 0; c < f->c; c++) acc += x[c] * wk[c];
            }
        out[oc] = clampf(acc, a->act);
    }
}

reef_status reef_float_conv(const reef_float_conv_args *a, const float *input, float *output)
{
    int32_t b, oy, ox;
    if (!conv_args_valid(a, input, output) || a->filter_dims.c != a->input_dims.c ||
        a->filter_dims.n != a->output_dims.c)
        return REEF_ARG_ERROR;
    for (b = 0; b < a->input_dims.n; b++) {
        const float *in = input + b * a->input_dims.h * a->input_dims.w * a->input_dims.c;
        float *out = output + b * a->output_dims.h * a->output_dims.w * a->output_dims.c;
        for (oy = 0; oy < a->output_dims.h; oy++)
            for (ox = 0; ox < a->output_dims.w; ox++)
                conv_pixel(a, in, oy, ox, out + (oy * a->output_dims.w + ox) * a->output_dims.c);
    }
    return REEF_OK;
}

/* One output pixel of a depthwise convolution, accumulated in place. */
static void dw_pixel(const reef_float_conv_args *a, const float *input, int32_t oy, int32_t ox,
                     float *out)
{
    const reef_dims *in = &a->input_dims, *f = &a->filter_dims;
    const int32_t mult = a->depth_multiplier, channels = f->c;
    int32_t y0, ky_lo, ky_hi, x0, kx_lo, kx_hi, ky, kx, c;
    window_range(oy, a->stride.h, a->padding.h, f->h, in->h, &y0, &ky_lo, &ky_hi);
    window_range(ox, a->stride.w, a->padding.w, f->w, in->w, &x0, &kx_lo, &kx_hi);
    for (c = 0; c < channels; c++) out[c] = a->bias ? a->bias[c] : 0.0f;
    for (ky = ky_lo; ky < ky_hi; ky++)
        for (kx = kx_lo; kx < kx_hi; kx++) {
            const float *x = input + ((y0 + ky) * in->w + (x0 + kx)) * in->c; /* (C_IN) */
            const float *w = a->filter + (ky * f->w + kx) * channels;         /* (C_OUT) */
            if (mult == 1)
                for (c = 0; c < channels; c++) out[c] += x[c] * w[c];
            else
                for (c = 0; c < channels; c++) out[c] += x[c / mult] * w[c];
        }
    for (c = 0; c < channels; c++) out[c] = clampf(out[c], a->act);
}

reef_status reef_float_dw_conv(const reef_float_conv_args *a, const float *input, float *output)
{
    int32_t b, oy, ox;
    if (!conv_args_valid(a, input, output) || a->depth_multiplier < 1 || a->filter_dims.n != 1 ||
        a->filter_dims.c != a->output_dims.c || a->input_dims.c * a->depth_multiplier != a->output_dims.c)
        return REEF_ARG_ERROR;
    for (b = 0; b < a->input_dims.n; b++) {
        const float *in = input + b * a->input_dims.h * a->input_dims.w * a->input_dims.c;
        float *out = output + b * a->output_dims.h * a->output_dims.w * a->output_dims.c;
        for (oy = 0; oy < a->output_dims.h; oy++)
            for (ox = 0; ox < a->output_dims.w; ox++)
                dw_pixel(a, in, oy, ox, out + (oy * a->output_dims.w + ox) * a->output_dims.c);
    }
    return REEF_OK;
}
