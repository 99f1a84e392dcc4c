/* Float32 convolution and depthwise convolution (see reef/float_ops.h).
 * Plain loops ordered so the innermost runs over contiguous channels. */
#include "reef/float_ops.h"

#include "check.h"

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

/* One output channel of a convolution at one pixel: bias, then the taps in
 * (KH, KW, C_IN) order. */
static float conv_dot(const reef_float_conv_args *a, const float *input, const float *w, float bias, int32_t y0,
                      int32_t x0, const int32_t lim[4])
{
    const reef_dims *in = &a->input_dims, *f = &a->filter_dims;
    float acc = bias;
    int32_t ky, kx, c;
    for (ky = lim[0]; ky < lim[1]; ky++)
        for (kx = lim[2]; kx < lim[3]; kx++) {
            const float *x = input + ((y0 + ky) * in->w + (x0 + kx)) * in->c; /* (C_IN) */
            const float *wk = w + (ky * f->w + kx) * f->c;                    /* (C_IN) */
            for (c = 0; c < f->c; c++) acc += x[c] * wk[c];
        }
    return acc;
}

/* Four output channels at once: each input value is loaded once for four
 * multiply-adds. Every channel sums in the same order as conv_dot, so the
 * result is the same bit for bit. */
static void conv_dot4(const reef_float_conv_args *a, const float *input, int32_t oc, int32_t y0, int32_t x0,
                      const int32_t lim[4], float *out)
{
    const reef_dims *in = &a->input_dims, *f = &a->filter_dims;
    const int32_t k = f->h * f->w * f->c;
    const float *w0 = a->filter + oc * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k; /* (KH, KW, C_IN) each */
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    int32_t ky, kx, c;
    if (a->bias) a0 = a->bias[oc], a1 = a->bias[oc + 1], a2 = a->bias[oc + 2], a3 = a->bias[oc + 3];
    for (ky = lim[0]; ky < lim[1]; ky++)
        for (kx = lim[2]; kx < lim[3]; kx++) {
            const float *x = input + ((y0 + ky) * in->w + (x0 + kx)) * in->c; /* (C_IN) */
            const int32_t off = (ky * f->w + kx) * f->c;
            for (c = 0; c < f->c; c++) {
                const float v = x[c];
                a0 += v * w0[off + c];
                a1 += v * w1[off + c];
                a2 += v * w2[off + c];
                a3 += v * w3[off + c];
            }
        }
    out[oc] = reef_clampf(a0, a->act), out[oc + 1] = reef_clampf(a1, a->act);
    out[oc + 2] = reef_clampf(a2, a->act), out[oc + 3] = reef_clampf(a3, a->act);
}

/* One output pixel of a convolution: all C_OUT channels. */
static void conv_pixel(const reef_float_conv_args *a, const float *input, int32_t oy, int32_t ox, float *out)
{
    const reef_dims *in = &a->input_dims, *f = &a->filter_dims;
    int32_t y0, x0, oc, lim[4]; /* window rows [lim[0], lim[1]), columns [lim[2], lim[3]) inside the input */
    window_range(oy, a->stride.h, a->padding.h, f->h, in->h, &y0, &lim[0], &lim[1]);
    window_range(ox, a->stride.w, a->padding.w, f->w, in->w, &x0, &lim[2], &lim[3]);
    for (oc = 0; oc + 4 <= f->n; oc += 4) conv_dot4(a, input, oc, y0, x0, lim, out);
    for (; oc < f->n; oc++)
        out[oc] = reef_clampf(
            conv_dot(a, input, a->filter + oc * f->h * f->w * f->c, a->bias ? a->bias[oc] : 0.0f, y0, x0, lim),
            a->act);
}

typedef void (*pixel_fn)(const reef_float_conv_args *a, const float *input, int32_t oy, int32_t ox, float *out);

/* Runs pixel (conv_pixel or dw_pixel) on every output pixel of every batch.
 * Always inlined: the call through pixel then becomes a direct, inlined
 * call (an indirect call per pixel cost the fish-s float build 7%). */
static inline __attribute__((always_inline)) reef_status each_pixel(const reef_float_conv_args *a,
                                                                    const float *input, float *output,
                                                                    pixel_fn pixel)
{
    const reef_dims *id = &a->input_dims, *od = &a->output_dims;
    int32_t b, oy, ox;
    for (b = 0; b < id->n; b++) {
        const float *in = input + b * id->h * id->w * id->c; /* (H_IN, W_IN, C_IN) */
        float *out = output + b * od->h * od->w * od->c;     /* (H_OUT, W_OUT, C_OUT) */
        for (oy = 0; oy < od->h; oy++)
            for (ox = 0; ox < od->w; ox++) pixel(a, in, oy, ox, out + (oy * od->w + ox) * od->c);
    }
    return REEF_OK;
}

reef_status reef_float_conv(const reef_float_conv_args *a, const float *input, float *output)
{
    if (!conv_args_valid(a, input, output) || a->filter_dims.c != a->input_dims.c ||
        a->filter_dims.n != a->output_dims.c)
        return REEF_ARG_ERROR;
    return each_pixel(a, input, output, conv_pixel);
}

/* Output channels [c, c + 4) of a depthwise convolution (multiplier 1) at
 * one pixel, kept in registers across the taps: bias, then the taps in
 * (KH, KW) order, as the general loop below sums them. */
static void dw_quad(const reef_float_conv_args *a, const float *input, int32_t c, int32_t y0, int32_t x0,
                    const int32_t lim[4], float *out)
{
    const reef_dims *in = &a->input_dims, *f = &a->filter_dims;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    int32_t ky, kx;
    if (a->bias) a0 = a->bias[c], a1 = a->bias[c + 1], a2 = a->bias[c + 2], a3 = a->bias[c + 3];
    for (ky = lim[0]; ky < lim[1]; ky++)
        for (kx = lim[2]; kx < lim[3]; kx++) {
            const float *x = input + ((y0 + ky) * in->w + (x0 + kx)) * in->c + c; /* (4) */
            const float *w = a->filter + (ky * f->w + kx) * f->c + c;             /* (4) */
            a0 += x[0] * w[0];
            a1 += x[1] * w[1];
            a2 += x[2] * w[2];
            a3 += x[3] * w[3];
        }
    out[c] = reef_clampf(a0, a->act), out[c + 1] = reef_clampf(a1, a->act);
    out[c + 2] = reef_clampf(a2, a->act), out[c + 3] = reef_clampf(a3, a->act);
}

/* One output pixel of a depthwise convolution. */
static void dw_pixel(const reef_float_conv_args *a, const float *input, int32_t oy, int32_t ox, float *out)
{
    const reef_dims *in = &a->input_dims, *f = &a->filter_dims;
    const int32_t mult = a->depth_multiplier, channels = f->c;
    int32_t y0, x0, ky, kx, c = 0, lim[4]; /* window rows [lim[0], lim[1]), columns [lim[2], lim[3]) */
    window_range(oy, a->stride.h, a->padding.h, f->h, in->h, &y0, &lim[0], &lim[1]);
    window_range(ox, a->stride.w, a->padding.w, f->w, in->w, &x0, &lim[2], &lim[3]);
    if (mult == 1)
        for (; c + 4 <= channels; c += 4) dw_quad(a, input, c, y0, x0, lim, out);
    for (; c < channels; c++) {
        float acc = a->bias ? a->bias[c] : 0.0f;
        for (ky = lim[0]; ky < lim[1]; ky++)
            for (kx = lim[2]; kx < lim[3]; kx++)
                acc += input[((y0 + ky) * in->w + (x0 + kx)) * in->c + c / mult] *
                       a->filter[(ky * f->w + kx) * channels + c];
        out[c] = reef_clampf(acc, a->act);
    }
}

reef_status reef_float_dw_conv(const reef_float_conv_args *a, const float *input, float *output)
{
    if (!conv_args_valid(a, input, output) || a->depth_multiplier < 1 || a->filter_dims.n != 1 ||
        a->filter_dims.c != a->output_dims.c || a->input_dims.c * a->depth_multiplier != a->output_dims.c)
        return REEF_ARG_ERROR;
    return each_pixel(a, input, output, dw_pixel);
}
