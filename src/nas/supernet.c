/* The supernet: see supernet.h. */
#include "nas/supernet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- layout ------------------------------------------------------------------------ */

/* Calls fn on every layer with parameters, in the fixed order of the
 * parameter tensors: stem, each block's candidates, each block's
 * superkernel (weights only), head, fc. */
typedef void (*layer_fn)(reef_layer *L, const char *name, int weights_only, void *ctx);

/* indexed: names "<name>.l<layer>" (a candidate's three layers), else
 * "<name>" (a fixed block's one layer with weights). */
static void each_block_layer(reef_block *blk, const char *name, int indexed, int weights_only, layer_fn fn, void *ctx)
{
    for (int l = 0; l < blk->nlayers; l++) {
        const reef_layer *L = &blk->layers[l];
        if (L->kind != REEF_LAYER_CONV && L->kind != REEF_LAYER_DWCONV && L->kind != REEF_LAYER_FC) continue;
        char full[32];
        if (indexed) snprintf(full, sizeof full, "%.16s.l%d", name, l);
        else snprintf(full, sizeof full, "%s", name);
        fn(&blk->layers[l], full, weights_only, ctx);
    }
}

static const char *fixed_name(const reef_block *blk)
{
    return blk->spec.kind == REEF_BLOCK_STEM ? "stem" : blk->spec.kind == REEF_BLOCK_HEAD ? "head" : "fc";
}

static void each_layer(reef_nas_supernet *sn, layer_fn fn, void *ctx)
{
    char name[24];
    for (int i = 0; i < sn->npre; i++) each_block_layer(&sn->pre[i], fixed_name(&sn->pre[i]), 0, 0, fn, ctx);
    for (int b = 0; b < sn->space.nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            snprintf(name, sizeof name, "b%d.%s", b, reef_nas_cands[j].name);
            each_block_layer(&sn->blocks[b].cand[j], name, 1, 0, fn, ctx);
        }
    for (int b = 0; b < sn->space.nblocks; b++) {
        snprintf(name, sizeof name, "b%d.super", b);
        each_block_layer(&sn->blocks[b].super, name, 1, 1, fn, ctx);
    }
    for (int i = 0; i < sn->npost; i++) each_block_layer(&sn->post[i], fixed_name(&sn->post[i]), 0, 0, fn, ctx);
}

static void take_params(reef_layer *L, const char *name, int weights_only, void *ctx)
{
    reef_layer_take_params(L, name, weights_only, ctx);
}

static void init_layer(reef_layer *L, const char *name, int weights_only, void *ctx)
{
    (void)name, (void)weights_only;
    reef_layer_init_params(L, ctx);
}

static void init_params(reef_nas_supernet *sn, uint64_t seed)
{
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    each_layer(sn, init_layer, &rng);
    // Residual candidates start as the identity (zero-gamma on the
    // projection's BN): switching paths then adds no noise downstream.
    for (int b = 0; b < sn->space.nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            const reef_block *c = &sn->blocks[b].cand[j];
            if (c->residual) memset(c->layers[c->nlayers - 1].gamma, 0, (size_t)c->out_c * sizeof(float));
        }
}

/* The fixed blocks, from the spec of a network of the space (its first
 * candidate everywhere): those before the first block (avgpool, stem) and
 * after the last (head, gap, fc; not dropout: the supernet has none). */
static int build_fixed(reef_nas_supernet *sn, reef_error *err)
{
    const reef_nas_space *s = &sn->space;
    int first[REEF_NAS_MAX_BLOCKS] = {0};
    reef_arch a;
    reef_nas_space_arch(s, first, "supernet", &a);
    int h = s->in_h, w = s->in_w, c = s->in_c;
    sn->npre = sn->npost = 0;
    for (int i = 0; i < a.nblocks; i++) {
        const reef_block_spec *spec = &a.blocks[i];
        reef_block *blk = NULL;
        if (spec->kind == REEF_BLOCK_AVGPOOL || spec->kind == REEF_BLOCK_STEM) blk = &sn->pre[sn->npre++];
        if (spec->kind == REEF_BLOCK_HEAD || spec->kind == REEF_BLOCK_GAP || spec->kind == REEF_BLOCK_FC)
            blk = &sn->post[sn->npost++];
        if (spec->kind == REEF_BLOCK_HEAD) h = s->feat_h, w = s->feat_w, c = s->blocks[s->nblocks - 1].out_c;
        if (!blk) continue;
        if (reef_block_build(blk, spec, h, w, c, s->num_classes, i == a.nblocks - 1, a.name, err)) return -1;
        h = blk->out_h, w = blk->out_w, c = blk->out_c;
    }
    return 0;
}

static int build_blocks(reef_nas_supernet *sn, reef_error *err)
{
    const reef_nas_space *s = &sn->space;
    for (int b = 0; b < s->nblocks; b++) {
        reef_nas_sblock *B = &sn->blocks[b];
        const reef_nas_block *sh = &s->blocks[b];
        B->shape = *sh;
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            if (!reef_nas_cands[j].expand) continue;  // zero: no layers
            reef_block_spec spec = reef_nas_cand_spec(s, b, j);
            if (reef_block_build(&B->cand[j], &spec, sh->in_h, sh->in_w, sh->in_c, s->num_classes, 0, "supernet", err))
                return -1;
        }
        B->super = B->cand[5];  // k7e6
    }
    return 0;
}

/* ---- batch buffers ------------------------------------------------------------------- */

/* Floats of the largest of a block's candidates' buffers. */
static size_t region_floats(reef_nas_sblock *B, size_t cap)
{
    size_t most = 0;
    for (int j = 0; j < REEF_NAS_NCAND; j++) {
        if (!B->cand[j].nlayers) continue;
        size_t n = reef_block_take_batch(&B->cand[j], NULL, cap);
        if (n > most) most = n;
    }
    return most;
}

/* Lays out every batch buffer from mem (NULL: counts); returns the floats. */
static size_t assign_buffers(reef_nas_supernet *sn, float *mem)
{
    const reef_nas_space *s = &sn->space;
    const size_t N = (size_t)sn->path.batch_cap;
    reef_model *m = &sn->path;
    size_t used = 0, alt = 0;
#define AT (mem ? mem + used : NULL)
    if (mem) m->input = AT;
    used += N * s->in_h * s->in_w * s->in_c;
    if (mem) m->probs = AT;
    used += N * s->num_classes;
    if (mem) m->losses = AT;
    used += N;
    for (int i = 0; i < sn->npre; i++) used += reef_block_take_batch(&sn->pre[i], AT, N);
    for (int b = 0; b < s->nblocks; b++) {
        reef_nas_sblock *B = &sn->blocks[b];
        for (int j = 0; j < REEF_NAS_NCAND; j++)
            if (B->cand[j].nlayers) reef_block_take_batch(&B->cand[j], AT, N);  // all from the region's start
        size_t region = region_floats(B, N);
        used += region;
        if (region > alt) alt = region;
    }
    for (int i = 0; i < sn->npost; i++) used += reef_block_take_batch(&sn->post[i], AT, N);
    if (mem) sn->alt_mem = AT, m->logits = sn->post[sn->npost - 1].out;
    used += alt;
#undef AT
    return used;
}

/* The threads' state, sized for every block any path may hold. */
static int set_threads(reef_nas_supernet *sn, int batch_cap, int nthreads, reef_error *err)
{
    reef_block *all = malloc(sizeof *all * (REEF_NAS_MAX_PRE + REEF_NAS_MAX_POST + REEF_NAS_MAX_BLOCKS * REEF_NAS_NCAND));
    if (!all) return reef_fail(err, "out of memory");
    int n = 0;
    for (int i = 0; i < sn->npre; i++) all[n++] = sn->pre[i];
    for (int b = 0; b < sn->space.nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++) all[n++] = sn->blocks[b].cand[j];
    for (int i = 0; i < sn->npost; i++) all[n++] = sn->post[i];
    int rc = reef_model_set_threads(&sn->path, all, n, batch_cap, nthreads, err);
    free(all);
    return rc;
}

int reef_nas_supernet_build(reef_nas_supernet *sn, const reef_nas_space *s, int batch_cap, int nthreads,
                            uint64_t seed, reef_error *err)
{
    memset(sn, 0, sizeof *sn);
    if (batch_cap < 1) return reef_fail(err, "batch size %d: must be at least 1", batch_cap);
    sn->space = *s;
    reef_model *m = &sn->path;
    m->in_h = s->in_h, m->in_w = s->in_w, m->in_c = s->in_c, m->num_classes = s->num_classes;
    m->norm.channels = s->in_c;
    for (int c = 0; c < s->in_c && c < REEF_MAX_CHANNELS; c++) m->norm.mean[c] = 0, m->norm.std[c] = 1;
    m->bn_momentum = REEF_BN_MOMENTUM;
    m->blocks = sn->path_blocks;
    if (build_fixed(sn, err) || build_blocks(sn, err)) return -1;
    reef_param_cursor count = {0};
    each_layer(sn, take_params, &count);
    m->params = calloc(count.np + 1, sizeof *m->params);
    m->grads = calloc(count.np + 1, sizeof *m->grads);
    m->stats = calloc(count.ns + 1, sizeof *m->stats);
    m->param_tensors = calloc((size_t)count.nt + 1, sizeof *m->param_tensors);
    m->batch_cap = batch_cap;
    const size_t floats = assign_buffers(sn, NULL);
    sn->mem = calloc(floats + 1, sizeof *sn->mem);
    if (!m->params || !m->grads || !m->stats || !m->param_tensors || !sn->mem) {
        reef_nas_supernet_free(sn);
        return reef_fail(err, "out of memory for the supernet (%.1f MB)", (double)(floats + 2 * count.np) * 4 / 1e6);
    }
    reef_param_cursor pc = {.params = m->params, .stats = m->stats, .tensors = m->param_tensors};
    each_layer(sn, take_params, &pc);
    m->nparams = pc.np, m->nstats = pc.ns, m->nparam_tensors = pc.nt;
    assign_buffers(sn, sn->mem);
    init_params(sn, seed);
    if (set_threads(sn, batch_cap, nthreads, err)) {
        reef_nas_supernet_free(sn);
        return -1;
    }
    return 0;
}

void reef_nas_supernet_free(reef_nas_supernet *sn)
{
    reef_model_free_threads(&sn->path);
    free(sn->path.params);
    free(sn->path.grads);
    free(sn->path.stats);
    free(sn->path.param_tensors);
    free(sn->mem);
    memset(sn, 0, sizeof *sn);
}

/* ---- weight sharing ------------------------------------------------------------------- */

/* Walks candidate j's conv weights against the superkernel: dir 0 copies
 * super -> candidate (w), dir 1 adds the candidate's gradient into the
 * superkernel's. Layers: expand (HC,1,1,C) first hc rows; depthwise
 * (1,7,7,HC) centre kxk, first hc channels; project (OC,1,1,HC) first hc
 * inputs. */
static void share(reef_nas_supernet *sn, int b, int j, int dir)
{
    const reef_nas_sblock *B = &sn->blocks[b];
    const reef_model *m = &sn->path;
    for (int l = 0; l < B->cand[j].nlayers; l++) {
        const reef_layer *L = &B->cand[j].layers[l], *S = &B->super.layers[l];
        float *dst = dir ? m->grads + (S->w - m->params) : L->w;
        const float *src = dir ? m->grads + (L->w - m->params) : S->w;
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
    for (int t = 0; t < sn->path.nparam_tensors; t++) {
        const char *name = sn->path.param_tensors[t].name;
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

void reef_nas_supernet_load(reef_nas_supernet *sn, const uint8_t *pixels, int n, const uint8_t *flip)
{
    const reef_nas_space *s = &sn->space;
    const int C = s->in_c, W = s->in_w, row = W * C;
    float scale[REEF_MAX_CHANNELS], shift[REEF_MAX_CHANNELS];
    for (int c = 0; c < C; c++) scale[c] = 1.0f / (255.0f * sn->path.norm.std[c]), shift[c] = -sn->path.norm.mean[c] / sn->path.norm.std[c];
    for (int i = 0; i < n; i++)
        for (int y = 0; y < s->in_h; y++) {
            const uint8_t *src = pixels + ((size_t)i * s->in_h + y) * row;
            float *dst = sn->path.input + ((size_t)i * s->in_h + y) * row;
            for (int x = 0; x < W; x++) {
                int sx = flip && flip[i] ? W - 1 - x : x;
                for (int c = 0; c < C; c++) dst[x * C + c] = src[sx * C + c] * scale[c] + shift[c];
            }
        }
}

/* ---- forward -------------------------------------------------------------------------- */

/* The inactive candidate of block b, forward only, over the shared alt
 * buffers on the block's input; keeps its o(x) for the gate gradient. */
static void alt_forward(reef_nas_supernet *sn, int b, int n, reef_mode mode)
{
    reef_nas_sblock *B = &sn->blocks[b];
    B->alt_out = NULL;
    if (B->inactive < 0 || !B->cand[B->inactive].nlayers) return;
    share(sn, b, B->inactive, 0);
    reef_block blk = B->cand[B->inactive];
    reef_block_take_batch(&blk, sn->alt_mem, (size_t)sn->path.batch_cap);
    reef_model one = sn->path;  // the same parameters and threads, one block
    one.blocks = &blk, one.nblocks = 1;
    one.input = sn->path.blocks[B->in_at].out;
    one.bn_momentum = 0;
    reef_model_forward(&one, n, mode, 0);
    B->alt_out = blk.layers[blk.nlayers - 1].y;
}

void reef_nas_supernet_forward(reef_nas_supernet *sn, const int *path, const int *alt, int n, reef_mode mode,
                               int update_stats)
{
    reef_model *m = &sn->path;
    int k = 0;
    for (int i = 0; i < sn->npre; i++) m->blocks[k++] = sn->pre[i];
    for (int b = 0; b < sn->space.nblocks; b++) {
        reef_nas_sblock *B = &sn->blocks[b];
        B->active = path[b], B->inactive = alt ? alt[b] : -1;
        B->alt_out = NULL;  // alt_forward sets it for this step
        B->in_at = k - 1, B->at = -1;
        if (!B->cand[path[b]].nlayers) continue;  // zero: out = x
        share(sn, b, path[b], 0);
        B->at = k;
        m->blocks[k++] = B->cand[path[b]];
    }
    for (int i = 0; i < sn->npost; i++) m->blocks[k++] = sn->post[i];
    m->nblocks = k;
    m->bn_momentum = update_stats ? REEF_BN_MOMENTUM : 0;
    reef_model_forward(m, n, mode, 0);
    for (int b = 0; alt && b < sn->space.nblocks; b++) alt_forward(sn, b, n, mode);
}

/* ---- backward ------------------------------------------------------------------------- */

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

void reef_nas_supernet_backward(reef_nas_supernet *sn, const uint16_t *labels, int n)
{
    reef_model *m = &sn->path;
    reef_model_backward(m, labels, n, NULL);
    for (int b = 0; b < sn->space.nblocks; b++) {
        reef_nas_sblock *B = &sn->blocks[b];
        const size_t osz = (size_t)n * B->shape.out_h * B->shape.out_w * B->shape.out_c;
        // dL/dg_j = <dL/dout, o_j(x)>: out = x + sum_j g_j o_j(x) (or without x);
        // a zero block's out is its input, whose gradient the block before holds.
        const float *dout = m->blocks[B->at >= 0 ? B->at : B->in_at].dout;
        for (int j = 0; j < REEF_NAS_NCAND; j++) sn->gate_grad[b][j] = 0;
        if (B->at >= 0) {
            const reef_block *blk = &m->blocks[B->at];
            sn->gate_grad[b][B->active] = dot(dout, blk->layers[blk->nlayers - 1].y, osz);
            share(sn, b, B->active, 1);
        }
        if (B->inactive >= 0 && B->alt_out) sn->gate_grad[b][B->inactive] = dot(dout, B->alt_out, osz);
    }
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
