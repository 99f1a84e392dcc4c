/* Reference int8 arithmetic for the runtime tests (see ref_kernels.h). */
#include "ref_kernels.h"

#include <stdlib.h>

static int64_t floor_div(int64_t num, int64_t den)
{
    int64_t q = num / den;
    if ((num % den != 0) && ((num < 0) != (den < 0))) q--;
    return q;
}

int32_t ref_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    /* 2ab / 2^32 = ab / 2^31, rounded half up (toward +infinity). */
    return (int32_t)floor_div((int64_t)a * b + ((int64_t)1 << 30), (int64_t)1 << 31);
}

int32_t ref_round_shift(int32_t x, int exponent)
{
    const int64_t den = (int64_t)1 << exponent;
    const int64_t mag = llabs((int64_t)x);
    int64_t q = mag / den;
    if (2 * (mag % den) >= den) q++; /* half away from zero */
    return (int32_t)(x < 0 ? -q : q);
}

int32_t ref_requant(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int32_t x = (int32_t)(uint32_t)((uint64_t)(uint32_t)acc << left);
    return ref_round_shift(ref_high_mul(x, multiplier), right);
}

static int8_t clamp8(int64_t v, int32_t lo, int32_t hi)
{
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return (int8_t)v;
}

static int8_t at(const reef_dims *d, const int8_t *t, int b, int y, int x, int c)
{
    return t[((b * d->h + y) * d->w + x) * d->c + c];
}

void ref_conv(const reef_conv_params *p, const int32_t *mult, const int8_t *shift,
              const reef_dims *in_d, const int8_t *in, const reef_dims *f_d,
              const int8_t *filter, const int32_t *bias, const reef_dims *out_d, int8_t *out)
{
    for (int b = 0; b < out_d->n; b++)
        for (int y = 0; y < out_d->h; y++)
            for (int x = 0; x < out_d->w; x++)
                for (int o = 0; o < out_d->c; o++) {
                    int64_t acc = bias ? bias[o] : 0;
                    for (int ky = 0; ky < f_d->h; ky++)
                        for (int kx = 0; kx < f_d->w; kx++)
                            for (int i = 0; i < in_d->c; i++) {
                                int iy = y * p->stride.h - p->padding.h + ky * p->dilation.h;
                                int ix = x * p->stride.w - p->padding.w + kx * p->dilation.w;
                                if (iy < 0 || iy >= in_d->h || ix < 0 || ix >= in_d->w) continue;
                                acc += (int64_t)at(f_d, filter, o, ky, kx, i) *
                                       (at(in_d, in, b, iy, ix, i) + p->input_offset);
                            }
                    out[((b * out_d->h + y) * out_d->w + x) * out_d->c + o] =
                        clamp8((int64_t)ref_requant((int32_t)acc, mult[o], shift[o]) +
                                   p->output_offset,
                               p->activation.min, p->activation.max);
                }
}

void ref_dw_conv(const reef_dw_conv_params *p, const int32_t *mult, const int8_t *shift,
                 const reef_dims *in_d, const int8_t *in, const reef_dims *f_d,
                 const int8_t *filter, const int32_t *bias, const reef_dims *out_d,
                 int8_t *out)
{
    for (int b = 0; b < out_d->n; b++)
        for (int y = 0; y < out_d->h; y++)
            for (int x = 0; x < out_d->w; x++)
                for (int i = 0; i < in_d->c; i++)
                    for (int m = 0; m < p->depth_multiplier; m++) {
                        const int o = i * p->depth_multiplier + m;
                        int64_t acc = bias ? bias[o] : 0;
                        for (int ky = 0; ky < f_d->h; ky++)
                            for (int kx = 0; kx < f_d->w; kx++) {
                                int iy = y * p->stride.h - p->padding.h + ky * p->dilation.h;
                                int ix = x * p->stride.w - p->padding.w + kx * p->dilation.w;
                                if (iy < 0 || iy >= in_d->h || ix < 0 || ix >= in_d->w) continue;
                                acc += (int64_t)at(f_d, filter, 0, ky, kx, o) *
                                       (at(in_d, in, b, iy, ix, i) + p->input_offset);
                            }
                        out[((b * out_d->h + y) * out_d->w + x) * out_d->c + o] =
                            clamp8((int64_t)ref_requant((int32_t)acc, mult[o], shift[o]) +
                                       p->output_offset,
                                   p->activation.min, p->activation.max);
                    }
}

void ref_fc(const reef_fc_params *p, const int32_t *mult, const int8_t *shift, int per_channel,
            int32_t batches, int32_t c_in, int32_t c_out, const int8_t *in,
            const int8_t *filter, const int32_t *bias, int8_t *out)
{
    for (int b = 0; b < batches; b++)
        for (int o = 0; o < c_out; o++) {
            int64_t acc = bias ? bias[o] : 0;
            for (int i = 0; i < c_in; i++)
                acc += (int64_t)(filter[o * c_in + i] + p->filter_offset) *
                       (in[b * c_in + i] + p->input_offset);
            const int q = per_channel ? o : 0;
            out[b * c_out + o] = clamp8((int64_t)ref_requant((int32_t)acc, mult[q], shift[q]) +
                                            p->output_offset,
                                        p->activation.min, p->activation.max);
        }
}

void ref_add(const reef_add_params *p, const int8_t *a, const int8_t *b, int32_t n, int8_t *out)
{
    for (int k = 0; k < n; k++) {
        int32_t x1 = (int32_t)((int64_t)(a[k] + p->input1_offset) * ((int64_t)1 << p->left_shift));
        int32_t x2 = (int32_t)((int64_t)(b[k] + p->input2_offset) * ((int64_t)1 << p->left_shift));
        int64_t sum = (int64_t)ref_requant(x1, p->input1_multiplier, p->input1_shift) +
                      ref_requant(x2, p->input2_multiplier, p->input2_shift);
        out[k] = clamp8((int64_t)ref_requant((int32_t)sum, p->output_multiplier, p->output_shift) +
                            p->output_offset,
                        p->activation.min, p->activation.max);
    }
}

/* round(num / den), half away from zero. */
static int64_t div_round_away(int64_t num, int64_t den)
{
    int64_t q = llabs(num) / den;
    if (2 * (llabs(num) % den) >= den) q++;
    return num < 0 ? -q : q;
}

void ref_pool(int is_max, const reef_pool_params *p, const reef_dims *in_d, const int8_t *in,
              reef_hw filter, const reef_dims *out_d, int8_t *out)
{
    for (int b = 0; b < out_d->n; b++)
        for (int y = 0; y < out_d->h; y++)
            for (int x = 0; x < out_d->w; x++)
                for (int c = 0; c < out_d->c; c++) {
                    int64_t sum = 0, count = 0, max = -128;
                    for (int ky = 0; ky < filter.h; ky++)
                        for (int kx = 0; kx < filter.w; kx++) {
                            int iy = y * p->stride.h - p->padding.h + ky;
                            int ix = x * p->stride.w - p->padding.w + kx;
                            if (iy < 0 || iy >= in_d->h || ix < 0 || ix >= in_d->w) continue;
                            int v = at(in_d, in, b, iy, ix, c);
                            sum += v;
                            count++;
                            if (v > max) max = v;
                        }
                    int64_t v = is_max ? max : div_round_away(sum, count);
                    out[((b * out_d->h + y) * out_d->w + x) * out_d->c + c] =
                        clamp8(v, p->activation.min, p->activation.max);
                }
}

void ref_mean(const reef_mean_params *p, const reef_dims *in_d, const int8_t *in, int8_t *out)
{
    for (int b = 0; b < in_d->n; b++)
        for (int c = 0; c < in_d->c; c++) {
            int64_t acc = 0;
            for (int y = 0; y < in_d->h; y++)
                for (int x = 0; x < in_d->w; x++) acc += at(in_d, in, b, y, x, c) + p->input_offset;
            /* QuantizedMeanOrSum: 1 / count is already in the multiplier */
            int64_t v = ref_requant((int32_t)acc, p->multiplier, p->shift);
            out[b * in_d->c + c] = clamp8(v + p->output_offset, -128, 127);
        }
}

/* ---- softmax: gemmlowp fixed point, each value with its format ------- */

/* A Qk value: raw / 2^(31 - k). */
static int32_t q_mul(int32_t a, int32_t b) { return ref_high_mul(a, b); }

/* Saturating multiply by 2^e (e > 0) or rounding divide (e < 0). */
static int32_t q_pot(int32_t x, int e)
{
    if (e <= 0) return ref_round_shift(x, -e);
    int64_t v = (int64_t)x * ((int64_t)1 << e);
    if (v > INT32_MAX) return INT32_MAX;
    if (v < INT32_MIN) return INT32_MIN;
    return (int32_t)v;
}

/* exp(a), a in [-1/4, 0) as Q0: Taylor series around -1/8 to x^4. */
static int32_t exp_quarter(int32_t a)
{
    const int32_t e_m8 = 1895147668, third = 715827883;
    int32_t x = a + (1 << 28);
    int32_t x2 = q_mul(x, x), x3 = q_mul(x2, x), x4 = q_mul(x2, x2);
    int32_t tail = q_pot(q_mul(q_pot(x4, -2) + x3, third) + x2, -1);
    return e_m8 + q_mul(e_m8, x + tail);
}

/* exp(a) for a <= 0 in Q5, result Q0. */
static int32_t exp_neg(int32_t a)
{
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308,
                                       39332535,   720401,     242};
    if (a == 0) return INT32_MAX;
    const int32_t quarter = 1 << 24; /* 1/4 in Q5 */
    int32_t r = (a & (quarter - 1)) - quarter;
    int32_t result = exp_quarter(q_pot(r, 5));
    uint32_t rest = (uint32_t)r - (uint32_t)a; /* multiple of 1/4, >= 0 */
    for (int k = 0; k < 7; k++)
        if (rest & (1u << (24 + k))) result = q_mul(result, factors[k]);
    return result;
}

/* 1 / (1 + a) for a in [0, 1) as Q0, by Newton-Raphson on (1 + a) / 2. */
static int32_t recip_one_plus(int32_t a)
{
    int64_t s = (int64_t)a + INT32_MAX;
    int32_t half = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + q_mul(half, -1010580540); /* Q2: 48/17 - 32/17 d */
    for (int i = 0; i < 3; i++) x += q_pot(q_mul(x, (1 << 29) - q_mul(half, x)), 2);
    return q_pot(x, 1);
}

void ref_softmax(const reef_softmax_params *p, int32_t rows, int32_t depth, const int8_t *in,
                 int8_t *out)
{
    for (int r = 0; r < rows; r++) {
        const int8_t *row = in + r * depth;
        int max = -128;
        for (int c = 0; c < depth; c++)
            if (row[c] > max) max = row[c];
        int32_t sum = 0; /* Q12 */
        for (int c = 0; c < depth; c++) {
            int32_t d = row[c] - max;
            if (d >= p->diff_min)
                sum += q_pot(exp_neg(ref_high_mul(d * (1 << p->input_left_shift),
                                                  p->input_multiplier)), -12);
        }
        int lz = 0;
        while (!((uint32_t)sum << lz & 0x80000000u)) lz++;
        int32_t scale = recip_one_plus((int32_t)(((uint32_t)sum << lz) - 0x80000000u));
        int bits = 12 - lz;
        for (int c = 0; c < depth; c++) {
            int32_t d = row[c] - max;
            int64_t v = -128;
            if (d >= p->diff_min) {
                int32_t e = exp_neg(ref_high_mul(d * (1 << p->input_left_shift),
                                                 p->input_multiplier));
                v = (int64_t)ref_round_shift(q_mul(scale, e), bits + 23) - 128;
            }
            out[r * depth + c] = clamp8(v, -128, 127);
        }
    }
}

void ref_pad(const reef_pad_params *p, const reef_dims *in_d, const int8_t *in,
             const reef_dims *out_d, int8_t *out)
{
    int k = 0;
    for (int b = 0; b < out_d->n; b++)
        for (int y = 0; y < out_d->h; y++)
            for (int x = 0; x < out_d->w; x++)
                for (int c = 0; c < out_d->c; c++, k++) {
                    int ib = b - p->before.n, iy = y - p->before.h, ix = x - p->before.w,
                        ic = c - p->before.c;
                    int inside = ib >= 0 && ib < in_d->n && iy >= 0 && iy < in_d->h && ix >= 0 &&
                                 ix < in_d->w && ic >= 0 && ic < in_d->c;
                    out[k] = inside ? at(in_d, in, ib, iy, ix, ic) : (int8_t)p->pad_value;
                }
}
