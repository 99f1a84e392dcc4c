/* The supernet: see supernet.h. */
#include "nas/supernet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

#define BN_MOMENTUM 0.1f

/* ---- layout ------------------------------------------------------------------------ */

static void layer_setup(reef_nas_layer *L, reef_layer_kind kind, int h, int w, int c, int oc, int k, int stride,
                        int has_bn, reef_nn_act act)
{
    memset(L, 0, sizeof *L);
    L->kind = kind, L->has_bn = has_bn, L->act = act;
    if (kind == REEF_LAYER_FC) reef_conv_dims_valid(&L->dims, 1, 1, 1, h * w * c, oc, 1, 1);
    else reef_conv_dims_same(&L->dims, 1, h, w, c, oc, k, stride);
    L->in_size = h * w * c;
    L->out_size = L->dims.oh * L->dims.ow * L->dims.oc;
}

/* Candidate j of block B: [1x1 expand] -> kxk depthwise -> 1x1 project (no act). */
static int candidate_setup(reef_nas_layer *layers, const reef_nas_block *B, int j)
{
    const reef_nas_cand *c = &reef_nas_cands[j];
    if (!c->expand) return 0;
    int hc = B->in_c * c->expand, n = 0;
    if (c->expand != 1)
        layer_setup(&layers[n++], REEF_LAYER_CONV, B->in_h, B->in_w, B->in_c, hc, 1, 1, 1, REEF_NN_ACT_RELU6);
    layer_setup(&layers[n++], REEF_LAYER_DWCONV, B->in_h, B->in_w, hc, hc, c->kernel, B->stride, 1, REEF_NN_ACT_RELU6);
    layer_setup(&layers[n++], REEF_LAYER_CONV, B->out_h, B->out_w, hc, B->out_c, 1, 1, 1, REEF_NN_ACT_NONE);
    return n;
}

static size_t weight_count(const reef_nas_layer *L)
{
    const reef_conv_dims *d = &L->dims;
    if (L->kind == REEF_LAYER_CONV) return (size_t)d->oc * d->kh * d->kw * d->c;
    if (L->kind == REEF_LAYER_DWCONV) return (size_t)d->kh * d->kw * d->oc;
    return (size_t)d->oc * d->c;
}

/* Every layer with its name, in a fixed order. */
typedef struct layer_ref {
    reef_nas_layer *L;
    char name[48];
} layer_ref;

static int all_layers(reef_nas_supernet *sn, layer_ref *refs)
{
    int n = 0;
    refs[n++] = (layer_ref){&sn->stem, "stem"};
    for (int b = 0; b < sn->space.nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++)
            for (int l = 0; l < sn->blocks[b].nlayers[j]; l++) {
                refs[n].L = &sn->blocks[b].layers[j][l];
                snprintf(refs[n].name, sizeof refs[n].name, "b%d.%s.l%d", b, reef_nas_cands[j].name, l);
                n++;
            }
    for (int b = 0; b < sn->space.nblocks; b++)
        for (int l = 0; l < REEF_NAS_MAX_LAYERS; l++) {
            refs[n].L = &sn->blocks[b].super[l];
            snprintf(refs[n].name, sizeof refs[n].name, "b%d.super.l%d", b, l);
            n++;
        }
    refs[n++] = (layer_ref){&sn->head, "head"};
    refs[n++] = (layer_ref){&sn->fc, "fc"};
    return n;
}

#define MAX_LAYER_REFS (3 + REEF_NAS_MAX_BLOCKS * (REEF_NAS_NCAND + 1) * REEF_NAS_MAX_LAYERS)

/* Walks every parameter; with params == NULL only counts. */
static void assign_params(reef_nas_supernet *sn, float *params, float *stats)
{
    layer_ref refs[MAX_LAYER_REFS];
    int nl = all_layers(sn, refs), nt = 0;
    size_t np = 0, ns = 0;
    for (int i = 0; i < nl; i++) {
        reef_nas_layer *L = refs[i].L;
        const size_t oc = (size_t)L->dims.oc;
        struct {
            float **field;
            size_t n;
            const char *tag;
            int decay;
        } t[3] = {{&L->w, weight_count(L), "w", 1},
                  {L->has_bn ? &L->gamma : &L->b, L->weights_only ? 0 : oc, L->has_bn ? "gamma" : "b", 0},
                  {&L->beta, L->has_bn ? oc : 0, "beta", 0}};
        for (int k = 0; k < 3; k++) {
            if (!t[k].n) continue;
            if (params) {
                *t[k].field = params + np;
                reef_param *pt = &sn->param_tensors[nt];
                snprintf(pt->name, sizeof pt->name, "%.24s.%.6s", refs[i].name, t[k].tag);
                pt->p = params + np, pt->n = t[k].n, pt->decay = t[k].decay;
            }
            np += t[k].n, nt++;
        }
        if (L->has_bn) {
            if (stats) L->run_mean = stats + ns, L->run_var = stats + ns + oc;
            ns += 2 * oc;
        }
    }
    sn->nparams = np, sn->nstats = ns, sn->nparam_tensors = nt;
}

static void init_params(reef_nas_supernet *sn, uint64_t seed)
{
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    layer_ref refs[MAX_LAYER_REFS];
    int nl = all_layers(sn, refs);
    for (int i = 0; i < nl; i++) {
        reef_nas_layer *L = refs[i].L;
        const reef_conv_dims *d = &L->dims;
        // Kaiming normal (fan_out) as reef_model_init_params; depthwise fan_in k*k.
        float std = L->kind == REEF_LAYER_CONV ? sqrtf(2.0f / (float)(d->oc * d->kh * d->kw))
                    : L->kind == REEF_LAYER_DWCONV ? sqrtf(2.0f / (float)(d->kh * d->kw))
                                                   : 0.01f;
        size_t nw = weight_count(L);
        for (size_t k = 0; k < nw; k++) L->w[k] = std * reef_rng_normal(&rng);
        if (L->b) memset(L->b, 0, (size_t)d->oc * sizeof *L->b);
        if (L->has_bn)
            for (int c = 0; c < d->oc; c++) L->gamma[c] = 1, L->beta[c] = 0, L->run_mean[c] = 0, L->run_var[c] = 1;
    }
    // Residual candidates start as the identity (zero-gamma on the
    // projection's BN): switching paths then adds no noise downstream.
    for (int b = 0; b < sn->space.nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++)
            if (sn->blocks[b].shape.zero_ok && sn->blocks[b].nlayers[j]) {
                reef_nas_layer *P = &sn->blocks[b].layers[j][sn->blocks[b].nlayers[j] - 1];
                memset(P->gamma, 0, (size_t)P->dims.oc * sizeof *P->gamma);
            }
}

/* ---- weight sharing ------------------------------------------------------------------- */

/* Walks candidate j's conv weights against the superkernel: dir 0 copies
 * super -> candidate (w), dir 1 adds the candidate's gradient into the
 * superkernel's. Layers: expand (HC,1,1,C) first hc rows; depthwise
 * (1,7,7,HC) centre kxk, first hc channels; project (OC,1,1,HC) first hc
 * inputs. */
static void share(reef_nas_supernet *sn, int b, int j, int dir)
{
    reef_nas_sblock *B = &sn->blocks[b];
    if (!B->nlayers[j]) return;
    for (int l = 0; l < REEF_NAS_MAX_LAYERS; l++) {
        const reef_nas_layer *L = &B->layers[j][l], *S = &B->super[l];
        float *dst = dir ? sn->grads + (S->w - sn->params) : L->w;
        const float *src = dir ? sn->grads + (L->w - sn->params) : S->w;
        const reef_conv_dims *d = &L->dims, *sd = &S->dims;
        if (L->kind == REEF_LAYER_DWCONV) {
            const int off = (sd->kh - d->kh) / 2;
            for (int y = 0; y < d->kh; y++)
                for (int x = 0; x < d->kw; x++)
                    for (int c = 0; c < d->oc; c++) {
                        size_t at = ((size_t)y * d->kw + x) * d->oc + c;
                        size_t sat = ((size_t)(y + off) * sd->kw + x + off) * sd->oc + c;
                        if (dir) dst[sat] += src[at];
                        else dst[at] = src[sat];
                    }
        } else {
            for (int o = 0; o < d->oc; o++)
                for (int c = 0; c < d->c; c++) {
                    size_t at = (size_t)o * d->c + c, sat = (size_t)o * sd->c + c;
                    if (dir) dst[sat] += src[at];
                    else dst[at] = src[sat];
                }
        }
    }
}

void reef_nas_supernet_path_tensors(const reef_nas_supernet *sn, const int *path, uint8_t *keep)
{
    for (int t = 0; t < sn->nparam_tensors; t++) {
        const char *name = sn->param_tensors[t].name;
        int b;
        char what[8];
        keep[t] = 1;
        if (sscanf(name, "b%d.%5[^.]", &b, what) != 2) continue;  // stem, head, fc
        if (!strcmp(what, "super")) {
            keep[t] = path[b] != REEF_NAS_ZERO;
            continue;
        }
        const size_t len = strlen(name);
        keep[t] = !strcmp(what, reef_nas_cands[path[b]].name) && !(len > 2 && !strcmp(name + len - 2, ".w"));
    }
}

/* ---- batch buffers ------------------------------------------------------------------- */

typedef struct cursor {
    float *p;       /* NULL: counting */
    size_t used;
} cursor;

static float *take(cursor *c, size_t n)
{
    float *p = c->p ? c->p + c->used : NULL;
    c->used += n;
    return p;
}

/* out_size floats per sample and oc channels; grads: also dz, dy. */
static void take_bufs(cursor *c, reef_nas_bufs *B, size_t rows, int out_size, int oc, int has_bn, int grads)
{
    const size_t n = rows * (size_t)out_size;
    B->y = take(c, n);
    B->z = has_bn ? take(c, n) : B->y;
    B->dy = grads ? take(c, n) : NULL;
    B->dz = grads ? (has_bn ? take(c, n) : B->dy) : NULL;
    B->mean = take(c, (size_t)oc);
    B->rstd = take(c, (size_t)oc);
}

static void assign_buffers(reef_nas_supernet *sn, cursor *c)
{
    const reef_nas_space *s = &sn->space;
    const size_t N = (size_t)sn->batch_cap;
    sn->input = take(c, N * s->in_h * s->in_w * s->in_c);
    sn->pool_out = s->downsample == 2 ? take(c, N * s->res_h * s->res_w * s->in_c) : NULL;
    take_bufs(c, &sn->stem_buf, N, sn->stem.out_size, sn->stem.dims.oc, 1, 1);
    int alt_size[REEF_NAS_MAX_LAYERS] = {0}, alt_c[REEF_NAS_MAX_LAYERS] = {0};
    for (int b = 0; b < s->nblocks; b++) {
        reef_nas_sblock *B = &sn->blocks[b];
        for (int l = 0; l < REEF_NAS_MAX_LAYERS; l++) {
            int size = 0, oc = 0;
            // Slot l holds layer l of every candidate counted from the end,
            // so the projection is always slot 2 and the depthwise slot 1.
            for (int j = 0; j < REEF_NAS_NCAND; j++) {
                int first = REEF_NAS_MAX_LAYERS - B->nlayers[j];
                if (!B->nlayers[j] || l < first) continue;
                const reef_nas_layer *L = &B->layers[j][l - first];
                if (L->out_size > size) size = L->out_size;
                if (L->dims.oc > oc) oc = L->dims.oc;
            }
            take_bufs(c, &B->slot[l], N, size, oc, 1, 1);
            if (size > alt_size[l]) alt_size[l] = size;
            if (oc > alt_c[l]) alt_c[l] = oc;
        }
        const size_t out = N * B->shape.out_h * B->shape.out_w * B->shape.out_c;
        B->out = take(c, out);
        B->dout = take(c, out);
        B->alt_out = take(c, out);
    }
    for (int l = 0; l < REEF_NAS_MAX_LAYERS; l++) take_bufs(c, &sn->alt_slot[l], N, alt_size[l], alt_c[l], 1, 0);
    take_bufs(c, &sn->head_buf, N, sn->head.out_size, sn->head.dims.oc, 1, 1);
    sn->gap_out = take(c, N * s->head_c);
    sn->gap_dout = take(c, N * s->head_c);
    take_bufs(c, &sn->fc_buf, N, sn->fc.out_size, sn->fc.dims.oc, 0, 1);
    sn->logits = sn->fc_buf.y;
    sn->probs = take(c, N * s->num_classes);
    sn->losses = take(c, N);
}

/* The slot a candidate's layer l uses (see assign_buffers). */
static int slot_of(const reef_nas_sblock *B, int j, int l) { return REEF_NAS_MAX_LAYERS - B->nlayers[j] + l; }

static size_t max_scratch(reef_nas_supernet *sn)
{
    layer_ref refs[MAX_LAYER_REFS];
    int nl = all_layers(sn, refs);
    size_t most = 1;
    for (int i = 0; i < nl; i++) {
        reef_conv_dims d = refs[i].L->dims;
        d.n = sn->batch_cap;
        if (refs[i].L->kind == REEF_LAYER_CONV && reef_conv2d_scratch_floats(&d) > most) most = reef_conv2d_scratch_floats(&d);
    }
    return most;
}

int reef_nas_supernet_build(reef_nas_supernet *sn, const reef_nas_space *s, int batch_cap, uint64_t seed,
                            reef_error *err)
{
    memset(sn, 0, sizeof *sn);
    if (batch_cap < 1) return reef_fail(err, "batch size %d: must be at least 1", batch_cap);
    sn->space = *s;
    sn->batch_cap = batch_cap;
    sn->norm.channels = s->in_c;
    for (int c = 0; c < s->in_c && c < REEF_MAX_CHANNELS; c++) sn->norm.mean[c] = 0, sn->norm.std[c] = 1;
    reef_conv_dims_valid(&sn->pool_dims, 1, s->in_h, s->in_w, s->in_c, s->in_c, 2, 2);
    layer_setup(&sn->stem, REEF_LAYER_CONV, s->res_h, s->res_w, s->in_c, s->stem_c, s->stem_k, s->stem_s, 1,
                REEF_NN_ACT_RELU6);
    for (int b = 0; b < s->nblocks; b++) {
        reef_nas_sblock *B = &sn->blocks[b];
        B->shape = s->blocks[b];
        for (int j = 0; j < REEF_NAS_NCAND; j++) B->nlayers[j] = candidate_setup(B->layers[j], &B->shape, j);
        candidate_setup(B->super, &B->shape, 5);  // k7e6
        for (int l = 0; l < REEF_NAS_MAX_LAYERS; l++)
            B->super[l].has_bn = 0, B->super[l].act = REEF_NN_ACT_NONE, B->super[l].weights_only = 1;
    }
    layer_setup(&sn->head, REEF_LAYER_CONV, s->feat_h, s->feat_w, s->blocks[s->nblocks - 1].out_c, s->head_c, 1, 1, 1,
                REEF_NN_ACT_RELU6);
    layer_setup(&sn->fc, REEF_LAYER_FC, 1, 1, s->head_c, s->num_classes, 1, 1, 0, REEF_NN_ACT_NONE);
    assign_params(sn, NULL, NULL);
    sn->params = calloc(sn->nparams + 1, sizeof *sn->params);
    sn->grads = calloc(sn->nparams + 1, sizeof *sn->grads);
    sn->stats = calloc(sn->nstats + 1, sizeof *sn->stats);
    sn->param_tensors = calloc((size_t)sn->nparam_tensors + 1, sizeof *sn->param_tensors);
    cursor count = {NULL, 0};
    assign_buffers(sn, &count);
    sn->mem = calloc(count.used + 1, sizeof *sn->mem);
    sn->scratch = malloc(max_scratch(sn) * sizeof *sn->scratch);
    if (!sn->params || !sn->grads || !sn->stats || !sn->param_tensors || !sn->mem || !sn->scratch) {
        size_t floats = count.used + 2 * sn->nparams;
        reef_nas_supernet_free(sn);
        return reef_fail(err, "out of memory for the supernet (%.1f MB)", (double)floats * 4 / 1e6);
    }
    assign_params(sn, sn->params, sn->stats);
    cursor c = {sn->mem, 0};
    assign_buffers(sn, &c);
    init_params(sn, seed);
    return 0;
}

void reef_nas_supernet_free(reef_nas_supernet *sn)
{
    free(sn->params);
    free(sn->grads);
    free(sn->stats);
    free(sn->param_tensors);
    free(sn->mem);
    free(sn->scratch);
    memset(sn, 0, sizeof *sn);
}

void reef_nas_supernet_param_view(reef_nas_supernet *sn, reef_model *view)
{
    memset(view, 0, sizeof *view);
    view->params = sn->params, view->grads = sn->grads, view->nparams = sn->nparams;
    view->param_tensors = sn->param_tensors, view->nparam_tensors = sn->nparam_tensors;
}

void reef_nas_supernet_load(reef_nas_supernet *sn, const uint8_t *pixels, int n, const uint8_t *flip)
{
    const reef_nas_space *s = &sn->space;
    const int C = s->in_c, W = s->in_w, row = W * C;
    float scale[REEF_MAX_CHANNELS], shift[REEF_MAX_CHANNELS];
    for (int c = 0; c < C; c++) scale[c] = 1.0f / (255.0f * sn->norm.std[c]), shift[c] = -sn->norm.mean[c] / sn->norm.std[c];
    for (int i = 0; i < n; i++)
        for (int y = 0; y < s->in_h; y++) {
            const uint8_t *src = pixels + ((size_t)i * s->in_h + y) * row;
            float *dst = sn->input + ((size_t)i * s->in_h + y) * row;
            for (int x = 0; x < W; x++) {
                int sx = flip && flip[i] ? W - 1 - x : x;
                for (int c = 0; c < C; c++) dst[x * C + c] = src[sx * C + c] * scale[c] + shift[c];
            }
        }
}

/* ---- forward -------------------------------------------------------------------------- */

static void act_forward(float *y, size_t n, reef_nn_act act)
{
    if (act == REEF_NN_ACT_RELU) reef_relu_forward(y, y, n);
    else if (act == REEF_NN_ACT_RELU6) reef_relu6_forward(y, y, n);
}

static void bn_train(const reef_nas_layer *L, const reef_nas_bufs *B, int rows, int update)
{
    const int c = L->dims.oc;
    double sum[c], sumsq[c];
    float var[c];
    memset(sum, 0, sizeof sum);
    memset(sumsq, 0, sizeof sumsq);
    reef_bn_partial_stats(sum, sumsq, B->z, rows, c);
    reef_bn_finish_stats(B->mean, B->rstd, var, sum, sumsq, (double)rows, c);
    if (update) reef_bn_update_running(L->run_mean, L->run_var, B->mean, var, BN_MOMENTUM, c);
    reef_bn_apply(B->y, B->z, B->mean, B->rstd, L->gamma, L->beta, rows, c);
}

static void layer_forward(reef_nas_supernet *sn, const reef_nas_layer *L, const reef_nas_bufs *B, const float *x,
                          int n, reef_mode mode, int update)
{
    reef_conv_dims d = L->dims;
    d.n = n;
    switch (L->kind) {
    case REEF_LAYER_CONV: reef_conv2d_forward(B->z, x, L->w, NULL, &d, sn->scratch); break;
    case REEF_LAYER_DWCONV: reef_dwconv2d_forward(B->z, x, L->w, NULL, &d); break;
    default: reef_fc_forward(B->z, x, L->w, L->b, n, L->in_size, L->out_size); break;
    }
    const int rows = n * d.oh * d.ow;
    if (L->has_bn) {
        if (mode == REEF_MODE_TRAIN) bn_train(L, B, rows, update);
        else reef_bn_forward_infer(B->y, B->z, L->gamma, L->beta, L->run_mean, L->run_var, rows, d.oc);
    }
    act_forward(B->y, (size_t)n * L->out_size, L->act);
}

/* Runs candidate j of block b on x over the given slots; returns o(x). */
static const float *candidate_forward(reef_nas_supernet *sn, int b, int j, const float *x, reef_nas_bufs *slots,
                                      int n, reef_mode mode, int update)
{
    reef_nas_sblock *B = &sn->blocks[b];
    const float *in = x;
    share(sn, b, j, 0);
    for (int l = 0; l < B->nlayers[j]; l++) {
        reef_nas_bufs *S = &slots[slot_of(B, j, l)];
        layer_forward(sn, &B->layers[j][l], S, in, n, mode, update);
        in = S->y;
    }
    return in;
}

static void block_forward(reef_nas_supernet *sn, int b, const float *x, int active, int inactive, int n,
                          reef_mode mode, int update)
{
    reef_nas_sblock *B = &sn->blocks[b];
    const size_t osz = (size_t)n * B->shape.out_h * B->shape.out_w * B->shape.out_c;
    B->active = active, B->inactive = inactive;
    if (!B->nlayers[active]) {
        memcpy(B->out, x, osz * sizeof *x);  // zero: out = x + 0
    } else {
        const float *o = candidate_forward(sn, b, active, x, B->slot, n, mode, update);
        if (B->shape.zero_ok) reef_add_forward(B->out, o, x, osz);
        else memcpy(B->out, o, osz * sizeof *o);
    }
    if (inactive < 0) return;
    if (!B->nlayers[inactive]) {
        memset(B->alt_out, 0, osz * sizeof *B->alt_out);
        return;
    }
    const float *o = candidate_forward(sn, b, inactive, x, sn->alt_slot, n, mode, 0);
    memcpy(B->alt_out, o, osz * sizeof *o);
}

void reef_nas_supernet_forward(reef_nas_supernet *sn, const int *path, const int *alt, int n, reef_mode mode,
                               int update_stats)
{
    const reef_nas_space *s = &sn->space;
    const float *x = sn->input;
    if (s->downsample == 2) {
        reef_conv_dims d = sn->pool_dims;
        d.n = n;
        reef_avgpool_forward(sn->pool_out, sn->input, &d);
        x = sn->pool_out;
    }
    layer_forward(sn, &sn->stem, &sn->stem_buf, x, n, mode, update_stats);
    x = sn->stem_buf.y;
    for (int b = 0; b < s->nblocks; b++) {
        block_forward(sn, b, x, path[b], alt ? alt[b] : -1, n, mode, update_stats);
        x = sn->blocks[b].out;
    }
    layer_forward(sn, &sn->head, &sn->head_buf, x, n, mode, update_stats);
    reef_gap_forward(sn->gap_out, sn->head_buf.y, n, s->feat_h * s->feat_w, s->head_c);
    layer_forward(sn, &sn->fc, &sn->fc_buf, sn->gap_out, n, mode, update_stats);
}

double reef_nas_supernet_loss(reef_nas_supernet *sn, const uint16_t *labels, int n)
{
    return reef_softmax_xent_forward(sn->losses, sn->probs, sn->logits, labels, NULL, 0.0f, n, sn->space.num_classes) /
           n;
}

int reef_nas_supernet_argmax(const reef_nas_supernet *sn, int i)
{
    const int k = sn->space.num_classes;
    const float *z = sn->logits + (size_t)i * k;
    int best = 0;
    for (int c = 1; c < k; c++)
        if (z[c] > z[best]) best = c;
    return best;
}

/* ---- backward ------------------------------------------------------------------------- */

static float *grad_of(reef_nas_supernet *sn, const float *p) { return p ? sn->grads + (p - sn->params) : NULL; }

/* dy (in B) holds dL/dy; accumulates dL/dx into dx (may be NULL) and the
 * parameter gradients. */
static void layer_backward(reef_nas_supernet *sn, const reef_nas_layer *L, const reef_nas_bufs *B, const float *x,
                           float *dx, int n)
{
    reef_conv_dims d = L->dims;
    d.n = n;
    const size_t count = (size_t)n * L->out_size;
    const int rows = n * d.oh * d.ow;
    if (L->act == REEF_NN_ACT_RELU6)
        for (size_t i = 0; i < count; i++) B->dy[i] = (B->y[i] > 0.0f && B->y[i] < 6.0f) ? B->dy[i] : 0.0f;
    else if (L->act == REEF_NN_ACT_RELU)
        for (size_t i = 0; i < count; i++) B->dy[i] = B->y[i] > 0.0f ? B->dy[i] : 0.0f;
    float *dz = B->dy;
    if (L->has_bn) {
        memset(B->dz, 0, count * sizeof *B->dz);
        reef_bn_backward(B->dz, grad_of(sn, L->gamma), grad_of(sn, L->beta), B->dy, B->z, B->mean, B->rstd, L->gamma,
                         rows, d.oc);
        dz = B->dz;
    }
    switch (L->kind) {
    case REEF_LAYER_CONV: reef_conv2d_backward(dx, grad_of(sn, L->w), NULL, dz, x, L->w, &d, sn->scratch); break;
    case REEF_LAYER_DWCONV: reef_dwconv2d_backward(dx, grad_of(sn, L->w), NULL, dz, x, L->w, &d); break;
    default: reef_fc_backward(dx, grad_of(sn, L->w), grad_of(sn, L->b), dz, x, L->w, n, L->in_size, L->out_size); break;
    }
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Block b with B->dout filled: gate gradients, then dL/dx into dx. */
static void block_backward(reef_nas_supernet *sn, int b, const float *x, float *dx, int n)
{
    reef_nas_sblock *B = &sn->blocks[b];
    const size_t osz = (size_t)n * B->shape.out_h * B->shape.out_w * B->shape.out_c;
    const int j = B->active, L = B->nlayers[j];
    for (int k = 0; k < REEF_NAS_NCAND; k++) sn->gate_grad[b][k] = 0;
    // dL/dg_j = <dL/dout, o_j(x)>: out = x + sum_j g_j o_j(x) (or without x).
    if (L) sn->gate_grad[b][j] = dot(B->dout, B->slot[slot_of(B, j, L - 1)].y, osz);
    if (B->inactive >= 0 && B->nlayers[B->inactive]) sn->gate_grad[b][B->inactive] = dot(B->dout, B->alt_out, osz);
    if (B->shape.zero_ok) reef_add_backward(dx, NULL, B->dout, osz);
    if (!L) return;
    memcpy(B->slot[slot_of(B, j, L - 1)].dy, B->dout, osz * sizeof *B->dout);
    for (int l = L - 1; l >= 0; l--) {
        const reef_nas_bufs *S = &B->slot[slot_of(B, j, l)];
        const reef_nas_bufs *P = l ? &B->slot[slot_of(B, j, l - 1)] : NULL;
        if (P) memset(P->dy, 0, (size_t)n * B->layers[j][l - 1].out_size * sizeof *P->dy);
        layer_backward(sn, &B->layers[j][l], S, P ? P->y : x, P ? P->dy : dx, n);
    }
    share(sn, b, j, 1);
}

void reef_nas_supernet_backward(reef_nas_supernet *sn, const uint16_t *labels, int n)
{
    const reef_nas_space *s = &sn->space;
    const int k = s->num_classes;
    memset(sn->grads, 0, sn->nparams * sizeof *sn->grads);
    memset(sn->fc_buf.dy, 0, (size_t)n * k * sizeof(float));
    reef_softmax_xent_backward(sn->fc_buf.dy, sn->probs, labels, NULL, 0.0f, 1.0f / (float)n, n, k);
    memset(sn->gap_dout, 0, (size_t)n * s->head_c * sizeof(float));
    layer_backward(sn, &sn->fc, &sn->fc_buf, sn->gap_out, sn->gap_dout, n);
    memset(sn->head_buf.dy, 0, (size_t)n * sn->head.out_size * sizeof(float));
    reef_gap_backward(sn->head_buf.dy, sn->gap_dout, n, s->feat_h * s->feat_w, s->head_c);
    const int last = s->nblocks - 1;
    memset(sn->blocks[last].dout, 0,
           (size_t)n * s->feat_h * s->feat_w * sn->blocks[last].shape.out_c * sizeof(float));
    layer_backward(sn, &sn->head, &sn->head_buf, sn->blocks[last].out, sn->blocks[last].dout, n);
    for (int b = last; b >= 0; b--) {
        const float *x = b ? sn->blocks[b - 1].out : sn->stem_buf.y;
        float *dx = b ? sn->blocks[b - 1].dout : sn->stem_buf.dy;
        memset(dx, 0, (size_t)n * sn->blocks[b].shape.in_h * sn->blocks[b].shape.in_w * sn->blocks[b].shape.in_c *
                          sizeof(float));
        block_backward(sn, b, x, dx, n);
    }
    layer_backward(sn, &sn->stem, &sn->stem_buf, s->downsample == 2 ? sn->pool_out : sn->input, NULL, n);
}

/* ---- gates ------------------------------------------------------------------------------ */

void reef_nas_probs(const reef_nas_supernet *sn, int b, double *p)
{
    double top = -1e300, sum = 0;
    for (int j = 0; j < REEF_NAS_NCAND; j++)
        if (reef_nas_cand_allowed(&sn->space, b, j) && sn->alpha[b][j] > top) top = sn->alpha[b][j];
    for (int j = 0; j < REEF_NAS_NCAND; j++) {
        p[j] = reef_nas_cand_allowed(&sn->space, b, j) ? exp(sn->alpha[b][j] - top) : 0.0;
        sum += p[j];
    }
    for (int j = 0; j < REEF_NAS_NCAND; j++) p[j] /= sum;
}

int reef_nas_sample(const double *p, int n, reef_rng *rng)
{
    double u = (double)reef_rng_u32(rng) / 4294967296.0, acc = 0;
    int last = 0;
    for (int j = 0; j < n; j++) {
        if (p[j] <= 0) continue;
        last = j;
        acc += p[j];
        if (u < acc) return j;
    }
    return last;  // rounding left u past the sum
}

void reef_nas_sample_two(const float *alpha, const double *p, int n, reef_rng *rng, int *active, int *other)
{
    int first = reef_nas_sample(p, n, rng);
    double rest[REEF_NAS_NCAND], sum = 0;
    for (int j = 0; j < n; j++) rest[j] = j == first ? 0 : p[j], sum += rest[j];
    if (sum <= 0) {
        *active = first, *other = -1;
        return;
    }
    for (int j = 0; j < n; j++) rest[j] /= sum;
    int second = reef_nas_sample(rest, n, rng);
    // The active one of the two, by the softmax of their alphas.
    double qa = 1.0 / (1.0 + exp((double)alpha[second] - alpha[first]));
    double u = (double)reef_rng_u32(rng) / 4294967296.0;
    *active = u < qa ? first : second;
    *other = u < qa ? second : first;
}

void reef_nas_gate_alpha_grad(const float *alpha, const int idx[2], const double *dg, double *dalpha)
{
    double q0 = 1.0 / (1.0 + exp((double)alpha[idx[1]] - alpha[idx[0]])), q[2] = {q0, 1.0 - q0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) dalpha[idx[i]] += dg[idx[j]] * q[j] * ((i == j) - q[i]);
}
