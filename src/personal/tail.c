/* The float32 tail of an int8 model: where it can start, and its layers and
 * weights dequantized from the int8 model's (the host side of
 * runtime/include/reef/train.h). */
#include <stdlib.h>
#include <string.h>

#include "personal/personal.h"

#define NO_CLAMP 3.0e38f

static int is_param_kind(reef_step_kind k)
{
    return k == REEF_STEP_CONV || k == REEF_STEP_DW_CONV || k == REEF_STEP_FC;
}

static int is_tail_kind(reef_step_kind k)
{
    return is_param_kind(k) || k == REEF_STEP_AVGPOOL || k == REEF_STEP_MEAN || k == REEF_STEP_RESHAPE ||
           k == REEF_STEP_SOFTMAX || k == REEF_STEP_ADD;
}

/* Does input x of step j read what step j - 1 wrote? */
static int reads_previous(const reef_lowered_model *m, int j, int x)
{
    int32_t in = m->steps[j].input_tensors[x];
    return in >= 0 && m->tensor_at[in] == m->tensor_at[m->steps[j - 1].output_tensor];
}

/* The step in [k, j) whose input is tensor t (an ADD's skip), or -1. */
static int skip_source(const reef_lowered_model *m, int k, int j, int32_t t)
{
    for (int i = k; i < j; i++)
        if (m->steps[i].input_tensors[0] == t && m->steps[i].input_tensors[1] < 0) return i;
    return -1;
}

/* Does step j (> k) follow the chain from k: it reads what step j - 1 wrote
 * and nothing else, or it is an ADD of that and the input of a step of the
 * chain (a residual block closed inside the tail)? */
static int follows(const reef_lowered_model *m, int k, int j)
{
    const reef_lowered_step *s = &m->steps[j];
    if (s->kind == REEF_STEP_ADD)
        return (reads_previous(m, j, 0) && skip_source(m, k, j, s->input_tensors[1]) >= 0) ||
               (reads_previous(m, j, 1) && skip_source(m, k, j, s->input_tensors[0]) >= 0);
    return s->input_tensors[1] < 0 && reads_previous(m, j, 0);
}

static int chain_from(const reef_lowered_model *m, int k)
{
    int params = 0;
    for (int j = k; j < m->nsteps; j++) {
        reef_step_kind kind = m->steps[j].kind;
        if (!is_tail_kind(kind)) return 0;
        if (kind == REEF_STEP_SOFTMAX && j != m->nsteps - 1) return 0;
        if (j == k ? kind == REEF_STEP_ADD : !follows(m, k, j)) return 0;
        params += is_param_kind(kind);
    }
    return params > 0 && m->steps[k].input_tensors[0] >= 0 && m->steps[k].input_tensors[1] < 0;
}

static int count_layers(const reef_lowered_model *m, int k)
{
    int n = 0;
    for (int j = k; j < m->nsteps; j++)
        n += m->steps[j].kind != REEF_STEP_RESHAPE && m->steps[j].kind != REEF_STEP_SOFTMAX;
    return n;
}

int reef_ptail_cuts(const reef_lowered_model *m, int *cuts, int max)
{
    int n = 0;
    for (int k = m->nsteps - 1; k >= 0 && n < max; k--) {
        if (!is_tail_kind(m->steps[k].kind)) break;
        if (chain_from(m, k) && is_param_kind(m->steps[k].kind) && count_layers(m, k) <= REEF_TAIL_MAX_LAYERS)
            cuts[n++] = k;
    }
    return n;
}

static float tensor_scale(const reef_graph *g, int32_t t, int c)
{
    const reef_tensor *x = &g->tensors[t];
    if (x->nquant <= 0) return 1.0f;
    return x->scale[x->nquant == 1 ? 0 : c];
}

/* The float clamp equal to the int8 step's: activation limits (output
 * units) mapped back through the output quantization. */
static void float_clamp(const reef_graph *g, int32_t out_t, reef_activation act, int32_t out_zp,
                        reef_tail_layer *L)
{
    float s = tensor_scale(g, out_t, 0);
    L->act_min = s * (float)(act.min - out_zp);
    L->act_max = s * (float)(act.max - out_zp);
}

/* Dequantizes a step's filter and bias into w (count) and b (nout):
 * w = scale[c] * q, b = bias * input_scale * scale[c]. inner: elements of
 * one output channel in the layout, chan_last: depthwise (channel = last). */
static void dequant_weights(const reef_graph *g, const reef_lowered_step *s, int32_t filter_t, int nout,
                            int chan_last, float *w, float *b)
{
    size_t count = s->filter_size;
    size_t inner = count / (size_t)nout;
    float in_scale = tensor_scale(g, s->input_tensors[0], 0);
    for (size_t i = 0; i < count; i++) {
        int c = chan_last ? (int)(i % (size_t)nout) : (int)(i / inner);
        w[i] = tensor_scale(g, filter_t, c) * (float)s->filter[i];
    }
    for (int c = 0; c < nout; c++)
        b[c] = s->bias ? (float)s->bias[c] * (in_scale * tensor_scale(g, filter_t, c)) : 0.0f;
}

static int32_t filter_tensor(const reef_graph *g, const reef_lowered_step *s)
{
    return g->ops[s->op].inputs[1];
}

static void set_shape(reef_tail_layer *L, reef_dims in, reef_dims out)
{
    L->in_h = in.h;
    L->in_w = in.w;
    L->in_c = in.c;
    L->out_h = out.h;
    L->out_w = out.w;
    L->out_c = out.c;
}

/* A convolution's or depthwise convolution's shape and window. */
static void set_window(reef_tail_layer *L, reef_tail_kind kind, reef_dims in, reef_dims out, reef_dims filter,
                       int32_t stride, int32_t pad_top, int32_t pad_left)
{
    L->kind = kind;
    set_shape(L, in, out);
    L->kh = filter.h;
    L->kw = filter.w;
    L->stride = stride;
    L->pad_top = pad_top;
    L->pad_left = pad_left;
}

/* Fills L from step s; returns floats of parameters it needs, or -1. */
static int layer_from_step(const reef_graph *g, const reef_lowered_step *s, reef_tail_layer *L,
                           reef_error *err)
{
    memset(L, 0, sizeof *L);
    L->kh = L->kw = L->stride = 1;
    L->act_min = -NO_CLAMP;
    L->act_max = NO_CLAMP;
    switch (s->kind) {
    case REEF_STEP_CONV: {
        const reef_conv_step_args *a = &s->args.conv;
        if (a->params.dilation.h != 1 || a->params.dilation.w != 1 || a->params.stride.h != a->params.stride.w)
            return reef_fail(err, "tail conv (op %d): dilation or unequal strides are not trainable", s->op);
        set_window(L, REEF_TAIL_CONV, a->input_dims, a->output_dims, a->filter_dims, a->params.stride.h,
                   a->params.padding.h, a->params.padding.w);
        float_clamp(g, s->output_tensor, a->params.activation, a->params.output_offset, L);
        return (int)s->filter_size + a->output_dims.c;
    }
    case REEF_STEP_DW_CONV: {
        const reef_dw_conv_step_args *a = &s->args.dw_conv;
        if (a->params.depth_multiplier != 1 || a->params.dilation.h != 1 || a->params.dilation.w != 1 ||
            a->params.stride.h != a->params.stride.w)
            return reef_fail(err, "tail depthwise conv (op %d): multiplier, dilation or strides not trainable", s->op);
        set_window(L, REEF_TAIL_DW_CONV, a->input_dims, a->output_dims, a->filter_dims, a->params.stride.h,
                   a->params.padding.h, a->params.padding.w);
        float_clamp(g, s->output_tensor, a->params.activation, a->params.output_offset, L);
        return (int)s->filter_size + a->output_dims.c;
    }
    case REEF_STEP_FC: {
        const reef_fc_step_args *a = &s->args.fc;
        int32_t in = reef_dims_count(&a->input_dims) / a->input_dims.n;
        L->kind = REEF_TAIL_FC;
        L->in_h = L->in_w = L->out_h = L->out_w = 1;
        L->in_c = in;
        L->out_c = a->output_dims.c;
        float_clamp(g, s->output_tensor, a->params.activation, a->params.output_offset, L);
        return (int)s->filter_size + L->out_c;
    }
    case REEF_STEP_AVGPOOL: {
        const reef_pool_step_args *a = &s->args.avgpool;
        if (a->filter.h != a->input_dims.h || a->filter.w != a->input_dims.w || a->output_dims.h != 1 ||
            a->output_dims.w != 1)
            return reef_fail(err, "tail average pool (op %d) is not global; only global pooling is trainable", s->op);
        L->kind = REEF_TAIL_GAP;
        set_shape(L, a->input_dims, a->output_dims);
        return 0;
    }
    case REEF_STEP_ADD: {
        const reef_tensor *o = &g->tensors[s->output_tensor];
        reef_dims d = {1, 1, 1, 1};
        if (o->rank == 4) d = (reef_dims){o->shape[0], o->shape[1], o->shape[2], o->shape[3]};
        else if (o->rank == 2) d.c = o->shape[1];
        else return reef_fail(err, "tail ADD (op %d): a rank %d tensor is not trainable", s->op, o->rank);
        L->kind = REEF_TAIL_ADD;
        set_shape(L, d, d);
        float_clamp(g, s->output_tensor, s->args.add.params.activation, s->args.add.params.output_offset, L);
        return 0;
    }
    case REEF_STEP_MEAN:
        L->kind = REEF_TAIL_GAP;
        set_shape(L, s->args.mean.input_dims, s->args.mean.output_dims);
        return 0;
    default: return reef_fail(err, "op %d (%s) cannot be in a trainable tail", s->op, reef_step_kind_name(s->kind));
    }
}

void reef_ptail_free(reef_ptail *t)
{
    free(t->params0);
    memset(t, 0, sizeof *t);
}


static int has_params(const reef_tail_layer *L) { return L->kind != REEF_TAIL_GAP && L->kind != REEF_TAIL_ADD; }

/* Each ADD layer's skip: the layer whose input it adds, which keeps it. */
static void link_skips(const reef_lowered_model *m, reef_ptail *t)
{
    for (int i = 0; i < t->tail.nlayers; i++) {
        reef_tail_layer *L = &t->layers[i];
        const reef_lowered_step *s = &m->steps[t->steps[i]];
        if (L->kind != REEF_TAIL_ADD) continue;
        int j = t->steps[i];
        int src = skip_source(m, t->boundary_step, j, s->input_tensors[reads_previous(m, j, 0) ? 1 : 0]);
        for (int q = 0; q < i; q++)
            if (t->steps[q] == src) L->skip_from = q, t->layers[q].keep_input = 1;
    }
}

/* Lays out params and acts and dequantizes the weights. */
static int fill_tail(const reef_graph *g, const reef_lowered_model *m, reef_ptail *t, reef_error *err)
{
    uint32_t p = 0, delta = (uint32_t)t->tail.in_count;
    for (int i = 0; i < t->tail.nlayers; i++) {
        reef_tail_layer *L = &t->layers[i];
        int need = layer_from_step(g, &m->steps[t->steps[i]], L, err);
        if (need < 0) return -1;
        uint32_t out = (uint32_t)(L->out_h * L->out_w * L->out_c);
        if (out > delta) delta = out;
        if (has_params(L)) {
            L->w_at = p;
            L->b_at = p + (uint32_t)m->steps[t->steps[i]].filter_size;
        }
        p += (uint32_t)need;
    }
    /* logits unclamped: a saturated logit would stop learning */
    t->layers[t->tail.nlayers - 1].act_min = -NO_CLAMP;
    t->layers[t->tail.nlayers - 1].act_max = NO_CLAMP;
    t->tail.param_count = p;
    t->tail.delta_count = delta;
    t->tail.nclasses = t->layers[t->tail.nlayers - 1].out_c;
    if (!(t->params0 = calloc(p ? p : 1, sizeof(float)))) return reef_fail(err, "out of memory");
    for (int i = 0; i < t->tail.nlayers; i++) {
        const reef_lowered_step *s = &m->steps[t->steps[i]];
        reef_tail_layer *L = &t->layers[i];
        if (!has_params(L)) continue;
        dequant_weights(g, s, filter_tensor(g, s), L->out_c, L->kind == REEF_TAIL_DW_CONV, t->params0 + L->w_at,
                        t->params0 + L->b_at);
    }
    return 0;
}

int reef_ptail_build(const reef_graph *g, const reef_lowered_model *m, int boundary_step,
                     const int32_t *train, int ntrain, reef_ptail *t, reef_error *err)
{
    memset(t, 0, sizeof *t);
    if (boundary_step < 0 || boundary_step >= m->nsteps || !chain_from(m, boundary_step) ||
        !is_param_kind(m->steps[boundary_step].kind))
        return reef_fail(err, "step %d cannot start a trainable tail (see `reef personalize plan` for the cuts)",
                         boundary_step);
    int n = count_layers(m, boundary_step);
    if (n > REEF_TAIL_MAX_LAYERS) return reef_fail(err, "a tail of %d layers is longer than %d", n, REEF_TAIL_MAX_LAYERS);
    if (train && ntrain != n) return reef_fail(err, "the plan trains %d tail layers, the tail from step %d has %d", ntrain, boundary_step, n);
    const reef_lowered_step *first = &m->steps[boundary_step];
    int32_t bt = first->input_tensors[0];
    const reef_tensor *bx = &g->tensors[bt];
    if (bx->type != REEF_INT8 || bx->nquant < 1) return reef_fail(err, "the tensor at step %d is not int8", boundary_step);
    t->boundary_step = boundary_step;
    t->boundary_tensor = bt;
    t->boundary_at = m->tensor_at[bt];
    t->tail.in_count = (int32_t)m->tensor_bytes[bt];
    t->tail.in_scale = bx->scale[0];
    t->tail.in_zero_point = (int32_t)bx->zero_point[0];
    t->tail.layers = t->layers;
    int i = 0;
    for (int j = boundary_step; j < m->nsteps; j++)
        if (m->steps[j].kind != REEF_STEP_RESHAPE && m->steps[j].kind != REEF_STEP_SOFTMAX) t->steps[i++] = j;
    t->tail.nlayers = n;
    if (fill_tail(g, m, t, err)) {
        reef_ptail_free(t);
        return -1;
    }
    for (i = 0; i < n; i++)
        t->layers[i].train = !has_params(&t->layers[i]) ? 0
                             : train                  ? train[i]
                                                      : (REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS);
    link_skips(m, t);
    /* the trained parameters, packed: only they take RAM */
    uint32_t at = 0;
    for (i = 0; i < n; i++) {
        reef_tail_layer *L = &t->layers[i];
        if (!has_params(L)) continue;
        if (L->train & REEF_TRAIN_WEIGHTS) L->tw_at = at, at += L->b_at - L->w_at;
        if (L->train & REEF_TRAIN_BIAS) L->tb_at = at, at += (uint32_t)L->out_c;
    }
    t->tail.train_count = at;
    /* acts: inputs kept for weight gradients or an ADD, the gradients ADDs
     * send back, logits, masks, two buffers */
    uint32_t a = 0;
    for (i = 0; i < n; i++) {
        reef_tail_layer *L = &t->layers[i];
        if ((L->train & REEF_TRAIN_WEIGHTS) || L->keep_input) L->save_at = a, a += (uint32_t)(L->in_h * L->in_w * L->in_c);
        if (L->kind == REEF_TAIL_ADD) L->dskip_at = a, a += (uint32_t)(L->out_h * L->out_w * L->out_c);
    }
    t->tail.logits_at = a;
    a += (uint32_t)t->tail.nclasses;
    for (i = 0; i < n; i++) {
        reef_tail_layer *L = &t->layers[i];
        if (L->kind != REEF_TAIL_GAP) L->mask_at = a, a += (uint32_t)(L->out_h * L->out_w * L->out_c + 31) / 32;
    }
    t->tail.ping_at = a;
    t->tail.act_count = a + 2 * t->tail.delta_count;
    return 0;
}


/* ---- scheme a: the int8 tail ---------------------------------------------- */

static uint32_t align4(uint32_t n) { return (n + 3u) & ~3u; }
static uint32_t align16u(uint32_t n) { return (n + 15u) & ~15u; }

/* Checks a layer the int8 backward handles and fills its kind-specific
 * scales. */
static int qlayer_from_step(const reef_graph *g, const reef_lowered_model *m, const reef_ptail *t, int i,
                            reef_qtail_layer *Q, reef_error *err)
{
    const reef_tail_layer *L = &t->layers[i];
    const reef_lowered_step *s = &m->steps[t->steps[i]];
    int j = t->steps[i];
    Q->kind = L->kind;
    Q->step = j;
    Q->train = L->train;
    Q->in_count = L->in_h * L->in_w * L->in_c;
    Q->out_count = L->out_h * L->out_w * L->out_c;
    Q->out_c = L->out_c;
    Q->in_scale = tensor_scale(g, s->input_tensors[0], 0);
    Q->out_scale = tensor_scale(g, s->output_tensor, 0);
    Q->skip_from = L->skip_from;
    switch (L->kind) {
    case REEF_TAIL_CONV:
        if (L->kh != 1 || L->kw != 1 || L->stride != 1 || L->pad_top || L->pad_left)
            return reef_fail(err, "int8 tail conv (op %d): only 1x1 convs at stride 1 train as int8", s->op);
        Q->weight_count = (uint32_t)s->filter_size;
        return 0;
    case REEF_TAIL_DW_CONV: Q->weight_count = (uint32_t)s->filter_size; return 0;
    case REEF_TAIL_FC:
        if (s->args.fc.params.filter_offset)
            return reef_fail(err, "int8 tail fully connected (op %d): asymmetric weights are not trainable", s->op);
        if (!s->args.fc.channel_quant.multiplier && L->out_c > 64)
            return reef_fail(err, "int8 tail fully connected (op %d): per-tensor with more than 64 outputs", s->op);
        Q->weight_count = (uint32_t)s->filter_size;
        return 0;
    case REEF_TAIL_GAP:
        Q->is_mean = s->kind == REEF_STEP_MEAN;
        Q->back_scale = Q->in_scale / (Q->out_scale * (float)(L->in_h * L->in_w));
        return 0;
    case REEF_TAIL_ADD: {
        int chain = reads_previous(m, j, 0) ? 0 : 1;
        Q->back_scale = tensor_scale(g, s->input_tensors[chain], 0) / Q->out_scale;
        Q->skip_scale = tensor_scale(g, s->input_tensors[1 - chain], 0) / Q->out_scale;
        Q->in_scale = tensor_scale(g, s->input_tensors[chain], 0);
        return 0;
    }
    default: return reef_fail(err, "op %d cannot be in an int8 trainable tail", s->op);
    }
}

/* The arena bytes [lo, top) the tail's steps read or write: the int8 tail
 * runs them in its own copy of that span. */
static void widen(uint32_t at, uint32_t end, uint32_t *lo, uint32_t *top)
{
    if (at < *lo) *lo = at;
    if (end > *top) *top = end;
}

static uint32_t tail_arena_span(const reef_lowered_model *m, const reef_ptail *t, uint32_t *lo_out)
{
    uint32_t top = t->boundary_at + (uint32_t)t->tail.in_count, lo = t->boundary_at;
    int last = t->steps[t->tail.nlayers - 1];
    for (int j = t->boundary_step; j <= last; j++) {
        const reef_lowered_step *s = &m->steps[j];
        const reef_step_io *io = (const reef_step_io *)m->table[j].args;
        widen(io->output_at, io->output_at + (uint32_t)m->tensor_bytes[s->output_tensor], &lo, &top);
        for (int x = 0; x < 2; x++)
            if (s->input_tensors[x] >= 0) {
                uint32_t at = (uint32_t)m->tensor_at[s->input_tensors[x]];
                widen(at, at + (uint32_t)m->tensor_bytes[s->input_tensors[x]], &lo, &top);
            }
        if (io->scratch_size) widen(io->scratch_at, io->scratch_at + io->scratch_size, &lo, &top);
    }
    *lo_out = lo & ~15u; /* keeps the copy as aligned as the arena */
    return top - *lo_out;
}

/* Lays out params (trained biases, then weights) and acts (arena, saved
 * int8 tensors, logits, gradients, scratch, deltas): reef/train_int8.h. */
static void qtail_layout(const reef_lowered_model *m, reef_ptail *t)
{
    reef_qtail *q = &t->qtail;
    int n = q->nlayers;
    uint32_t bytes = 0, at, f, max_c = 1, delta;
    uint32_t span = tail_arena_span(m, t, &q->arena_lo);
    for (int i = 0; i < n; i++)
        if (t->qlayers[i].train & REEF_TRAIN_BIAS) t->qlayers[i].tb_at = bytes, bytes += 4u * (uint32_t)t->qlayers[i].out_c;
    for (int i = 0; i < n; i++)
        if (t->qlayers[i].train & REEF_TRAIN_WEIGHTS) t->qlayers[i].tw_at = bytes, bytes += t->qlayers[i].weight_count;
    t->tail.train_count = align4(bytes) / 4u;
    at = (uint32_t)t->tail.in_count;
    delta = (uint32_t)t->tail.in_count;
    for (int i = 0; i < n; i++) {
        reef_qtail_layer *Q = &t->qlayers[i];
        Q->in_at = i ? t->qlayers[i - 1].out_at : 0;
        Q->out_at = at;
        at += (uint32_t)Q->out_count;
        if ((uint32_t)Q->out_c > max_c) max_c = (uint32_t)Q->out_c;
        if ((uint32_t)Q->in_count > delta) delta = (uint32_t)Q->in_count;
        if ((uint32_t)Q->out_count > delta) delta = (uint32_t)Q->out_count;
    }
    f = align16u(at) / 4u;
    t->tail.logits_at = f;
    f += (uint32_t)t->tail.nclasses;
    q->grads_at = f;
    for (int i = 0; i < n; i++) {
        reef_qtail_layer *Q = &t->qlayers[i];
        if (Q->train & REEF_TRAIN_WEIGHTS) Q->gw_at = f, f += Q->weight_count;
        if (Q->train & REEF_TRAIN_BIAS) Q->gb_at = f, f += (uint32_t)Q->out_c;
    }
    q->grad_count = f - q->grads_at;
    q->bias_at = f;
    f += max_c;
    for (int i = 0; i < n; i++)
        if (t->qlayers[i].kind == REEF_TAIL_ADD) t->qlayers[i].dskip_at = f, f += (uint32_t)t->qlayers[i].out_count;
    t->tail.delta_count = delta;
    t->tail.ping_at = align16u(f * 4u) / 4u; /* the arena copy starts here: 16-byte aligned */
    f = 2u * delta > (span + 3u) / 4u ? 2u * delta : (span + 3u) / 4u;
    t->tail.act_count = t->tail.ping_at + f;
}

int reef_ptail_build_scheme(const reef_graph *g, const reef_lowered_model *m, int scheme, int boundary_step,
                            const int32_t *train, int ntrain, reef_ptail *t, reef_error *err)
{
    if (reef_ptail_build(g, m, boundary_step, train, ntrain, t, err)) return -1;
    t->scheme = scheme;
    if (scheme != REEF_SCHEME_INT8) return 0;
    reef_qtail *q = &t->qtail;
    int n = t->tail.nlayers;
    memset(q, 0, sizeof *q);
    q->steps = m->table;
    q->first_step = boundary_step;
    q->last_step = t->steps[n - 1] + 1;
    q->nlayers = n;
    q->layers = t->qlayers;
    q->boundary_at = t->boundary_at;
    t->qparam_count = 0;
    for (int i = 0; i < n; i++) {
        if (qlayer_from_step(g, m, t, i, &t->qlayers[i], err)) {
            reef_ptail_free(t);
            return -1;
        }
        t->qparam_count += t->qlayers[i].weight_count + (has_params(&t->layers[i]) ? (uint32_t)t->qlayers[i].out_c : 0);
    }
    const reef_lowered_step *last = &m->steps[t->steps[n - 1]];
    if (last->kind != REEF_STEP_FC && last->kind != REEF_STEP_CONV) {
        reef_ptail_free(t);
        return reef_fail(err, "an int8 tail must end in a fully connected layer or conv (the logits)");
    }
    q->logits_zero_point = g->tensors[last->output_tensor].nquant ? (int32_t)g->tensors[last->output_tensor].zero_point[0] : 0;
    qtail_layout(m, t);
    t->tail.param_count = 0; /* no second copy: the deployed int8 weights are the tail's */
    t->tail.q = q;
    return 0;
}

uint32_t reef_ptail_trainable(const reef_ptail *t)
{
    if (t->scheme != REEF_SCHEME_INT8) return t->tail.train_count;
    uint32_t n = 0;
    for (int i = 0; i < t->qtail.nlayers; i++) {
        const reef_qtail_layer *Q = &t->qlayers[i];
        if (Q->train & REEF_TRAIN_WEIGHTS) n += Q->weight_count;
        if (Q->train & REEF_TRAIN_BIAS) n += (uint32_t)Q->out_c;
    }
    return n;
}
