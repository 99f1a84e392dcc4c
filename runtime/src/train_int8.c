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
    int32_t r, o, i, k;
    /* straight through the requantization and the clamp (d_acc may be d_y:
     * element k reads only d_y[k]) */
    for (o = 0; o < L->out_c; o++) {
        float m = reef_q_real_multiplier(L->multiplier[o], L->shift[o]);
        for (r = 0; r < L->rows; r++) {
            int32_t q;
            k = r * L->out_c + o;
            q = q_y[k];
            d_acc[k] = (q > L->act_min && q < L->act_max) ? d_y[k] * m : 0.0f;
        }
    }
    if (d_x)
        for (k = 0; k < L->rows * L->in_c; k++) d_x[k] = 0.0f;
    /* row by row, 4 outputs at a time: contiguous weights and inputs, each
     * input (and each d_x element) loaded once for 4 multiply-adds; groups
     * the clamp stopped entirely (common after a ReLU) are skipped */
    for (r = 0; r < L->rows; r++) {
        const int8_t *x = q_x + r * L->in_c;
        const float *g = d_acc + r * L->out_c;
        float *dx = d_x ? d_x + r * L->in_c : 0;
        for (o = 0; o < L->out_c; o += 4) {
            int32_t n = L->out_c - o < 4 ? L->out_c - o : 4, j;
            float g4[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            const int8_t *w[4];
            for (j = 0; j < 4; j++) w[j] = q_w + (o + (j < n ? j : 0)) * L->in_c;
            for (j = 0; j < n; j++) g4[j] = g[o + j];
            if (g4[0] == 0.0f && g4[1] == 0.0f && g4[2] == 0.0f && g4[3] == 0.0f) continue;
            if (d_bias)
                for (j = 0; j < n; j++) d_bias[o + j] += g4[j];
            if (d_w)
                for (j = 0; j < n; j++) {
                    float *dw = d_w + (o + j) * L->in_c, gj = g4[j];
                    if (gj == 0.0f) continue;
                    for (i = 0; i < L->in_c; i++) dw[i] += gj * (float)((int32_t)x[i] + L->input_offset);
                }
            if (dx)
                for (i = 0; i < L->in_c; i++)
                    dx[i] += g4[0] * (float)w[0][i] + g4[1] * (float)w[1][i] + g4[2] * (float)w[2][i] +
                             g4[3] * (float)w[3][i];
        }
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
    for (ch = 0; ch < L->c; ch++) { /* d_acc may be d_y: element k reads only d_y[k] */
        float m = reef_q_real_multiplier(L->multiplier[ch], L->shift[ch]);
        for (k = ch; k < n_out * L->c; k += L->c) {
            int32_t q = q_y[k];
            d_acc[k] = (q > L->act_min && q < L->act_max) ? d_y[k] * m : 0.0f;
        }
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

/* ---- the int8 tail (scheme a) ---- */

static void copy_bytes8(void *dst, const void *src, uint32_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    uint32_t i;
    for (i = 0; i < n; i++) d[i] = s[i];
}

static const reef_step_io *io_of(const reef_qtail *q, int32_t step)
{
    return (const reef_step_io *)q->steps[step].args;
}

/* The deployed filter and bias of a layer's step (bias may be NULL). */
static void deployed_of(const reef_qtail *q, const reef_qtail_layer *L, const int8_t **w, const int32_t **b)
{
    const void *args = q->steps[L->step].args;
    *w = 0;
    *b = 0;
    switch (L->kind) {
    case REEF_TAIL_CONV:
        *w = ((const reef_conv_step_args *)args)->filter, *b = ((const reef_conv_step_args *)args)->bias;
        break;
    case REEF_TAIL_DW_CONV:
        *w = ((const reef_dw_conv_step_args *)args)->filter, *b = ((const reef_dw_conv_step_args *)args)->bias;
        break;
    case REEF_TAIL_FC:
        *w = ((const reef_fc_step_args *)args)->filter, *b = ((const reef_fc_step_args *)args)->bias;
        break;
    default: break;
    }
}

/* The weights a layer runs with: the trained copy (bytes of params) or the
 * deployed ones. */
static const int8_t *weights_now(const reef_qtail *q, const reef_qtail_layer *L, const float *params)
{
    const int8_t *w;
    const int32_t *b;
    if (params && (L->train & REEF_TRAIN_WEIGHTS)) return (const int8_t *)(const void *)params + L->tw_at;
    deployed_of(q, L, &w, &b);
    return w;
}

/* The bias a layer runs with, in scratch (out_c int32): the trained copy,
 * the deployed one, or zeros. */
static const int32_t *bias_now(const reef_qtail *q, const reef_qtail_layer *L, const float *params, int32_t *scratch)
{
    const int8_t *w;
    const int32_t *b;
    int32_t o;
    if (params && (L->train & REEF_TRAIN_BIAS)) {
        copy_bytes8(scratch, (const uint8_t *)(const void *)params + L->tb_at, (uint32_t)L->out_c * 4u);
        return scratch;
    }
    deployed_of(q, L, &w, &b);
    if (b) return b;
    for (o = 0; o < L->out_c; o++) scratch[o] = 0;
    return scratch;
}

/* The io offsets moved down by lo (offsets of absent operands stay). */
static void move_io(reef_step_io *io, uint32_t lo)
{
    io->input_at -= lo;
    io->output_at -= lo;
    if (io->scratch_size) io->scratch_at -= lo;
    if (io->input2_at >= lo) io->input2_at -= lo;
}

/* Runs a tail step (L NULL: a reshape between layers) from a copy of its
 * args, io moved by arena_lo; a trained layer's pointed at the trained
 * weights and bias. */
static reef_status run_layer(const reef_qtail *q, int32_t step, const reef_qtail_layer *L, const float *params,
                             uint8_t *arena, int32_t *bias_scratch)
{
    const reef_step *s = &q->steps[step];
    int trained = params && L && L->train;
#define RUN_MOVED(type, patch)                              \
    do {                                                   \
        type a = *(const type *)s->args;                   \
        move_io(&a.io, q->arena_lo);                       \
        if (patch && trained) {                            \
            a.filter = weights_now(q, L, params);          \
            a.bias = bias_now(q, L, params, bias_scratch); \
        }                                                  \
        return s->run(&a, arena);                          \
    } while (0)
    if (!L) {
        reef_reshape_step_args a = *(const reef_reshape_step_args *)s->args;
        move_io(&a.io, q->arena_lo);
        return s->run(&a, arena);
    }
    switch (L->kind) {
    case REEF_TAIL_CONV: RUN_MOVED(reef_conv_step_args, 1);
    case REEF_TAIL_DW_CONV: RUN_MOVED(reef_dw_conv_step_args, 1);
    case REEF_TAIL_FC: RUN_MOVED(reef_fc_step_args, 1);
    case REEF_TAIL_ADD: {
        reef_add_step_args a = *(const reef_add_step_args *)s->args;
        move_io(&a.io, q->arena_lo);
        return s->run(&a, arena);
    }
    default:
        if (L->is_mean) {
            reef_mean_step_args a = *(const reef_mean_step_args *)s->args;
            move_io(&a.io, q->arena_lo);
            return s->run(&a, arena);
        } else {
            reef_pool_step_args a = *(const reef_pool_step_args *)s->args;
            move_io(&a.io, q->arena_lo);
            return s->run(&a, arena);
        }
    }
#undef RUN_MOVED
}

const float *reef_qtail_forward(const reef_tail *t, const float *params, const int8_t *boundary, float *acts)
{
    const reef_qtail *q = t->q;
    /* the arena copy shares the delta buffers: the backward needs only the saves */
    uint8_t *arena = (uint8_t *)(acts + t->ping_at), *saves = (uint8_t *)acts;
    int32_t *bias_scratch = (int32_t *)(void *)(acts + q->bias_at);
    const reef_qtail_layer *last = &q->layers[q->nlayers - 1];
    float *logits = acts + t->logits_at;
    int32_t j, li = 0, k;
    copy_bytes8(arena + (q->boundary_at - q->arena_lo), boundary, (uint32_t)t->in_count);
    copy_bytes8(saves + q->layers[0].in_at, boundary, (uint32_t)t->in_count);
    for (j = q->first_step; j < q->last_step && li < q->nlayers; j++) {
        const reef_qtail_layer *L = &q->layers[li];
        if (L->step != j) { /* a reshape between layers */
            (void)run_layer(q, j, 0, params, arena, bias_scratch);
            continue;
        }
        (void)run_layer(q, j, L, params, arena, bias_scratch);
        copy_bytes8(saves + L->out_at, arena + (io_of(q, j)->output_at - q->arena_lo), (uint32_t)L->out_count);
        li++;
    }
    for (k = 0; k < t->nclasses; k++)
        logits[k] = last->out_scale * (float)((int32_t)(int8_t)saves[last->out_at + k] - q->logits_zero_point);
    return logits;
}

/* A pointwise conv's or fully connected layer's reef_q_layer. The last
 * layer's clamp is not applied in the backward (a saturated logit would
 * stop learning). */
static void fc_layer_of(const reef_qtail *q, const reef_qtail_layer *L, int is_last, int32_t *mult_scratch,
                        int8_t *shift_scratch, reef_q_layer *out)
{
    const void *args = q->steps[L->step].args;
    int32_t o;
    out->in_scale = L->in_scale;
    out->w_scale = 0;
    if (L->kind == REEF_TAIL_CONV) {
        const reef_conv_step_args *a = (const reef_conv_step_args *)args;
        out->rows = a->output_dims.h * a->output_dims.w;
        out->in_c = a->input_dims.c;
        out->out_c = a->output_dims.c;
        out->input_offset = a->params.input_offset;
        out->output_offset = a->params.output_offset;
        out->act_min = a->params.activation.min;
        out->act_max = a->params.activation.max;
        out->multiplier = a->quant.multiplier;
        out->shift = a->quant.shift;
    } else {
        const reef_fc_step_args *a = (const reef_fc_step_args *)args;
        out->rows = 1;
        out->out_c = a->output_dims.c;
        out->in_c = L->in_count;
        out->input_offset = a->params.input_offset;
        out->output_offset = a->params.output_offset;
        out->act_min = a->params.activation.min;
        out->act_max = a->params.activation.max;
        if (a->channel_quant.multiplier) {
            out->multiplier = a->channel_quant.multiplier;
            out->shift = a->channel_quant.shift;
        } else { /* per tensor: the host keeps out_c within the scratch */
            for (o = 0; o < out->out_c; o++) mult_scratch[o] = a->quant.multiplier, shift_scratch[o] = (int8_t)a->quant.shift;
            out->multiplier = mult_scratch;
            out->shift = shift_scratch;
        }
    }
    if (is_last) out->act_min = -129, out->act_max = 128;
}

static void dw_layer_of(const reef_qtail *q, const reef_qtail_layer *L, reef_q_dw_layer *out)
{
    const reef_dw_conv_step_args *a = (const reef_dw_conv_step_args *)q->steps[L->step].args;
    out->h = a->input_dims.h, out->w = a->input_dims.w, out->c = a->input_dims.c;
    out->out_h = a->output_dims.h, out->out_w = a->output_dims.w;
    out->kh = a->filter_dims.h, out->kw = a->filter_dims.w, out->stride = a->params.stride.h;
    out->pad_top = a->params.padding.h, out->pad_left = a->params.padding.w;
    out->input_offset = a->params.input_offset, out->output_offset = a->params.output_offset;
    out->act_min = a->params.activation.min, out->act_max = a->params.activation.max;
    out->multiplier = a->quant.multiplier, out->shift = a->quant.shift;
    out->in_scale = L->in_scale;
    out->w_scale = 0;
}

static int32_t first_trained_q(const reef_qtail *q)
{
    int32_t i;
    for (i = 0; i < q->nlayers; i++)
        if (q->layers[i].train) return i;
    return q->nlayers;
}

#define QTAIL_MAX_PER_TENSOR 64

static void q_layer_backward(const reef_tail *t, const reef_tail_state *s, int32_t i, float *d_y, float *d_x)
{
    const reef_qtail *q = t->q;
    const reef_qtail_layer *L = &q->layers[i];
    const int8_t *saves = (const int8_t *)(const void *)s->acts;
    const int8_t *x = saves + L->in_at, *y = saves + L->out_at;
    float *d_w = (L->train & REEF_TRAIN_WEIGHTS) ? s->acts + L->gw_at : 0;
    float *d_b = (L->train & REEF_TRAIN_BIAS) ? s->acts + L->gb_at : 0;
    float *d_acc = d_y; /* d acc[k] depends on d_y[k] only: in place */
    int32_t k, n;
    switch (L->kind) {
    case REEF_TAIL_CONV:
    case REEF_TAIL_FC: {
        int32_t mult[QTAIL_MAX_PER_TENSOR];
        int8_t shift[QTAIL_MAX_PER_TENSOR];
        reef_q_layer ql;
        fc_layer_of(q, L, i == q->nlayers - 1, mult, shift, &ql);
        reef_q_fc_backward(&ql, x, weights_now(q, L, s->params), y, d_y, d_acc, d_x, d_w, d_b);
        break;
    }
    case REEF_TAIL_DW_CONV: {
        reef_q_dw_layer ql;
        dw_layer_of(q, L, &ql);
        reef_q_dw_backward(&ql, x, weights_now(q, L, s->params), y, d_y, d_acc, d_x, d_w, d_b);
        break;
    }
    case REEF_TAIL_GAP: /* y = mean over the pixels: every pixel gets d_y / (H W), in its units */
        if (d_x)
            for (k = 0; k < L->in_count; k++) d_x[k] = d_y[k % L->out_c] * L->back_scale;
        break;
    case REEF_TAIL_ADD: { /* y = x1 + x2 (real), straight through the clamp */
        const reef_add_step_args *a = (const reef_add_step_args *)q->steps[L->step].args;
        float *d_skip = s->acts + L->dskip_at;
        n = L->out_count;
        for (k = 0; k < n; k++) {
            int32_t v = y[k];
            float g = (v > a->params.activation.min && v < a->params.activation.max) ? d_y[k] : 0.0f;
            d_skip[k] = g * L->skip_scale;
            if (d_x) d_x[k] = g * L->back_scale;
        }
        break;
    }
    default: break;
    }
}

float reef_qtail_backward(const reef_tail *t, const reef_tail_state *s, int32_t label, float scale)
{
    const reef_qtail *q = t->q;
    int32_t i, j, k, stop = first_trained_q(q);
    const float *logits = s->acts + t->logits_at;
    float *d_y = s->delta_a, *d_x = s->delta_b, *swap;
    float s_y = q->layers[q->nlayers - 1].out_scale;
    float loss = reef_train_softmax_xent(d_y, logits, t->nclasses, label);
    /* d q_logit = s_y dL/dlogit */
    for (k = 0; k < t->nclasses; k++) d_y[k] = scale * s_y * (d_y[k] - (k == label ? 1.0f : 0.0f));
    for (i = q->nlayers - 1; i >= stop; i--) {
        const reef_qtail_layer *L = &q->layers[i];
        int32_t need_dx = i > stop;
        q_layer_backward(t, s, i, d_y, need_dx ? d_x : 0);
        if (need_dx) /* what ADDs reading this layer's input sent back */
            for (j = i + 1; j < q->nlayers; j++) {
                const reef_qtail_layer *A = &q->layers[j];
                if (A->kind != REEF_TAIL_ADD || A->skip_from != i) continue;
                for (k = 0; k < L->in_count; k++) d_x[k] += s->acts[A->dskip_at + k];
            }
        swap = d_y;
        d_y = d_x;
        d_x = swap;
    }
    return loss;
}

/* s_w[o] of a layer: m_o s_y / s_x, from the deployed requantization. */
static float weight_scale(const reef_qtail *q, const reef_qtail_layer *L, int32_t o)
{
    const void *args = q->steps[L->step].args;
    int32_t m, sh;
    if (L->kind == REEF_TAIL_CONV) {
        const reef_conv_step_args *a = (const reef_conv_step_args *)args;
        m = a->quant.multiplier[o], sh = a->quant.shift[o];
    } else if (L->kind == REEF_TAIL_DW_CONV) {
        const reef_dw_conv_step_args *a = (const reef_dw_conv_step_args *)args;
        m = a->quant.multiplier[o], sh = a->quant.shift[o];
    } else {
        const reef_fc_step_args *a = (const reef_fc_step_args *)args;
        m = a->channel_quant.multiplier ? a->channel_quant.multiplier[o] : a->quant.multiplier;
        sh = a->channel_quant.multiplier ? a->channel_quant.shift[o] : a->quant.shift;
    }
    return reef_q_real_multiplier(m, sh) * L->out_scale / L->in_scale;
}

void reef_qtail_sgd(const reef_tail *t, const reef_tail_state *s, const reef_tail_hparams *hp)
{
    const reef_qtail *q = t->q;
    uint8_t *bytes = (uint8_t *)(void *)s->params;
    int32_t i, o;
    uint32_t k;
    for (i = 0; i < q->nlayers; i++) {
        const reef_qtail_layer *L = &q->layers[i];
        uint32_t inner = L->out_c ? L->weight_count / (uint32_t)L->out_c : 0;
        if (!L->train) continue;
        for (o = 0; o < L->out_c; o++) {
            float sw = weight_scale(q, L, o), sb = L->in_scale * sw;
            if (L->train & REEF_TRAIN_WEIGHTS) {
                float step = hp->lr / (sw * sw);
                for (k = 0; k < inner; k++) {
                    /* OHWI / (OUT, IN): channel-major; depthwise (1, KH, KW, C): channel last */
                    uint32_t w = L->kind == REEF_TAIL_DW_CONV ? k * (uint32_t)L->out_c + (uint32_t)o
                                                               : (uint32_t)o * inner + k;
                    int8_t *qw = (int8_t *)(bytes + L->tw_at + w);
                    *qw = qas_weight(*qw, step, &s->acts[L->gw_at + w]);
                }
            }
            if (L->train & REEF_TRAIN_BIAS) {
                int32_t b;
                copy_bytes8(&b, bytes + L->tb_at + 4u * (uint32_t)o, 4);
                b = qas_bias(b, hp->lr / (sb * sb), &s->acts[L->gb_at + o]);
                copy_bytes8(bytes + L->tb_at + 4u * (uint32_t)o, &b, 4);
            }
        }
    }
}

void reef_qtail_deployed(const reef_tail *t, float *params)
{
    const reef_qtail *q = t->q;
    uint8_t *bytes = (uint8_t *)(void *)params;
    int32_t i, o;
    uint32_t k;
    for (k = 0; k < t->train_count * 4u; k++) bytes[k] = 0;
    for (i = 0; i < q->nlayers; i++) {
        const reef_qtail_layer *L = &q->layers[i];
        const int8_t *w;
        const int32_t *b;
        deployed_of(q, L, &w, &b);
        if ((L->train & REEF_TRAIN_WEIGHTS) && w) copy_bytes8(bytes + L->tw_at, w, L->weight_count);
        if ((L->train & REEF_TRAIN_BIAS) && b)
            for (o = 0; o < L->out_c; o++) copy_bytes8(bytes + L->tb_at + 4u * (uint32_t)o, &b[o], 4);
    }
}

void reef_qtail_zero_grads(const reef_tail *t, float *acts)
{
    uint32_t k;
    for (k = 0; k < t->q->grad_count; k++) acts[t->q->grads_at + k] = 0.0f;
}
