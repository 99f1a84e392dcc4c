/* Scalar quantization helpers, batch-norm folding and symmetric weight
 * quantization: see quant.h. */
#include <math.h>
#include <string.h>

#include "quant/quant.h"

int8_t reef_quantize_value(float x, float scale, int32_t zero_point)
{
    // roundf rounds ties away from zero, as TFLite's QUANTIZE does.
    float r = roundf(x / scale);
    if (!(r > -1e9f)) r = -1e9f;  /* also catches NaN */
    if (r > 1e9f) r = 1e9f;
    int64_t q = (int64_t)r + zero_point;
    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

/* The smallest range an activation gets, so that its scale stays positive
 * (a tensor that was 0 on every calibration sample). */
#define MIN_RANGE 1e-6f

void reef_choose_qparams(float lo, float hi, float *scale, int32_t *zero_point)
{
    // TFLite needs 0 exactly representable (zero padding, ReLU): the
    // range always holds it.
    if (lo > 0.0f) lo = 0.0f;
    if (hi < 0.0f) hi = 0.0f;
    if (hi - lo < MIN_RANGE) hi = lo + MIN_RANGE;
    const float s = (hi - lo) / 255.0f;
    const double z = round(-128.0 - (double)lo / s);
    *scale = s;
    *zero_point = (int32_t)(z < -128 ? -128 : z > 127 ? 127 : z);
}

/* Elements per output channel block and channel count of L's weights. */
static int weight_layout(const reef_layer *L, size_t *count, int *nch, size_t *inner)
{
    const reef_conv_dims *d = &L->dims;
    switch (L->kind) {
    case REEF_LAYER_CONV: *inner = (size_t)d->kh * d->kw * d->c; break;
    case REEF_LAYER_DWCONV: *inner = 1; break;
    case REEF_LAYER_FC: *inner = (size_t)d->c; break;
    default: return -1;
    }
    *nch = d->oc;
    *count = L->kind == REEF_LAYER_DWCONV ? (size_t)d->kh * d->kw * d->oc : (size_t)d->oc * *inner;
    return 0;
}

int reef_fold_bn(const reef_layer *L, float *w, float *b)
{
    size_t count, inner;
    int nch;
    if (!L->w || weight_layout(L, &count, &nch, &inner)) return -1;
    // BN after the op: y = gamma * (z - mean) / sqrt(var + eps) + beta with
    // z = w . x + b, so per output channel o, with f = gamma / sqrt(var + eps):
    //   y = (w * f) . x + (beta + (b - mean) * f).
    // f in double: the folded model is the float one up to float rounding.
    for (int o = 0; o < nch; o++) {
        const double bias = L->b ? (double)L->b[o] : 0.0;
        if (L->has_bn) {
            const double f = (double)L->gamma[o] / sqrt((double)L->run_var[o] + (double)REEF_BN_EPS);
            b[o] = (float)((double)L->beta[o] + (bias - (double)L->run_mean[o]) * f);
        } else {
            b[o] = (float)bias;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const int o = (int)((i / inner) % (size_t)nch);
        w[i] = L->has_bn ? (float)((double)L->w[i] * (double)L->gamma[o] /
                                   sqrt((double)L->run_var[o] + (double)REEF_BN_EPS))
                         : L->w[i];
    }
    return 0;
}

void reef_quant_symmetric(int8_t *q, float *scale, const float *w, size_t count, int nch, size_t inner,
                          const float *min_scale)
{
    for (int c = 0; c < nch; c++) scale[c] = 0.0f;
    for (size_t i = 0; i < count; i++) {
        const int c = (int)((i / inner) % (size_t)nch);
        const float a = fabsf(w[i]);
        if (a > scale[c]) scale[c] = a;
    }
    for (int c = 0; c < nch; c++) {
        scale[c] /= 127.0f;
        if (min_scale && scale[c] < min_scale[c]) scale[c] = min_scale[c];
        if (!(scale[c] > 0.0f)) scale[c] = 1.0f;  // all zeros: any scale is exact
    }
    for (size_t i = 0; i < count; i++) {
        const int c = (int)((i / inner) % (size_t)nch);
        float r = roundf(w[i] / scale[c]);
        q[i] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r);
    }
}
