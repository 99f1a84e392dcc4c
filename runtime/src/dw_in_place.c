/* reef_dw_conv_s8_in_place: depthwise convolution whose output overwrites
 * its input (TinyEngine's in-place depthwise, Lin et al., MCUNet, NeurIPS
 * 2020), so a layer needs its input's bytes plus one channel's plane
 * instead of input plus output.
 *
 * Why it is safe: with one batch, a depth multiplier of 1 and no more output
 * positions than input positions, output value (p, c) lives at byte
 * p * C + c, which holds input value (p, c): the same channel. The kernel
 * works channel by channel: it first copies channel c's whole plane into
 * scratch (widened to int16 with the input offset added, inside a border
 * of zeros that stands for the padding), then computes channel c's outputs
 * from the copy, overwriting only channel c's input values, which it has
 * already copied. Other channels' values are untouched until their turn.
 *
 * Not idempotent: once a channel is written its input is gone, so an
 * intermittent (resumable) step table never uses it (the planner's choice).
 *
 * Inner loop: taps in pairs along a kernel row (SMLAD of two int16 plane
 * values against two int16 weights, prepared once per channel); an odd
 * kernel width pairs its last tap with a zero weight and reads one halfword
 * of the plane's extra column. Output rows whose whole 3x3, 5x5 or 7x7
 * window lies inside the input (no dilation along rows, fast
 * requantization) run unrolled, two outputs per pass (3x3: the six weight
 * words in locals); KWS --memory min, 3x3 layers: 11.81 -> 9.07
 * instructions per MAC (emulated; the sliding window of dw3x3.c takes
 * 3.84). */
#include "reef/dw_conv.h"
#include "reef/requant.h"

#include "check.h"
#include "dsp.h"
#include "rq.h"

/* The padded plane: every row and column an output window reaches, plus
 * the spare column an odd kernel width's zero-weighted last pair reads
 * (one dilation step past the window). */
static int32_t plane_h(const reef_dw_conv_params *p, const reef_dims *f, const reef_dims *out)
{
    return (out->h - 1) * p->stride.h + (f->h - 1) * p->dilation.h + 1;
}

static int32_t plane_w(const reef_dw_conv_params *p, const reef_dims *f, const reef_dims *out)
{
    return (out->w - 1) * p->stride.w + f->w * p->dilation.w + 1;
}

static int32_t round4(int32_t v) { return (v + 3) & ~3; }

/* Two int16 values as one SMLAD operand, lo in the low halfword. */
static inline int32_t pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
}

int reef_dw_conv_s8_can_run_in_place(const reef_dw_conv_params *params, const reef_dims *input_dims,
                                     const reef_dims *filter_dims, const reef_dims *output_dims)
{
    if (!params || !input_dims || !filter_dims || !output_dims) return 0;
    return params->depth_multiplier == 1 && input_dims->n == 1 && output_dims->n == 1 &&
           output_dims->c == input_dims->c && filter_dims->h >= 1 && filter_dims->w >= 1 &&
           output_dims->h * output_dims->w <= input_dims->h * input_dims->w &&
           params->input_offset >= -127 && params->input_offset <= 128;
}

int32_t reef_dw_conv_s8_in_place_buffer_size(const reef_dw_conv_params *params,
                                             const reef_dims *filter_dims,
                                             const reef_dims *output_dims)
{
    const int32_t pairs = (filter_dims->w + 1) / 2;
    return round4(2 * plane_h(params, filter_dims, output_dims) * plane_w(params, filter_dims, output_dims)) +
           4 * filter_dims->h * pairs;
}

/* Channel c of the input into the plane, offset added; the border stays 0. */
static void load_plane(const reef_dw_conv_params *p, const reef_dims *in, const int8_t *data, int32_t c,
                       int16_t *plane, int32_t ph, int32_t pw)
{
    int32_t y, x;
    for (y = 0; y < in->h; y++) {
        const int32_t py = y + p->padding.h;
        const int8_t *src = data + y * in->w * in->c + c;
        int16_t *row = plane + py * pw + p->padding.w;
        if (py >= ph) break;
        for (x = 0; x < in->w && x + p->padding.w < pw; x++)
            row[x] = (int16_t)(src[x * in->c] + p->input_offset);
    }
}

/* Channel c's taps as int16 pairs along each kernel row, (KH, (KW+1)/2). */
static void load_weights(const reef_dims *f, const int8_t *filter, int32_t c, int32_t c_out, int32_t *pairs)
{
    const int32_t full = f->w / 2;
    const int8_t *w = filter + c;
    int32_t ky, j;
    for (ky = 0; ky < f->h; ky++) {
        for (j = 0; j < full; j++, w += 2 * c_out) *pairs++ = pack16(w[0], w[c_out]);
        if (f->w & 1) {
            *pairs++ = pack16(w[0], 0);
            w += c_out;
        }
    }
}

/* One kernel row without dilation: pairs of adjacent plane halfwords
 * read as words, unrolled for kernels up to 8 wide. */
static inline int32_t row_sum(const int16_t *row, const int32_t *w, int32_t np, int32_t acc)
{
    const int8_t *at = (const int8_t *)row;
    int32_t j;
    switch (np) {
    case 4: acc = reef_smlad((int32_t)reef_load_u32(at + 12), w[3], acc); /* fall through */
    case 3: acc = reef_smlad((int32_t)reef_load_u32(at + 8), w[2], acc);  /* fall through */
    case 2: acc = reef_smlad((int32_t)reef_load_u32(at + 4), w[1], acc);  /* fall through */
    case 1: return reef_smlad((int32_t)reef_load_u32(at), w[0], acc);
    default:
        for (j = 0; j < np; j++) acc = reef_smlad((int32_t)reef_load_u32(at + 4 * j), w[j], acc);
        return acc;
    }
}

/* The kernel rows [ky0, ky1) of output row oy that meet input rows (the
 * others see only the zero border and add nothing). */
static void live_rows(const reef_dw_conv_params *p, const reef_dims *in, const reef_dims *f, int32_t oy,
                      int32_t *ky0, int32_t *ky1)
{
    const int32_t top = oy * p->stride.h - p->padding.h, dh = p->dilation.h;
    int32_t lo = 0, hi = f->h;
    while (lo < hi && top + lo * dh < 0) lo++;
    while (hi > lo && top + (hi - 1) * dh >= in->h) hi--;
    *ky0 = lo, *ky1 = hi;
}

/* rows kernel rows from top, np tap pairs a row, row_step halfwords
 * apart; dw: the dilation along a row. */
static inline int32_t window_sum(const int16_t *top, int32_t rows, int32_t row_step, int32_t np, int32_t dw,
                                 const int32_t *pairs, int32_t acc)
{
    int32_t ky, j;
    if (dw == 1) {
        for (ky = 0; ky < rows; ky++, top += row_step, pairs += np) acc = row_sum(top, pairs, np, acc);
        return acc;
    }
    for (ky = 0; ky < rows; ky++, top += row_step, pairs += np)
        for (j = 0; j < np; j++) acc = reef_smlad(pack16(top[2 * j * dw], top[(2 * j + 1) * dw]), pairs[j], acc);
    return acc;
}

#if defined(__GNUC__) && !defined(__clang__)
#define DW_UNROLL _Pragma("GCC unroll 8")
#else
#define DW_UNROLL
#endif

/* A whole window of kh rows of np tap pairs (no dilation along rows, every
 * row inside the input); kh and np are constants after inlining, so the
 * loops unroll. rs: bytes between rows. */
static inline __attribute__((always_inline)) int32_t full_window(const int8_t *at, int32_t rs, const int32_t *w,
                                                                 const int kh, const int np, int32_t acc)
{
    int ky, j;
    DW_UNROLL
    for (ky = 0; ky < kh; ky++) {
        DW_UNROLL
        for (j = 0; j < np; j++) acc = reef_smlad((int32_t)reef_load_u32(at + ky * rs + 4 * j), w[ky * np + j], acc);
    }
    return acc;
}

/* Output row values whose whole window is inside (fast requantization):
 * the window unrolled, two outputs per pass. step: bytes between
 * neighbouring outputs' windows. */
static inline __attribute__((always_inline)) void full_row(const int8_t *at, int32_t step, int32_t rs, int32_t ow,
                                                           const int32_t *w, const reef_rq *q, int32_t start,
                                                           int32_t zp, int32_t lo, int32_t hi, int32_t c_out,
                                                           int8_t *o, const int kh, const int np)
{
    int32_t ox, a0, a1;
    for (ox = 0; ox + 2 <= ow; ox += 2, at += 2 * step, o += 2 * c_out) {
        a0 = full_window(at, rs, w, kh, np, start);
        a1 = full_window(at + step, rs, w, kh, np, start);
        o[0] = reef_rq_s8(a0, q, zp, lo, hi);
        o[c_out] = reef_rq_s8(a1, q, zp, lo, hi);
    }
    if (ox < ow) *o = reef_rq_s8(full_window(at, rs, w, kh, np, start), q, zp, lo, hi);
}

/* full_row for 3x3 with the six weight words in locals (registers). */
static void full_row_3x3(const int8_t *at, int32_t step, int32_t rs, int32_t ow, const int32_t *pairs,
                         const reef_rq *q, int32_t start, int32_t zp, int32_t lo, int32_t hi, int32_t c_out,
                         int8_t *o)
{
    const int32_t w[6] = {pairs[0], pairs[1], pairs[2], pairs[3], pairs[4], pairs[5]};
    full_row(at, step, rs, ow, w, q, start, zp, lo, hi, c_out, o, 3, 2);
}

/* full_row for the square kernels TinyEngine-style nets use (3x3, 5x5,
 * 7x7); 0 when the shape is another. */
static int full_row_square(const int16_t *row, int32_t sw, int32_t rs, int32_t ow, const int32_t *pairs,
                           const reef_rq *q, int32_t start, int32_t zp, int32_t lo, int32_t hi, int32_t c_out,
                           int8_t *o, int32_t kh, int32_t np)
{
    const int8_t *at = (const int8_t *)row;
    if (kh == 3 && np == 2) full_row_3x3(at, 2 * sw, rs, ow, pairs, q, start, zp, lo, hi, c_out, o);
    else if (kh == 5 && np == 3) full_row(at, 2 * sw, rs, ow, pairs, q, start, zp, lo, hi, c_out, o, 5, 3);
    else if (kh == 7 && np == 4) full_row(at, 2 * sw, rs, ow, pairs, q, start, zp, lo, hi, c_out, o, 7, 4);
    else return 0;
    return 1;
}

/* Channel c's outputs from its plane; fast: the two-SMLAL requantization
 * is exact for the channel (else TFLite's scalar one). Every parameter is
 * read into a local first: the int8 stores may alias any struct, and the
 * compiler would otherwise reload them after each one. */
static void channel_outputs(const reef_dw_conv_params *p, const reef_per_channel_quant *quant, const reef_dims *in,
                            const reef_dims *f, const reef_dims *out, const int16_t *plane, int32_t pw,
                            const int32_t *pairs, int32_t c, int32_t start, const reef_rq *rq, int8_t *data, int fast)
{
    const int32_t np = (f->w + 1) / 2, zp = p->output_offset, lo = p->activation.min, hi = p->activation.max;
    const int32_t sh = p->stride.h, sw = p->stride.w, dh = p->dilation.h, dw = p->dilation.w;
    const int32_t oh = out->h, ow = out->w, c_out = out->c, row_step = dh * pw;
    const int32_t mult = quant->multiplier[c], shift = quant->shift[c];
    const reef_rq q = *rq;
    int8_t *o = data + c;
    int32_t oy, ox, ky0, ky1;
    for (oy = 0; oy < oh; oy++) {
        live_rows(p, in, f, oy, &ky0, &ky1);
        const int16_t *row = plane + (oy * sh + ky0 * dh) * pw;
        const int32_t *w = pairs + ky0 * np, rows = ky1 - ky0;
        if (fast && dw == 1 && rows == f->h &&
            full_row_square(row, sw, 2 * row_step, ow, w, &q, start, zp, lo, hi, c_out, o, rows, np)) {
            o += ow * c_out;
            continue;
        }
        for (ox = 0; ox < ow; ox++, o += c_out, row += sw) {
            const int32_t acc = window_sum(row, rows, row_step, np, dw, w, start);
            *o = fast ? reef_rq_s8(acc, &q, zp, lo, hi) : reef_requantize_s8(acc, mult, shift, zp, lo, hi);
        }
    }
}

reef_status reef_dw_conv_s8_in_place(const reef_context *ctx, const reef_dw_conv_params *params,
                                     const reef_per_channel_quant *quant, const reef_dims *input_dims,
                                     int8_t *data, const reef_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const reef_dims *output_dims)
{
    int32_t ph, pw, c, i;
    int16_t *plane;
    int32_t *pairs;
    if (!reef_dw_conv_args_valid(params, quant, input_dims, data, filter_dims, filter, output_dims, data) ||
        !reef_dw_conv_s8_can_run_in_place(params, input_dims, filter_dims, output_dims) || !ctx ||
        !ctx->buf || ctx->size < reef_dw_conv_s8_in_place_buffer_size(params, filter_dims, output_dims))
        return REEF_ARG_ERROR;
    ph = plane_h(params, filter_dims, output_dims);
    pw = plane_w(params, filter_dims, output_dims);
    plane = (int16_t *)ctx->buf;
    pairs = (int32_t *)((uint8_t *)ctx->buf + round4(2 * ph * pw));
    for (i = 0; i < ph * pw; i++) plane[i] = 0; /* the border, once: channels rewrite only the inside */
    for (c = 0; c < output_dims->c; c++) {
        const int32_t start = bias ? bias[c] : 0;
        reef_rq q;
        const int fast = reef_rq_init(&q, 0, quant->multiplier[c], quant->shift[c]);
        load_plane(params, input_dims, data, c, plane, ph, pw);
        load_weights(filter_dims, filter, c, output_dims->c, pairs);
        channel_outputs(params, quant, input_dims, filter_dims, output_dims, plane, pw, pairs, c, start, &q, data,
                        fast);
    }
    return REEF_OK;
}
