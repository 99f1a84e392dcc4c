/* reef_quantize: calibration of a float model's activations, then the int8
 * TFLite graph built op by op from the model's blocks. See quant.h. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/train.h"
#include "quant/quant.h"
#include "util/io.h"

void reef_quant_options_default(reef_quant_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->method = REEF_CALIB_MINMAX;
    opt->percentile = 99.99;
    opt->samples = 500;
    opt->seed = 1;
    opt->batch = 64;
    opt->threads = 1;
    opt->agreement = 1;
}

void reef_quant_report_free(reef_quant_report *rep)
{
    if (!rep) return;
    free(rep->layers);
    memset(rep, 0, sizeof *rep);
}

/* ---- calibration points ---------------------------------------------------------- */

/* One float tensor whose range an int8 tensor takes: a conv / depthwise /
 * fc layer's output (after batch norm and activation) or a residual
 * block's sum. Pools, dropout and reshapes keep their input's. */
typedef struct qpoint {
    const float *buf;      /* (batch_cap, size) the model's batch buffer */
    int size;              /* floats per sample */
    reef_observer obs;
    float lo, hi;          /* chosen range */
    float scale;
    int32_t zero_point;
} qpoint;

typedef struct qplan {
    int n;
    qpoint *pts;           /* (n) in the order the graph builder meets them */
} qplan;

static int has_weights(const reef_layer *L)
{
    return L->kind == REEF_LAYER_CONV || L->kind == REEF_LAYER_DWCONV || L->kind == REEF_LAYER_FC;
}

/* Walks the model as the graph builder will; with pts NULL only counts. */
static int plan_walk(const reef_model *m, qpoint *pts)
{
    int n = 0;
    for (int bi = 0; bi < m->nblocks; bi++) {
        const reef_block *b = &m->blocks[bi];
        for (int li = 0; li < b->nlayers; li++) {
            const reef_layer *L = &b->layers[li];
            if (!has_weights(L)) continue;
            if (pts) pts[n].buf = L->y, pts[n].size = L->out_size;
            n++;
        }
        if (b->residual) {
            if (pts) pts[n].buf = b->out, pts[n].size = b->layers[b->nlayers - 1].out_size;
            n++;
        }
    }
    return n;
}

static int plan_init(qplan *p, const reef_model *m, reef_error *err)
{
    p->n = plan_walk(m, NULL);
    p->pts = calloc((size_t)p->n + 1, sizeof *p->pts);
    if (!p->pts) return reef_fail(err, "out of memory for %d calibration observers", p->n);
    plan_walk(m, p->pts);
    for (int i = 0; i < p->n; i++) reef_observer_init(&p->pts[i].obs);
    return 0;
}

/* ---- calibration ------------------------------------------------------------------- */

typedef struct calib_run {
    reef_model *m;
    const reef_dataset *ds;
    const uint32_t *idx;   /* (n) calibration samples */
    int n;
    const reef_quant_options *opt;
    uint16_t *float_pred;  /* (n) filled in pass 1, or NULL */
    int64_t done, total;   /* forward passes, for progress */
} calib_run;

/* Runs the float model over the samples; pass 1 widens every point's range,
 * pass 2 fills its histogram. */
static int calib_pass(calib_run *r, qplan *p, int pass, reef_error *err)
{
    reef_model *m = r->m;
    const size_t ss = reef_dataset_sample_size(r->ds);
    uint8_t *pixels = malloc((size_t)m->batch_cap * ss);  // (batch, H, W, C)
    if (!pixels) return reef_fail(err, "out of memory");
    for (int start = 0; start < r->n; start += m->batch_cap) {
        const int nb = r->n - start < m->batch_cap ? r->n - start : m->batch_cap;
        for (int i = 0; i < nb; i++) memcpy(pixels + (size_t)i * ss, reef_dataset_sample(r->ds, r->idx[start + i]), ss);
        reef_model_normalize(m, pixels, nb);
        reef_model_forward(m, nb, REEF_MODE_INFER, 0);
        for (int k = 0; k < p->n; k++) {
            qpoint *q = &p->pts[k];
            if (pass == 1) reef_observer_range(&q->obs, q->buf, (size_t)nb * q->size);
            else reef_observer_hist(&q->obs, q->buf, (size_t)nb * q->size);
        }
        if (pass == 1 && r->float_pred)
            for (int i = 0; i < nb; i++) r->float_pred[start + i] = (uint16_t)reef_model_argmax(m, i);
        r->done += nb;
        if (r->opt->progress) r->opt->progress(r->opt->progress_ctx, r->done, r->total);
    }
    free(pixels);
    return 0;
}

static int calibrate(calib_run *r, qplan *p, reef_error *err)
{
    const int passes = r->opt->method == REEF_CALIB_MINMAX ? 1 : 2;
    r->total = (int64_t)passes * r->n;
    for (int pass = 1; pass <= passes; pass++)
        if (calib_pass(r, p, pass, err)) return -1;
    for (int k = 0; k < p->n; k++) {
        qpoint *q = &p->pts[k];
        reef_observer_choose(&q->obs, r->opt->method, r->opt->percentile, &q->lo, &q->hi);
        reef_choose_qparams(q->lo, q->hi, &q->scale, &q->zero_point);
        if (q->lo > 0) q->lo = 0;
        if (q->hi < 0) q->hi = 0;
    }
    return 0;
}

/* ---- building the graph ---------------------------------------------------------- */

typedef struct gbuild {
    const reef_model *m;
    int fold_pending;      /* the next weighted layer takes the input's per-channel factors */
    float in_fold[REEF_MAX_CHANNELS];
    reef_graph *g;
    qplan *plan;
    int next_point;
    int cur;               /* graph tensor holding the current activation */
    reef_quant_report *rep;
    int rep_cap;
    reef_error *err;
} gbuild;

static const reef_tensor *tensor(const gbuild *gb, int t) { return &gb->g->tensors[t]; }

/* A new int8 activation tensor (1, h, w, c), or (1, c) when rank is 2. */
static int add_act(gbuild *gb, const char *name, int rank, int h, int w, int c, float scale, int32_t zp)
{
    int32_t shape[4] = {1, h, w, c};
    if (rank == 2) shape[1] = c;
    int t = reef_graph_add_tensor(gb->g, name, REEF_INT8, rank, shape, gb->err);
    int64_t z = zp;
    if (t < 0 || reef_graph_set_quant(gb->g, t, 1, &scale, &z, 0, gb->err)) return -1;
    return t;
}

/* One report row for op output tensor t; pt is its calibration point or NULL. */
static int report_row(gbuild *gb, int t, const qpoint *pt, const float *wscale, int nw,
                      int64_t wbytes)
{
    reef_quant_report *rep = gb->rep;
    if (!rep) return 0;
    if (rep->nlayers == gb->rep_cap) {
        int cap = gb->rep_cap ? 2 * gb->rep_cap : 32;
        reef_quant_layer *l = realloc(rep->layers, (size_t)cap * sizeof *l);
        if (!l) return reef_fail(gb->err, "out of memory");
        rep->layers = l, gb->rep_cap = cap;
    }
    reef_quant_layer *r = &rep->layers[rep->nlayers++];
    memset(r, 0, sizeof *r);
    const reef_tensor *x = tensor(gb, t);
    snprintf(r->name, sizeof r->name, "%s", x->name);
    r->op = reef_builtin_name(gb->g->ops[gb->g->nops - 1].builtin);
    r->scale = x->scale[0];
    r->zero_point = (int32_t)x->zero_point[0];
    // The range int8 represents; for a calibrated tensor, what was observed.
    r->lo = r->scale * (float)(-128 - r->zero_point);
    r->hi = r->scale * (float)(127 - r->zero_point);
    r->min = pt ? (float)pt->obs.min : NAN;
    r->max = pt ? (float)pt->obs.max : NAN;
    for (int i = 0; i < nw; i++) {
        if (i == 0 || wscale[i] < r->wscale_min) r->wscale_min = wscale[i];
        if (i == 0 || wscale[i] > r->wscale_max) r->wscale_max = wscale[i];
    }
    r->weight_bytes = wbytes;
    return 0;
}

/* Adds an op with the version TFLite's converter gives its int8 form (as in
 * the MLPerf Tiny models: CONV_2D 3, DEPTHWISE_CONV_2D 3, FULLY_CONNECTED 4,
 * ADD / pools / SOFTMAX 2, RESHAPE 1). */
static int add_op(gbuild *gb, int32_t builtin, const int32_t *ins, int nin, int32_t out, const reef_op_options *o)
{
    int32_t outs[1] = {out};
    int op = reef_graph_add_op(gb->g, builtin, ins, nin, outs, 1, o, gb->err);
    if (op < 0) return -1;
    int version = 1;
    switch (builtin) {
    case REEF_OP_CONV_2D:
    case REEF_OP_DEPTHWISE_CONV_2D: version = 3; break;
    case REEF_OP_FULLY_CONNECTED: version = 4; break;
    case REEF_OP_ADD:
    case REEF_OP_AVERAGE_POOL_2D:
    case REEF_OP_MAX_POOL_2D:
    case REEF_OP_SOFTMAX: version = 2; break;
    default: break;
    }
    gb->g->ops[op].version = version;
    return 0;
}

static reef_fused_act fused(reef_nn_act a)
{
    return a == REEF_NN_ACT_RELU ? REEF_ACT_RELU : a == REEF_NN_ACT_RELU6 ? REEF_ACT_RELU6 : REEF_ACT_NONE;
}

/* Quantized weights and bias of one layer, ready for the graph. */
typedef struct qweights {
    int nch, quant_dim;
    size_t count;
    int8_t *q;             /* (count) layout of L->w */
    float *wscale;         /* (nch) */
    int32_t *bias;         /* (OC) */
    float *bscale;         /* (nch) input_scale * wscale */
    int64_t *zeros;        /* (max(nch, OC)) zero points: all 0 */
} qweights;

static void qweights_free(qweights *w)
{
    free(w->q), free(w->wscale), free(w->bias), free(w->bscale), free(w->zeros);
}

/* Bias quanta must fit int32 with room for the accumulation: a weight scale
 * is raised, if need be, until |bias| / (input_scale * weight_scale) stays
 * below 2^24 (matters only for nearly dead channels). */
#define BIAS_LIMIT 16777216.0

/* Folds batch norm into L's weights and quantizes them for input scale s_in. */
static int quantize_layer_weights(const reef_layer *L, float s_in, const float *in_fold, qweights *qw,
                                  reef_error *err)
{
    const reef_conv_dims *d = &L->dims;
    const int oc = d->oc;
    size_t inner;
    memset(qw, 0, sizeof *qw);
    switch (L->kind) {
    case REEF_LAYER_CONV: qw->count = (size_t)oc * d->kh * d->kw * d->c, inner = qw->count / oc, qw->nch = oc; break;
    case REEF_LAYER_DWCONV: qw->count = (size_t)d->kh * d->kw * oc, inner = 1, qw->nch = oc, qw->quant_dim = 3; break;
    default: qw->count = (size_t)oc * d->c, inner = qw->count, qw->nch = 1; break;  // fc: per tensor
    }
    float *w = malloc(qw->count * sizeof *w), *b = malloc((size_t)oc * sizeof *b);
    float *min_scale = calloc((size_t)qw->nch, sizeof *min_scale);
    qw->q = malloc(qw->count);
    qw->wscale = malloc((size_t)qw->nch * sizeof *qw->wscale);
    qw->bscale = malloc((size_t)qw->nch * sizeof *qw->bscale);
    qw->bias = malloc((size_t)oc * sizeof *qw->bias);
    qw->zeros = calloc((size_t)oc, sizeof *qw->zeros);
    if (!w || !b || !min_scale || !qw->q || !qw->wscale || !qw->bscale || !qw->bias || !qw->zeros) {
        free(w), free(b), free(min_scale), qweights_free(qw);
        return reef_fail(err, "out of memory");
    }
    reef_fold_bn(L, w, b);
    if (in_fold)  // the input's per-channel factors (conv OHWI and depthwise 1HWC: channel = last dimension)
        for (size_t i = 0; i < qw->count; i++) w[i] *= in_fold[i % (size_t)d->c];
    for (int o = 0; o < oc; o++) {
        float need = (float)(fabsf(b[o]) / ((double)s_in * BIAS_LIMIT));
        int c = qw->nch == 1 ? 0 : o;
        if (need > min_scale[c]) min_scale[c] = need;
    }
    reef_quant_symmetric(qw->q, qw->wscale, w, qw->count, qw->nch, inner, min_scale);
    for (int c = 0; c < qw->nch; c++) qw->bscale[c] = s_in * qw->wscale[c];
    for (int o = 0; o < oc; o++) {
        double v = round((double)b[o] / (double)qw->bscale[qw->nch == 1 ? 0 : o]);
        qw->bias[o] = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483648.0 ? -2147483648.0 : v);
    }
    free(w), free(b), free(min_scale);
    return 0;
}

/* Weight and bias constant tensors of layer (bi, li); returns 0 and their
 * indices. */
static int add_weight_tensors(gbuild *gb, const reef_layer *L, const char *name, const qweights *qw,
                              int *wt, int *bt)
{
    const reef_conv_dims *d = &L->dims;
    int32_t shape[4];
    int rank = 4;
    if (L->kind == REEF_LAYER_CONV) shape[0] = d->oc, shape[1] = d->kh, shape[2] = d->kw, shape[3] = d->c;
    else if (L->kind == REEF_LAYER_DWCONV) shape[0] = 1, shape[1] = d->kh, shape[2] = d->kw, shape[3] = d->oc;
    else rank = 2, shape[0] = d->oc, shape[1] = d->c;
    char tname[64];
    snprintf(tname, sizeof tname, "%s.w", name);
    *wt = reef_graph_add_tensor(gb->g, tname, REEF_INT8, rank, shape, gb->err);
    if (*wt < 0 || reef_graph_set_quant(gb->g, *wt, qw->nch, qw->wscale, qw->zeros, qw->quant_dim, gb->err) ||
        reef_graph_set_data(gb->g, *wt, qw->q, qw->count, gb->err))
        return -1;
    int32_t bshape[1] = {d->oc};
    snprintf(tname, sizeof tname, "%s.b", name);
    *bt = reef_graph_add_tensor(gb->g, tname, REEF_INT32, 1, bshape, gb->err);
    // int32 data little-endian, as the file stores it.
    uint8_t *le = malloc((size_t)d->oc * 4);
    if (!le) return reef_fail(gb->err, "out of memory");
    for (int o = 0; o < d->oc; o++) {
        uint32_t v = (uint32_t)qw->bias[o];
        for (int k = 0; k < 4; k++) le[4 * o + k] = (uint8_t)(v >> (8 * k));
    }
    int rc = *bt < 0 || reef_graph_set_quant(gb->g, *bt, qw->nch, qw->bscale, qw->zeros, 0, gb->err) ||
             reef_graph_set_data(gb->g, *bt, le, (size_t)d->oc * 4, gb->err);
    free(le);
    return rc ? -1 : 0;
}

/* CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED with folded batch norm and
 * fused activation. */
static int add_weighted_layer(gbuild *gb, const reef_layer *L, int bi, int li)
{
    char name[40];
    snprintf(name, sizeof name, "b%d.l%d", bi, li);
    qpoint *pt = &gb->plan->pts[gb->next_point++];
    qweights qw;
    if (quantize_layer_weights(L, tensor(gb, gb->cur)->scale[0], gb->fold_pending ? gb->in_fold : NULL, &qw, gb->err))
        return -1;
    gb->fold_pending = 0;
    int wt, bt, rc = -1;
    if (add_weight_tensors(gb, L, name, &qw, &wt, &bt)) goto done;
    const reef_conv_dims *d = &L->dims;
    const int is_fc = L->kind == REEF_LAYER_FC;
    int out = add_act(gb, name, is_fc ? 2 : 4, d->oh, d->ow, d->oc, pt->scale, pt->zero_point);
    if (out < 0) goto done;
    reef_op_options o;
    reef_op_options_init(&o);
    o.activation = fused(L->act);
    o.padding = REEF_PAD_SAME;  // the float layers pad as TFLite's SAME
    o.stride_w = o.stride_h = d->stride;
    int32_t builtin = is_fc ? REEF_OP_FULLY_CONNECTED
                      : L->kind == REEF_LAYER_CONV ? REEF_OP_CONV_2D : REEF_OP_DEPTHWISE_CONV_2D;
    int32_t ins[3] = {gb->cur, wt, bt};
    if (add_op(gb, builtin, ins, 3, out, &o)) goto done;
    gb->cur = out;
    rc = report_row(gb, out, pt, qw.wscale, qw.nch, (int64_t)qw.count + 4 * (int64_t)d->oc);
done:
    qweights_free(&qw);
    return rc;
}

/* AVERAGE_POOL_2D / MAX_POOL_2D (VALID), global average pooling as an
 * AVERAGE_POOL_2D over the whole map; output quantization = input's, as
 * TFLite requires. */
static int add_pool(gbuild *gb, const reef_layer *L, int bi, int li)
{
    char name[40];
    snprintf(name, sizeof name, "b%d.l%d", bi, li);
    const reef_conv_dims *d = &L->dims;
    const reef_tensor *in = tensor(gb, gb->cur);
    int out = add_act(gb, name, 4, d->oh, d->ow, d->oc, in->scale[0], (int32_t)in->zero_point[0]);
    if (out < 0) return -1;
    reef_op_options o;
    reef_op_options_init(&o);
    o.padding = REEF_PAD_VALID;
    if (L->kind == REEF_LAYER_GAP) {
        o.filter_h = d->h, o.filter_w = d->w, o.stride_h = o.stride_w = 1;
    } else {
        o.filter_h = d->kh, o.filter_w = d->kw, o.stride_h = o.stride_w = d->stride;
    }
    int32_t builtin = L->kind == REEF_LAYER_MAXPOOL ? REEF_OP_MAX_POOL_2D : REEF_OP_AVERAGE_POOL_2D;
    int32_t ins[1] = {gb->cur};
    if (add_op(gb, builtin, ins, 1, out, &o)) return -1;
    gb->cur = out;
    return report_row(gb, out, NULL, NULL, 0, 0);
}

/* The residual sum of block bi: ADD(last layer's output, block input). */
static int add_residual(gbuild *gb, const reef_block *b, int bi, int block_in)
{
    char name[40];
    snprintf(name, sizeof name, "b%d.add", bi);
    qpoint *pt = &gb->plan->pts[gb->next_point++];
    int out = add_act(gb, name, 4, b->out_h, b->out_w, b->out_c, pt->scale, pt->zero_point);
    if (out < 0) return -1;
    int32_t ins[2] = {gb->cur, block_in};
    if (add_op(gb, REEF_OP_ADD, ins, 2, out, NULL)) return -1;
    gb->cur = out;
    return report_row(gb, out, pt, NULL, 0, 0);
}

/* (1, classes) logits -> SOFTMAX, int8 with TFLite's fixed output
 * quantization (scale 1/256, zero point -128). A 4-D output is reshaped to
 * (1, classes) first. */
static int add_classifier_tail(gbuild *gb, int classes)
{
    const reef_tensor *in = tensor(gb, gb->cur);
    if (reef_tensor_elements(in) != classes)
        return reef_fail(gb->err, "the network's last layer has %lld outputs for %d classes",
                         (long long)reef_tensor_elements(in), classes);
    if (in->rank != 2) {
        int out = add_act(gb, "logits", 2, 1, 1, classes, in->scale[0], (int32_t)in->zero_point[0]);
        int32_t shape_data[2] = {1, classes}, sshape[1] = {2};
        int st = out < 0 ? -1 : reef_graph_add_tensor(gb->g, "logits.shape", REEF_INT32, 1, sshape, gb->err);
        if (st < 0 || reef_graph_set_data(gb->g, st, shape_data, sizeof shape_data, gb->err)) return -1;
        reef_op_options o;
        reef_op_options_init(&o);
        o.nnew_shape = 2, o.new_shape[0] = 1, o.new_shape[1] = classes;
        int32_t ins[2] = {gb->cur, st};
        if (add_op(gb, REEF_OP_RESHAPE, ins, 2, out, &o)) return -1;
        gb->cur = out;
    }
    int out = add_act(gb, "probs", 2, 1, 1, classes, 1.0f / 256.0f, -128);
    if (out < 0) return -1;
    int32_t ins[1] = {gb->cur};
    if (add_op(gb, REEF_OP_SOFTMAX, ins, 1, out, NULL)) return -1;
    gb->cur = out;
    return report_row(gb, out, NULL, NULL, 0, 0);
}

static int build_blocks(gbuild *gb)
{
    const reef_model *m = gb->m;
    for (int bi = 0; bi < m->nblocks; bi++) {
        const reef_block *b = &m->blocks[bi];
        const int block_in = gb->cur;
        for (int li = 0; li < b->nlayers; li++) {
            const reef_layer *L = &b->layers[li];
            int rc = 0;
            if (has_weights(L)) rc = add_weighted_layer(gb, L, bi, li);
            else if (L->kind != REEF_LAYER_DROPOUT) rc = add_pool(gb, L, bi, li);  // dropout: identity
            if (rc) return -1;
        }
        if (b->residual && add_residual(gb, b, bi, block_in)) return -1;
    }
    return 0;
}

/* model name -> C identifier ("fish-s" -> "fish_s"). */
static void c_identifier(const char *name, char *buf, size_t size)
{
    size_t n = 0;
    if (!name || !*name) name = "model";
    if (isdigit((unsigned char)name[0]) && n + 1 < size) buf[n++] = 'm';
    for (; *name && n + 1 < size; name++) buf[n++] = isalnum((unsigned char)*name) ? *name : '_';
    buf[n] = '\0';
}

static int build_graph(gbuild *gb, const reef_quant_options *opt, int samples)
{
    const reef_model *m = gb->m;
    char name[72], desc[512], norm[256];
    c_identifier(opt->name ? opt->name : m->arch.name, name, sizeof name);
    if (reef_graph_init(gb->g, name, gb->err)) return -1;
    reef_norm fold_norm;
    float fold_factor[REEF_MAX_CHANNELS];
    reef_quant_input_fold(m, &fold_norm, fold_factor);
    reef_norm_describe(&fold_norm, norm, sizeof norm);  // what the graph's input tensor holds
    snprintf(desc, sizeof desc, "reef int8 model of %s (%s calibration on %d samples); input q = pixel - 128 when exact; %s",
             m->arch.name, reef_calib_method_name(opt->method), samples, norm);
    if (reef_graph_set_description(gb->g, desc, gb->err) || reef_graph_set_class_names(gb->g, &m->classes, gb->err))
        return -1;
    float s_in;
    int32_t zp_in;
    reef_input_map map;
    reef_norm in_norm;
    gb->fold_pending = reef_quant_input_fold(m, &in_norm, gb->in_fold);
    reef_input_quant(&in_norm, &s_in, &zp_in, &map);
    const int input = add_act(gb, "input", 4, m->in_h, m->in_w, m->in_c, s_in, zp_in);
    if (input < 0) return -1;
    gb->cur = input;
    if (gb->rep) gb->rep->input_scale = s_in, gb->rep->input_zero_point = zp_in, gb->rep->input_exact = map.exact;
    if (build_blocks(gb) || add_classifier_tail(gb, m->num_classes)) return -1;
    int32_t in[1] = {input}, out[1] = {gb->cur};
    return reef_graph_set_io(gb->g, in, 1, out, 1, gb->err);
}

/* ---- the whole ------------------------------------------------------------------------ */

/* Runs the int8 graph on the calibration samples and compares. */
static int measure_agreement(const reef_graph *g, const reef_dataset *ds, const uint32_t *idx, int n,
                             const uint16_t *float_pred, reef_quant_report *rep, reef_error *err)
{
    uint16_t *pred = malloc((size_t)n * sizeof *pred);
    if (!pred) return reef_fail(err, "out of memory");
    if (reef_int8_predict(g, ds, idx, n, pred, err)) {
        free(pred);
        return reef_fail_wrap(err, "running the int8 model on the calibration samples");
    }
    int same = 0, fc = 0, qc = 0;
    for (int i = 0; i < n; i++) {
        same += pred[i] == float_pred[i];
        fc += float_pred[i] == ds->labels[idx[i]];
        qc += pred[i] == ds->labels[idx[i]];
    }
    rep->samples_compared = n;
    rep->agreement = (double)same / n;
    rep->float_accuracy = (double)fc / n;
    rep->int8_accuracy = (double)qc / n;
    free(pred);
    return 0;
}

/* What both calibrations start with: the data checked against the model,
 * the model's batch set, the plan's points and the calibration samples'
 * indices (*n of them, *idx owned by the caller, as plan->pts). */
static int calib_begin(reef_model *m, const reef_dataset *calib, const reef_quant_options *opt, qplan *plan,
                       uint32_t **idx, int *n, reef_error *err)
{
    *idx = NULL;
    if (reef_check_dataset_fits(m, calib, "calibration data", err)) return -1;
    const int want = opt->samples > 0 ? opt->samples : 1;
    const int n_max = (uint32_t)want < calib->count ? want : (int)calib->count;
    const int batch = opt->batch > 0 ? (opt->batch < n_max ? opt->batch : n_max) : 64;
    if (reef_model_set_batch(m, batch, opt->threads > 0 ? opt->threads : 1, err)) return -1;
    *idx = malloc((size_t)n_max * sizeof **idx);
    if (!*idx || plan_init(plan, m, err)) {
        free(*idx), free(plan->pts);
        *idx = NULL, plan->pts = NULL;
        return reef_fail(err, "out of memory");
    }
    *n = reef_calib_indices(calib->count, n_max, opt->seed, *idx);
    return 0;
}

int reef_quantize(reef_model *m, const reef_dataset *calib, const reef_quant_options *opt, reef_graph *g,
                  reef_quant_report *rep, reef_error *err)
{
    const double t0 = reef_now();
    memset(g, 0, sizeof *g);
    if (rep) memset(rep, 0, sizeof *rep);
    if (opt->method == REEF_CALIB_PERCENTILE && !(opt->percentile > 50 && opt->percentile <= 100))
        return reef_fail(err, "percentile %g is outside (50, 100]", opt->percentile);
    qplan plan = {0};
    uint32_t *idx;
    int n;
    if (calib_begin(m, calib, opt, &plan, &idx, &n, err)) return -1;
    uint16_t *float_pred = malloc((size_t)n * sizeof *float_pred);
    if (!float_pred) {
        free(idx), free(plan.pts);
        return reef_fail(err, "out of memory");
    }
    calib_run run = {.m = m, .ds = calib, .idx = idx, .n = n, .opt = opt, .float_pred = float_pred};
    gbuild gb = {.m = m, .g = g, .plan = &plan, .rep = rep, .err = err};
    int rc = calibrate(&run, &plan, err) || build_graph(&gb, opt, n) ? -1 : 0;
    if (!rc && rep) {
        rep->method = opt->method, rep->percentile = opt->percentile, rep->samples = n;
        rep->weight_bytes = (int64_t)reef_graph_param_bytes(g);
        rep->macs = reef_graph_macs(g);
        if (opt->agreement) rc = measure_agreement(g, calib, idx, n, float_pred, rep, err);
        rep->seconds = reef_now() - t0;
    }
    if (rc) {
        reef_graph_free(g);
        reef_quant_report_free(rep);
    }
    free(idx), free(float_pred), free(plan.pts);
    return rc;
}

/* ---- an input with a shared mean and per-channel std --------------------------- */

int reef_quant_input_fold(const reef_model *m, reef_norm *in_norm, float *factor)
{
    *in_norm = m->norm;
    const int c = m->norm.channels;
    for (int k = 0; k < c && k < REEF_MAX_CHANNELS; k++) factor[k] = 1.0f;
    int same_mean = 1, same_std = 1;
    for (int k = 1; k < c; k++) {
        same_mean &= m->norm.mean[k] == m->norm.mean[0];
        same_std &= m->norm.std[k] == m->norm.std[0];
    }
    if (c < 2 || c != m->in_c || !same_mean || same_std) return 0;
    // Only pools (per-channel linear, and max pooling commutes with a
    // positive factor) may stand between the input and the first conv or
    // depthwise, and no residual block may read the input itself.
    for (int bi = 0; bi < m->nblocks; bi++) {
        const reef_block *b = &m->blocks[bi];
        if (b->residual) return 0;
        for (int li = 0; li < b->nlayers; li++) {
            const reef_layer *L = &b->layers[li];
            if (L->kind == REEF_LAYER_CONV || L->kind == REEF_LAYER_DWCONV) {
                if (L->dims.c != c) return 0;
                for (int k = 0; k < c; k++) {
                    factor[k] = m->norm.std[0] / m->norm.std[k];
                    in_norm->std[k] = m->norm.std[0];
                }
                return 1;
            }
            if (L->kind != REEF_LAYER_AVGPOOL && L->kind != REEF_LAYER_MAXPOOL && L->kind != REEF_LAYER_DROPOUT)
                return 0;
        }
    }
    return 0;
}

/* ---- ranges for quantization-aware fine-tuning ------------------------------------- */

int reef_quant_fakequant_ranges(reef_model *m, const reef_dataset *calib, const reef_quant_options *opt,
                                reef_fakequant *fq, reef_error *err)
{
    qplan plan = {0};
    uint32_t *idx;
    int n;
    if (calib_begin(m, calib, opt, &plan, &idx, &n, err)) return -1;
    calib_run run = {.m = m, .ds = calib, .idx = idx, .n = n, .opt = opt};
    // The ranges are those `reef quantize` would choose now: the float
    // model's, so the table is detached while calibrating.
    struct reef_fakequant *attached = m->fq;
    m->fq = NULL;
    const int rc = calibrate(&run, &plan, err);
    m->fq = attached;
    if (!rc) {
        // Walk as the graph builder does: pools keep their input's
        // quantization, max pooling and dropout change no value.
        reef_input_map map;
        reef_fq_point cur = {.on = 1};
        reef_norm in_norm;
        float factor[REEF_MAX_CHANNELS];
        const int folded = reef_quant_input_fold(m, &in_norm, factor);
        reef_input_quant(&in_norm, &cur.scale, &cur.zero_point, &map);
        fq->input = cur;
        // A folded input is exact too, on each channel's own grid (one
        // scale per tensor cannot say it): left as it is, off by at most
        // the mean's rounding to a whole grey level. An exact map's grid is
        // the input's own, mean rounding included.
        if (folded) fq->input.on = 0;
        int k = 0;
        for (int bi = 0; bi < m->nblocks; bi++) {
            const reef_block *b = &m->blocks[bi];
            for (int li = 0; li < b->nlayers; li++) {
                const reef_layer *L = &b->layers[li];
                reef_fq_point *p = reef_fq_act(fq, bi, li);
                if (has_weights(L)) {
                    cur = (reef_fq_point){1, plan.pts[k].scale, plan.pts[k].zero_point};
                    k++;
                    *p = cur;
                } else if (L->kind == REEF_LAYER_AVGPOOL || L->kind == REEF_LAYER_GAP) {
                    *p = cur;  // an int8 average rounds to its input's grid
                } else {
                    p->on = 0;
                }
            }
            if (b->residual) {
                cur = (reef_fq_point){1, plan.pts[k].scale, plan.pts[k].zero_point};
                k++;
                fq->add[bi] = cur;
            } else {
                fq->add[bi].on = 0;
            }
        }
    }
    free(idx), free(plan.pts);
    return rc;
}
