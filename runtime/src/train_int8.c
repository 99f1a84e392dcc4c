/* Training int8 layers as deployed (reef/train_int8.h). */
#include "reef/train_int8.h"
#include "reef/requant.h"

void reef_q_fc_forward(const reef_q_layer *L, const int8_t *q_x, const int8_t *q_w, const int32_t *bias_q,
                       int8_t *q_y)
{
    int32_t r, o, i;
    for (r = 0; r < L->rows; r++) {
        const int8_t *x = q_x + r * L->in_c;
        for (o = 0; o < L->out_c; o++) {
            const int8_t *w = q_w + o * L->in_c;
            int32_t acc = bias_q ? bias_q[o] : 0;
            for (i = 0; i < L->in_c; i++) acc += (int32_t)w[i] * ((int32_t)x[i] + L->input_offset);
            q_y[r * L->out_c + o] = reef_requantize_s8(acc, L->multiplier[o], L->shift[o], L->output_offset,
                                                       L->act_min, L->act_max);
        }
    }
}

float reef_q_real_multiplier(int32_t multiplier, int32_t shift)
{
    float m = (float)multiplier * (1.0f / 2147483648.0f); /* Q31 */
    for (; shift > 0; shift--) m *= 2.0f;
    for (; shift < 0; shift++) m *= 0.5f;
    return m;
}

void reef_q_fc_backward(const reef_q_layer *L, const int8_t *q_x, const int8_t *q_w, const int8_t *q_y,
                        const float *d_y, float *d_acc, float *d_x, float *d_w, float *d_bias)
{
    int32_t r, o, i;
    /* straight through the requantization and the clamp */
    for (o = 0; o < L->out_c; o++) {
        float m = reef_q_real_multiplier(L->multiplier[o], L->shift[o]);
        for (r = 0; r < L->rows; r++) {
            int32_t k = r * L->out_c + o, q = q_y[k];
            d_acc[k] = (q > L->act_min && q < L->act_max) ? d_y[k] * m : 0.0f;
        }
    }
    for (o = 0; o < L->out_c; o++) {
        float *dw = d_w ? d_w + o * L->in_c : 0, db = 0.0f;
        for (r = 0; r < L->rows; r++) {
            float g = d_acc[r * L->out_c + o];
            const int8_t *x = q_x + r * L->in_c;
            db += g;
            if (dw && g != 0.0f)
                for (i = 0; i < L->in_c; i++) dw[i] += g * (float)((int32_t)x[i] + L->input_offset);
        }
        if (d_bias) d_bias[o] += db;
    }
    if (d_x)
        for (r = 0; r < L->rows; r++)
            for (i = 0; i < L->in_c; i++) {
                float s = 0.0f;
                for (o = 0; o < L->out_c; o++) s += d_acc[r * L->out_c + o] * (float)q_w[o * L->in_c + i];
                d_x[r * L->in_c + i] = s;
            }
}

/* Round to nearest, halves away from zero, without libm; saturates at
 * +-2^30 so that no conversion overflows. */
static int32_t round_to_int(float x)
{
    if (!(x > -1073741824.0f)) return x != x ? 0 : -1073741824;
    if (x > 1073741824.0f) return 1073741824;
    return x >= 0.0f ? (int32_t)(x + 0.5f) : -(int32_t)(-x + 0.5f);
}

/* One QAS update of an int8 weight and of an int32 bias. */
static int8_t qas_weight(int8_t q, float step, float *grad)
{
    int32_t v = round_to_int((float)q - step * *grad);
    *grad = 0.0f;
    return (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
}

static int32_t qas_bias(int32_t b, float step, float *grad)
{
    int32_t v = round_to_int((float)b - step * *grad);
    *grad = 0.0f;
    return v;
}

void reef_q_fc_sgd(const reef_q_layer *L, float lr, int8_t *q_w, float *d_w, int32_t *bias_q, float *d_bias)
{
    int32_t o, i;
    for (o = 0; o < L->out_c; o++) {
        float sw = L->w_scale[o], sb = L->in_scale * sw;
        if (q_w && d_w) {
            float step = lr / (sw * sw); /* QAS: the real SGD step in int8 units */
            for (i = 0; i < L->in_c; i++) q_w[o * L->in_c + i] = qas_weight(q_w[o * L->in_c + i], step, &d_w[o * L->in_c + i]);
        }
        if (bias_q && d_bias) bias_q[o] = qas_bias(bias_q[o], lr / (sb * sb), &d_bias[o]);
    }
}

/* ---- depthwise ---- */

/* The taps [k0, k1) of a kernel axis that land inside [0, n) for output
 * position p. */
static void tap_range(int32_t p, int32_t stride, int32_t pad, int32_t k, int32_t n, int32_t *k0, int32_t *k1)
{
    int32_t start = p * stride - pad;
    *k0 = start < 0 ? -start : 0;
    *k1 = start + k > n ? n - start : k;
}

void reef_q_dw_forward(const reef_q_dw_layer *L, const int8_t *q_x, const int8_t *q_w, const int32_t *bias_q,
                       int8_t *q_y)
{
    int32_t oy, ox, ch, ky, kx, ky0, ky1, kx0, kx1;
    for (oy = 0; oy < L->out_h; oy++) {
        tap_range(oy, L->stride, L->pad_top, L->kh, L->h, &ky0, &ky1);
        for (ox = 0; ox < L->out_w; ox++) {
            tap_range(ox, L->stride, L->pad_left, L->kw, L->w, &kx0, &kx1);
            for (ch = 0; ch < L->c; ch++) {
                int32_t acc = bias_q ? bias_q[ch] : 0;
                for (ky = ky0; ky < ky1; ky++)
                    for (kx = kx0; kx < kx1; kx++) {
                        int32_t iy = oy * L->stride - L->pad_top + ky, ix = ox * L->stride - L->pad_left + kx;
                        acc += (int32_t)q_w[(ky * L->kw + kx) * L->c + ch] *
                               ((int32_t)q_x[(iy * L->w + ix) * L->c + ch] + L->input_offset);
                    }
                q_y[(oy * L->out_w + ox) * L->c + ch] = reef_requantize_s8(
                    acc, L->multiplier[ch], L->shift[ch], L->output_offset, L->act_min, L->act_max);
            }
        }
    }
}

void reef_q_dw_backward(const reef_q_dw_layer *L, const int8_t *q_x, const int8_t *q_w, const int8_t *q_y,
                        const float *d_y, float *d_acc, float *d_x, float *d_w, float *d_bias)
{
    int32_t oy, ox, ch, ky, kx, ky0, ky1, kx0, kx1, n_out = L->out_h * L->out_w, k;
    for (k = 0; k < n_out * L->c; k++) {
        int32_t q = q_y[k];
        ch = k % L->c;
        d_acc[k] = (q > L->act_min && q < L->act_max)
                       ? d_y[k] * reef_q_real_multiplier(L->multiplier[ch], L->shift[ch])
                       : 0.0f;
    }
    if (d_x)
        for (k = 0; k < L->h * L->w * L->c; k++) d_x[k] = 0.0f;
    for (oy = 0; oy < L->out_h; oy++) {
        tap_range(oy, L->stride, L->pad_top, L->kh, L->h, &ky0, &ky1);
        for (ox = 0; ox < L->out_w; ox++) {
            tap_range(ox, L->stride, L->pad_left, L->kw, L->w, &kx0, &kx1);
            for (ch = 0; ch < L->c; ch++) {
                float g = d_acc[(oy * L->out_w + ox) * L->c + ch];
                if (d_bias) d_bias[ch] += g;
                if (g == 0.0f) continue;
                for (ky = ky0; ky < ky1; ky++)
                    for (kx = kx0; kx < kx1; kx++) {
                        int32_t iy = oy * L->stride - L->pad_top + ky, ix = ox * L->stride - L->pad_left + kx;
                        int32_t xi = (iy * L->w + ix) * L->c + ch, wi = (ky * L->kw + kx) * L->c + ch;
                        if (d_w) d_w[wi] += g * (float)((int32_t)q_x[xi] + L->input_offset);
                        if (d_x) d_x[xi] += g * (float)q_w[wi];
                    }
            }
        }
    }
}

void reef_q_dw_sgd(const reef_q_dw_layer *L, float lr, int8_t *q_w, float *d_w, int32_t *bias_q, float *d_bias)
{
    int32_t ch, k;
    for (ch = 0; ch < L->c; ch++) {
        float sw = L->w_scale[ch], sb = L->in_scale * sw;
        if (q_w && d_w)
            for (k = ch; k < L->kh * L->kw * L->c; k += L->c) q_w[k] = qas_weight(q_w[k], lr / (sw * sw), &d_w[k]);
        if (bias_q && d_bias) bias_q[ch] = qas_bias(bias_q[ch], lr / (sb * sb), &d_bias[ch]);
    }
}
