/* reef_dw_conv_s8: depthwise convolution. 3x3 filters with stride 1 or 2
 * take the sliding-window paths of dw3x3.c (given its scratch); other
 * shapes with a depth multiplier of 1 go four channels per word (the input
 * offset added to the input halfwords by SADD16, products by 16x16
 * multiply-accumulates); other multipliers use the scalar reference. */
#include "reef/dw_conv.h"
#include "reef/requant.h"

#include "check.h"
#include "dsp.h"
#include "dw3x3.h"
#include "rq.h"

int32_t reef_dw_conv_s8_get_buffer_size(const reef_dw_conv_params *params,
                                        const reef_dims *input_dims,
                                        const reef_dims *filter_dims,
                                        const reef_dims *output_dims)
{
    if (reef_dw3x3_applies(params, input_dims, filter_dims, output_dims))
        return reef_dw3x3_buffer_size(params, input_dims, output_dims);
    return 0;
}

typedef struct dw_job {
    const reef_dw_conv_params *params;
    const reef_per_channel_quant *quant;
    const reef_dims *input_dims;
    const reef_dims *filter_dims;
    const int8_t *input;   /* (N, H_IN, W_IN, C) */
    const int8_t *filter;  /* (1, KH, KW, C) */
    const int32_t *bias;   /* (C) or NULL */
} dw_job;

/* The taps of one output pixel that fall inside the input: rows
 * [ky0, ky1) and columns [kx0, kx1) of the filter, the window starting at
 * (y0, x0) of image b. Computed once per pixel. */
typedef struct dw_taps {
    int32_t b, y0, x0, ky0, ky1, kx0, kx1;
    const int8_t *px;   /* input at the first valid tap, channel 0 */
    const int8_t *w;    /* filter at the first valid tap, channel 0 */
    int32_t px_row, w_row;   /* bytes between filter rows in input and filter */
    int32_t px_step, w_step; /* bytes between taps of a row */
} dw_taps;

/* First k >= 0 with start + k * step >= 0, and the end of k with
 * start + k * step < size, clipped to [0, taps]. */
static void clip_taps(int32_t start, int32_t step, int32_t size, int32_t taps, int32_t *k0,
                      int32_t *k1)
{
    int32_t lo = start < 0 ? (-start + step - 1) / step : 0;
    int32_t hi = start < size ? (size - 1 - start) / step + 1 : 0;
    *k0 = lo;
    *k1 = hi < taps ? hi : taps;
}

/* One filter row's n valid taps of four channels into s0..s3 (channels
 * c, c+1, c+2, c+3): per tap a word of input (offset added halfwise) and a
 * word of filter, four 16x16 multiply-accumulates. */
static inline void dw_taps4_c(const int8_t *px, const int8_t *w, int32_t px_step, int32_t w_step,
                              int32_t n, int32_t offsets, int32_t *s0, int32_t *s1, int32_t *s2,
                              int32_t *s3)
{
    for (; n > 0; n--, px += px_step, w += w_step) {
        const uint32_t xw = reef_load_u32(px), ww = reef_load_u32(w);
        const int32_t xe = reef_sadd16(reef_sxtb16(xw), offsets);
        const int32_t xo = reef_sadd16(reef_sxtb16_ror8(xw), offsets);
        const int32_t we = reef_sxtb16(ww), wo = reef_sxtb16_ror8(ww);
        *s0 += reef_half_lo(xe) * reef_half_lo(we);
        *s1 += reef_half_lo(xo) * reef_half_lo(wo);
        *s2 += reef_half_hi(xe) * reef_half_hi(we);
        *s3 += reef_half_hi(xo) * reef_half_hi(wo);
    }
}

#if defined(REEF_ASM_LOOPS)
/* The same on the M4 when input and filter step alike (no dilation):
 * 14 instructions per tap. */
static inline void dw_taps4(const int8_t *px, const int8_t *w, int32_t px_step, int32_t w_step,
                            int32_t n, int32_t offsets, int32_t *s0, int32_t *s1, int32_t *s2,
                            int32_t *s3)
{
    int32_t a0 = *s0, a1 = *s1, a2 = *s2, a3 = *s3, xe, xo, we, wo;
    if (px_step != w_step) {
        dw_taps4_c(px, w, px_step, w_step, n, offsets, s0, s1, s2, s3);
        return;
    }
    int32_t i = (n - 1) * px_step; /* taps last to first: integer sums, any order */
    if (n <= 0) return;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[xo], [%[px], %[i]]\n\t"
        "ldr %[wo], [%[w], %[i]]\n\t"
        "sxtb16 %[xe], %[xo]\n\t"
        "sxtb16 %[xo], %[xo], ror #8\n\t"
        "sadd16 %[xe], %[xe], %[off]\n\t"
        "sadd16 %[xo], %[xo], %[off]\n\t"
        "sxtb16 %[we], %[wo]\n\t"
        "sxtb16 %[wo], %[wo], ror #8\n\t"
        "smlabb %[a0], %[xe], %[we], %[a0]\n\t"
        "smlabb %[a1], %[xo], %[wo], %[a1]\n\t"
        "smlatt %[a2], %[xe], %[we], %[a2]\n\t"
        "smlatt %[a3], %[xo], %[wo], %[a3]\n\t"
        "subs %[i], %[i], %[step]\n\t"
        "bpl 1b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [i] "+r"(i),
          [xe] "=&r"(xe), [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)
        : [px] "r"(px), [w] "r"(w), [step] "r"(px_step), [off] "r"(offsets)
        : "cc", "memory");
    *s0 = a0, *s1 = a1, *s2 = a2, *s3 = a3;
}
#else
static inline void dw_taps4(const int8_t *px, const int8_t *w, int32_t px_step, int32_t w_step,
                            int32_t n, int32_t offsets, int32_t *s0, int32_t *s1, int32_t *s2,
                            int32_t *s3)
{
    dw_taps4_c(px, w, px_step, w_step, n, offsets, s0, s1, s2, s3);
}
#endif

/* Sums of channels c..c+3 over the valid taps. */
static void dw_sums4(const dw_job *job, const dw_taps *t, int32_t c, int32_t sums[4])
{
    const int32_t off = job->params->input_offset;
    const int32_t offsets = (int32_t)(((uint32_t)off & 0xffffu) | ((uint32_t)off << 16));
    const int8_t *px = t->px + c, *w = t->w + c;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, ky;
    for (ky = t->ky0; ky < t->ky1; ky++, px += t->px_row, w += t->w_row)
        dw_taps4(px, w, t->px_step, t->w_step, t->kx1 - t->kx0, offsets, &s0, &s1, &s2, &s3);
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
}

/* Sum of one channel c (the tail that is not a multiple of 4). */
static int32_t dw_sum1(const dw_job *job, const dw_taps *t, int32_t c)
{
    const reef_dims *in = job->input_dims, *f = job->filter_dims;
    int32_t s = 0, ky, kx;
    for (ky = t->ky0; ky < t->ky1; ky++) {
        const int32_t y = t->y0 + ky * job->params->dilation.h;
        for (kx = t->kx0; kx < t->kx1; kx++) {
            const int32_t x = t->x0 + kx * job->params->dilation.w;
            s += job->filter[(ky * f->w + kx) * in->c + c] *
                 (job->input[((t->b * in->h + y) * in->w + x) * in->c + c] +
                  job->params->input_offset);
        }
    }
    return s;
}

static int8_t dw_finish(const dw_job *job, int32_t c, int32_t sum)
{
    const reef_dw_conv_params *p = job->params;
    const int32_t mult = job->quant->multiplier[c], shift = job->quant->shift[c];
    if (shift < 0 && shift >= -31) {
        /* rq.h's exact form (constants made per output: there is no scratch) */
        reef_rq q;
        reef_rq_init(&q, job->bias ? job->bias[c] : 0, mult, shift);
        return reef_rq_s8(sum, &q, p->output_offset, p->activation.min, p->activation.max);
    }
    return reef_requantize_s8(sum + (job->bias ? job->bias[c] : 0), job->quant->multiplier[c],
                              job->quant->shift[c], p->output_offset, p->activation.min,
                              p->activation.max);
}

static void dw_tap_pointers(const dw_job *job, dw_taps *t)
{
    const reef_dims *in = job->input_dims, *f = job->filter_dims;
    const reef_dw_conv_params *p = job->params;
    const int32_t y = t->y0 + t->ky0 * p->dilation.h, x = t->x0 + t->kx0 * p->dilation.w;
    t->px = job->input + ((t->b * in->h + y) * in->w + x) * in->c;
    t->w = job->filter + (t->ky0 * f->w + t->kx0) * in->c;
    t->px_row = p->dilation.h * in->w * in->c;
    t->w_row = f->w * in->c;
    t->px_step = p->dilation.w * in->c;
    t->w_step = in->c;
}

static void dw_pixel(const dw_job *job, int32_t b, int32_t y, int32_t x, int8_t *out)
{
    const reef_dw_conv_params *p = job->params;
    const int32_t channels = job->input_dims->c;
    int32_t c = 0, sums[4];
    dw_taps t;
    t.b = b;
    t.y0 = y * p->stride.h - p->padding.h;
    t.x0 = x * p->stride.w - p->padding.w;
    clip_taps(t.y0, p->dilation.h, job->input_dims->h, job->filter_dims->h, &t.ky0, &t.ky1);
    clip_taps(t.x0, p->dilation.w, job->input_dims->w, job->filter_dims->w, &t.kx0, &t.kx1);
    dw_tap_pointers(job, &t);
    for (; c + 4 <= channels; c += 4) {
        dw_sums4(job, &t, c, sums);
        out[c] = dw_finish(job, c, sums[0]);
        out[c + 1] = dw_finish(job, c + 1, sums[1]);
        out[c + 2] = dw_finish(job, c + 2, sums[2]);
        out[c + 3] = dw_finish(job, c + 3, sums[3]);
    }
    for (; c < channels; c++) out[c] = dw_finish(job, c, dw_sum1(job, &t, c));
}

int reef_dw_conv_s8_needs_reference(const reef_dw_conv_params *params)
{
    return params->depth_multiplier != 1 || params->input_offset < -127 ||
           params->input_offset > 128;
}

/* 1 when every channel takes rq.h's exact form (dw3x3 needs it). */
static int dw_quant_fast(const reef_per_channel_quant *quant, int32_t channels)
{
    reef_rq q;
    int32_t c;
    int fast = 1;
    for (c = 0; c < channels; c++) fast &= reef_rq_init(&q, 0, quant->multiplier[c], quant->shift[c]);
    return fast;
}

/* The path by the shapes alone (a 3x3 layer with a left shift then goes
 * pixel by pixel after all: reef_dw3x3_run refuses it). */
static int dw_shape_path(const reef_dw_conv_params *params, const reef_dims *input_dims,
                         const reef_dims *filter_dims, const reef_dims *output_dims, int32_t scratch_size)
{
    if (reef_dw3x3_applies(params, input_dims, filter_dims, output_dims) &&
        scratch_size >= reef_dw3x3_buffer_size(params, input_dims, output_dims)) {
        if (reef_dw3x3_plane(params, output_dims)) return REEF_DW_PATH_3X3_PLANE;
        return params->stride.w == 1 ? REEF_DW_PATH_3X3_ROWS_S1 : REEF_DW_PATH_3X3_ROWS_S2;
    }
    return reef_dw_conv_s8_needs_reference(params) ? REEF_DW_PATH_COUNT : REEF_DW_PATH_PIXELS;
}

/* The path by shapes and constants: a 3x3 layer whose map and channels
 * suit the map loop takes it (reef_dw3x3_map). */
static int dw_full_path(const reef_dw_conv_params *params, const reef_per_channel_quant *quant,
                        const reef_dims *input_dims, const reef_dims *filter_dims,
                        const reef_dims *output_dims, int32_t scratch_size)
{
    const int path = dw_shape_path(params, input_dims, filter_dims, output_dims, scratch_size);
    /* a build without the map loop has no layer that takes it (the model
     * header's REEF_DW_PATHS), so the test is compiled out */
    if (DW_HAS(REEF_DW_PATH_3X3_MAP) && path < REEF_DW_PATH_3X3_MAP &&
        reef_dw3x3_map(params, quant, input_dims, output_dims))
        return REEF_DW_PATH_3X3_MAP;
    return path;
}

int reef_dw_conv_s8_path(const reef_dw_conv_params *params, const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const reef_dims *filter_dims,
                         const reef_dims *output_dims, int32_t scratch_size)
{
    const int path = dw_full_path(params, quant, input_dims, filter_dims, output_dims, scratch_size);
    return path < REEF_DW_PATH_PIXELS && !dw_quant_fast(quant, input_dims->c) ? REEF_DW_PATH_PIXELS : path;
}

reef_status reef_dw_conv_s8(const reef_context *ctx, const reef_dw_conv_params *params,
                            const reef_per_channel_quant *quant,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const reef_dims *output_dims, int8_t *output)
{
    dw_job job;
    int32_t b, y, x;
    int path;
    if (!reef_dw_conv_args_valid(params, quant, input_dims, input, filter_dims, filter,
                                 output_dims, output))
        return REEF_ARG_ERROR;
    path = dw_shape_path(params, input_dims, filter_dims, output_dims, ctx && ctx->buf ? ctx->size : 0);
    /* reef_dw3x3_run chooses between the map loop and the shape's loop
     * itself (from the constants it makes anyway), and returns 0 for a
     * channel the sliding window cannot requantize (a left shift: the
     * per-pixel path below takes any shift, reef_dw_conv_s8_path) or a loop
     * left out of this build (REEF_DW_PATHS) */
    if (path < REEF_DW_PATH_PIXELS) {
        if ((DW_HAS(path) || DW_HAS(REEF_DW_PATH_3X3_MAP)) &&
            reef_dw3x3_run(ctx, params, quant, input_dims, input, filter, bias, output_dims, output))
            return REEF_OK;
        if (dw_quant_fast(quant, input_dims->c)) return REEF_UNSUPPORTED; /* left out of this build */
        path = REEF_DW_PATH_PIXELS;
    }
    if (path == REEF_DW_PATH_COUNT)
#if defined(REEF_NO_REFERENCE_KERNELS)
        return REEF_UNSUPPORTED;
#else
        return reef_dw_conv_s8_ref(ctx, params, quant, input_dims, input, filter_dims, filter,
                                   bias, output_dims, output);
#endif
    job.params = params;
    job.quant = quant;
    job.input_dims = input_dims;
    job.filter_dims = filter_dims;
    job.input = input;
    job.filter = filter;
    job.bias = bias;
    if (!DW_HAS(REEF_DW_PATH_PIXELS)) return REEF_UNSUPPORTED; /* left out of this build */
    for (b = 0; b < output_dims->n; b++)
        for (y = 0; y < output_dims->h; y++)
            for (x = 0; x < output_dims->w; x++, output += output_dims->c)
                dw_pixel(&job, b, y, x, output);
    return REEF_OK;
}
