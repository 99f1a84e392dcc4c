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

void reef_q_fc_sgd(const reef_q_layer *L, float lr, int8_t *q_w, float *d_w, int32_t *bias_q, float *d_bias)
{
    int32_t o, i;
    for (o = 0; o < L->out_c; o++) {
        float sw = L->w_scale[o], sb = L->in_scale * sw;
        if (q_w && d_w) {
            float step = lr / (sw * sw); /* QAS: the real SGD step in int8 units */
            for (i = 0; i < L->in_c; i++) {
                int32_t k = o * L->in_c + i;
                int32_t q = round_to_int((float)q_w[k] - step * d_w[k]);
                q_w[k] = (int8_t)(q < -127 ? -127 : q > 127 ? 127 : q);
                d_w[k] = 0.0f;
            }
        }
        if (bias_q && d_bias) {
            int32_t b = round_to_int((float)bias_q[o] - lr / (sb * sb) * d_bias[o]);
            bias_q[o] = b;
            d_bias[o] = 0.0f;
        }
    }
}
