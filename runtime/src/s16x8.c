/* The 16x8 kernels (reef/s16x8.h): TFLite Micro's reference loop nests for
 * int16 input. A product of an int8 weight and an int16 input fits 23 bits
 * (|w * x| <= 127 * 32768 < 2^22), so the kernels sum up to 256 of them in
 * int32 (< 2^30) before adding the block to the 64-bit accumulator: the
 * same sum as TFLite's int64 loop, with fewer 64-bit additions on the M4. */
#include "reef/s16x8.h"
#include "reef/requant.h"
#include "reef/step.h"

#include "check.h"

#define BLOCK 256

typedef reef_s16_bias s16_bias;

static const s16_bias no_bias = {0, 0, 0};

int32_t reef_requantize_s64(int64_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    /* wrapping (unsigned) arithmetic: TFLite assumes |acc| < 2^47, where it
     * is exact; a model beyond that gets TFLite's wrapped value, not UB */
    const int64_t product = (int64_t)((uint64_t)acc * (uint64_t)(int64_t)reduced +
                                      ((uint64_t)1 << (total_shift - 1)));
    const int64_t result = product >> total_shift;
    /* TFLite assigns the int64 result to an int32: two's complement wrap */
    return (int32_t)(uint32_t)(uint64_t)result;
}

/* acc + bias, wrapping as the M4 does (a bias near 2^63 is no UB) */
static int64_t add_bias(int64_t acc, int64_t bias)
{
    return (int64_t)((uint64_t)acc + (uint64_t)bias);
}

static int16_t clamp16(int32_t v, const reef_activation *a)
{
    return (int16_t)(v < a->min ? a->min : v > a->max ? a->max : v);
}

/* Output channel o from the exact sum of products: bias, requantization,
 * clamp. On the 32-bit path the sum wraps to 32 bits first, which is what
 * TFLite's wrapping int32 accumulator holds after the same additions. */
static int16_t finish(int64_t sum, int32_t o, const s16_bias *b, const reef_per_channel_quant *q,
                      const reef_activation *a)
{
    if (b->acc32) {
        uint32_t acc = (uint32_t)(uint64_t)sum;
        if (b->bias32) acc += (uint32_t)b->bias32[o];
        return clamp16(reef_requantize((int32_t)acc, q->multiplier[o], q->shift[o]), a);
    }
    if (b->bias64) sum = add_bias(sum, b->bias64[o]);
    return clamp16(reef_requantize_s64(sum, q->multiplier[o], q->shift[o]), a);
}

static int activation16_valid(const reef_activation *a)
{
    return a->min >= -32768 && a->max <= 32767 && a->min <= a->max;
}

/* Every channel's shift within what the path's requantization takes:
 * [-31, 7] for TFLite's 64-bit one, [-31, 30] for the 32-bit one. */
static int quant_valid(const reef_per_channel_quant *q, int32_t channels, const s16_bias *b)
{
    int32_t c;
    const int32_t max_shift = b->acc32 ? 30 : 7;
    if (!q || !q->multiplier || !q->shift) return 0;
    for (c = 0; c < channels; c++)
        if (q->multiplier[c] < 0 || q->shift[c] < -31 || q->shift[c] > max_shift) return 0;
    return 1;
}

/* sum_k w[k] * x[k] over n terms, in blocks of BLOCK int32 partial sums. */
static int64_t dot16x8(const int16_t *x, const int8_t *w, int32_t n)
{
    int64_t acc = 0;
    while (n > 0) {
        const int32_t m = n < BLOCK ? n : BLOCK;
        int32_t part = 0, k;
        for (k = 0; k < m; k++) part += (int32_t)w[k] * x[k];
        acc += part;
        x += m, w += m, n -= m;
    }
    return acc;
}

reef_status reef_fc_s16x8(const reef_fc_params *params, const reef_per_channel_quant *quant,
                          const reef_dims *input_dims, const int16_t *input, const reef_dims *filter_dims,
                          const int8_t *filter, const s16_bias *bias, const reef_dims *output_dims,
                          int16_t *output)
{
    int32_t b, o, rows, nin, nout;
    if (!bias) bias = &no_bias;
    if (!params || !input || !filter || !output || !reef_dims_valid(input_dims) ||
        !reef_dims_valid(filter_dims) || !reef_dims_valid(output_dims))
        return REEF_ARG_ERROR;
    rows = input_dims->n, nin = input_dims->c, nout = filter_dims->n;
    if (filter_dims->c != nin || output_dims->n != rows || output_dims->c != nout || params->input_offset ||
        params->filter_offset || params->output_offset || !activation16_valid(&params->activation) ||
        !quant_valid(quant, nout, bias))
        return REEF_ARG_ERROR;
    for (b = 0; b < rows; b++) {
        const int16_t *x = input + (int64_t)b * nin;
        for (o = 0; o < nout; o++)
            output[(int64_t)b * nout + o] =
                finish(dot16x8(x, filter + (int64_t)o * nin, nin), o, bias, quant, &params->activation);
    }
    return REEF_OK;
}

static int conv16_args_valid(const reef_dims *in, const reef_dims *f, const reef_dims *out, const reef_hw *stride,
                             const reef_hw *padding, const reef_hw *dilation, const reef_activation *act)
{
    return reef_dims_valid(in) && reef_dims_valid(f) && reef_dims_valid(out) && in->n == out->n &&
           reef_window_valid(stride, padding) && dilation->h > 0 && dilation->w > 0 && activation16_valid(act);
}

reef_status reef_conv_s16x8(const reef_conv_params *params, const reef_per_channel_quant *quant,
                            const reef_dims *input_dims, const int16_t *input, const reef_dims *filter_dims,
                            const int8_t *filter, const s16_bias *bias, const reef_dims *output_dims,
                            int16_t *output)
{
    int32_t n, oy, ox, o, ky, kx;
    if (!bias) bias = &no_bias;
    if (!params || !input || !filter || !output ||
        !conv16_args_valid(input_dims, filter_dims, output_dims, &params->stride, &params->padding,
                           &params->dilation, &params->activation))
        return REEF_ARG_ERROR;
    if (filter_dims->c != input_dims->c || filter_dims->n != output_dims->c || params->input_offset ||
        params->output_offset || !quant_valid(quant, output_dims->c, bias))
        return REEF_ARG_ERROR;
    {
        const int32_t H = input_dims->h, W = input_dims->w, C = input_dims->c;
        const int32_t KH = filter_dims->h, KW = filter_dims->w;
        for (n = 0; n < output_dims->n; n++)
            for (oy = 0; oy < output_dims->h; oy++)
                for (ox = 0; ox < output_dims->w; ox++)
                    for (o = 0; o < output_dims->c; o++) {
                        int64_t acc = 0;
                        for (ky = 0; ky < KH; ky++) {
                            const int32_t iy = oy * params->stride.h - params->padding.h + ky * params->dilation.h;
                            if (iy < 0 || iy >= H) continue;
                            for (kx = 0; kx < KW; kx++) {
                                const int32_t ix =
                                    ox * params->stride.w - params->padding.w + kx * params->dilation.w;
                                if (ix < 0 || ix >= W) continue;
                                acc += dot16x8(input + (((int64_t)n * H + iy) * W + ix) * C,
                                               filter + (((int64_t)o * KH + ky) * KW + kx) * C, C);
                            }
                        }
                        output[(((int64_t)n * output_dims->h + oy) * output_dims->w + ox) * output_dims->c + o] =
                            finish(acc, o, bias, quant, &params->activation);
                    }
    }
    return REEF_OK;
}

reef_status reef_dw_conv_s16x8(const reef_dw_conv_params *params, const reef_per_channel_quant *quant,
                               const reef_dims *input_dims, const int16_t *input,
                               const reef_dims *filter_dims, const int8_t *filter, const s16_bias *bias,
                               const reef_dims *output_dims, int16_t *output)
{
    int32_t n, oy, ox, i, m, ky, kx;
    if (!bias) bias = &no_bias;
    if (!params || !input || !filter || !output ||
        !conv16_args_valid(input_dims, filter_dims, output_dims, &params->stride, &params->padding,
                           &params->dilation, &params->activation))
        return REEF_ARG_ERROR;
    if (params->depth_multiplier < 1 || filter_dims->n != 1 || filter_dims->c != output_dims->c ||
        output_dims->c != input_dims->c * params->depth_multiplier || params->input_offset ||
        params->output_offset || bias->acc32 || !quant_valid(quant, output_dims->c, bias))
        return REEF_ARG_ERROR;
    {
        const int32_t H = input_dims->h, W = input_dims->w, C = input_dims->c, M = params->depth_multiplier;
        const int32_t OC = output_dims->c, KH = filter_dims->h, KW = filter_dims->w;
        for (n = 0; n < output_dims->n; n++)
            for (oy = 0; oy < output_dims->h; oy++)
                for (ox = 0; ox < output_dims->w; ox++)
                    for (i = 0; i < C; i++)
                        for (m = 0; m < M; m++) {
                            const int32_t o = i * M + m;
                            /* at most KH * KW <= 2^16 taps in TFLite's bound;
                             * each tap < 2^22, so int32 holds 256 of them */
                            int64_t acc = 0;
                            int32_t part = 0, terms = 0;
                            for (ky = 0; ky < KH; ky++) {
                                const int32_t iy =
                                    oy * params->stride.h - params->padding.h + ky * params->dilation.h;
                                if (iy < 0 || iy >= H) continue;
                                for (kx = 0; kx < KW; kx++) {
                                    const int32_t ix =
                                        ox * params->stride.w - params->padding.w + kx * params->dilation.w;
                                    if (ix < 0 || ix >= W) continue;
                                    part += (int32_t)filter[((int64_t)ky * KW + kx) * OC + o] *
                                            input[(((int64_t)n * H + iy) * W + ix) * C + i];
                                    if (++terms == BLOCK) acc += part, part = 0, terms = 0;
                                }
                            }
                            acc += part;
                            output[(((int64_t)n * output_dims->h + oy) * output_dims->w + ox) * OC + o] =
                                finish(acc, o, bias, quant, &params->activation);
                        }
    }
    return REEF_OK;
}

reef_status reef_add_s16(const reef_add_params *p, const int16_t *input1, const int16_t *input2, int32_t count,
                         int16_t *output)
{
    int32_t k;
    if (!p || !input1 || !input2 || !output || count < 0 || p->input1_offset || p->input2_offset ||
        p->output_offset || p->left_shift != 15 || !activation16_valid(&p->activation))
        return REEF_ARG_ERROR;
    for (k = 0; k < count; k++) {
        /* |v| << 15 < 2^30 and both multipliers <= 1/2: no int32 overflow */
        const int32_t scaled1 = reef_requantize(reef_shift_left(input1[k], 15), p->input1_multiplier, p->input1_shift);
        const int32_t scaled2 = reef_requantize(reef_shift_left(input2[k], 15), p->input2_multiplier, p->input2_shift);
        output[k] = clamp16(reef_requantize(scaled1 + scaled2, p->output_multiplier, p->output_shift), &p->activation);
    }
    return REEF_OK;
}

/* ---- steps: arena offsets to kernel calls ------------------------------- */

#define IN16(a, arena) ((const int16_t *)(const void *)((arena) + (a)->io.input_at))
#define OUT16(a, arena) ((int16_t *)(void *)((arena) + (a)->io.output_at))

reef_status reef_conv_s16_step(const void *args, uint8_t *arena)
{
    const reef_conv_s16_step_args *a = (const reef_conv_s16_step_args *)args;
    const s16_bias bias = {a->bias, a->bias32, a->acc32};
    return reef_conv_s16x8(&a->params, &a->quant, &a->input_dims, IN16(a, arena), &a->filter_dims, a->filter,
                           &bias, &a->output_dims, OUT16(a, arena));
}

reef_status reef_dw_conv_s16_step(const void *args, uint8_t *arena)
{
    const reef_dw_conv_s16_step_args *a = (const reef_dw_conv_s16_step_args *)args;
    const s16_bias bias = {a->bias, 0, 0};
    return reef_dw_conv_s16x8(&a->params, &a->quant, &a->input_dims, IN16(a, arena), &a->filter_dims, a->filter,
                              &bias, &a->output_dims, OUT16(a, arena));
}

reef_status reef_fc_s16_step(const void *args, uint8_t *arena)
{
    const reef_fc_s16_step_args *a = (const reef_fc_s16_step_args *)args;
    const s16_bias bias = {a->bias, a->bias32, a->acc32};
    return reef_fc_s16x8(&a->params, &a->quant, &a->input_dims, IN16(a, arena), &a->filter_dims, a->filter,
                         &bias, &a->output_dims, OUT16(a, arena));
}

reef_status reef_add_s16_step(const void *args, uint8_t *arena)
{
    const reef_add_step_args *a = (const reef_add_step_args *)args;
    return reef_add_s16(&a->params, IN16(a, arena), (const int16_t *)(const void *)(arena + a->io.input2_at),
                        a->count, OUT16(a, arena));
}
