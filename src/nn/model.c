/* Building a network from its spec, and its threaded forward and backward
 * passes: see model.h. */
#include "nn/model.h"
#include "nn/fakequant.h"
#include "nn/hot.h"
#include "nn/kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

/* Private batch state behind reef_model.batch_. */
typedef struct batch_state {
    float *mem;                            /* every batch buffer, one allocation */
    float *tgrads[REEF_MAX_THREADS];       /* per-thread gradients; [0] = model->grads */
    float *scratch[REEF_MAX_THREADS];      /* per-thread conv im2col / depthwise padding scratch */
    double *partial;                       /* (2, nthreads, 2, max_c) BN partial sums */
    int max_c;
    pthread_barrier_t barrier;
} batch_state;

/* ---- building ----------------------------------------------------------- */

static int add_layer(reef_block *b, reef_layer_kind kind, int h, int w, int c, int oc, int k,
                     int stride, int has_bn, reef_nn_act act)
{
    reef_layer *L = &b->layers[b->nlayers++];
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->has_bn = has_bn;
    L->act = act;
    switch (kind) {
    case REEF_LAYER_CONV:
    case REEF_LAYER_DWCONV: reef_conv_dims_same(&L->dims, 1, h, w, c, oc, k, stride); break;
    case REEF_LAYER_AVGPOOL:
    case REEF_LAYER_MAXPOOL: reef_conv_dims_valid(&L->dims, 1, h, w, c, c, k, stride); break;
    case REEF_LAYER_GAP: reef_conv_dims_valid(&L->dims, 1, h, w, c, c, 1, 1), L->dims.oh = L->dims.ow = 1; break;
    case REEF_LAYER_FC: reef_conv_dims_valid(&L->dims, 1, 1, 1, h * w * c, oc, 1, 1); break;
    case REEF_LAYER_DROPOUT: reef_conv_dims_valid(&L->dims, 1, h, w, c, c, 1, 1); break;
    }
    L->in_size = h * w * c;
    L->out_size = L->dims.oh * L->dims.ow * L->dims.oc;
    return 0;
}

/* Keeps a product of sizes from overflowing: every factor and product is
 * capped just above the limit, so at most 2^27 * 2^27 is ever formed. */
#define REEF_MAX_TENSOR ((int64_t)1 << 26) /* elements of one activation or weight tensor */
static int64_t capped(int64_t x) { return x > REEF_MAX_TENSOR ? REEF_MAX_TENSOR + 1 : x; }
static int64_t capped_mul(int64_t a, int64_t b) { return capped(capped(a) * capped(b)); }

/* Whether a block on input (h, w, c) would make a tensor of more than
 * REEF_MAX_TENSOR elements (an arch spec or checkpoint asking for
 * 100000-channel layers would otherwise overflow int sizes). */
static int block_too_big(const reef_block_spec *s, int h, int w, int c, int num_classes)
{
    int64_t oc = s->out_c ? s->out_c : s->kind == REEF_BLOCK_FC ? num_classes : c;
    int64_t hidden = capped_mul(c, s->expand > 1 ? s->expand : 1);
    int64_t widest = c > oc ? c : oc;
    if (hidden > widest) widest = hidden;
    int64_t k = s->kernel > 1 ? s->kernel : 1;
    int64_t activation = capped_mul(capped_mul(h, w), widest);
    int64_t weights = 0; /* pools, gap and dropout have none */
    if (s->kind == REEF_BLOCK_STEM || s->kind == REEF_BLOCK_CONV || s->kind == REEF_BLOCK_HEAD)
        weights = capped_mul(capped_mul(k, k), capped_mul(c, oc));
    if (s->kind == REEF_BLOCK_DWCONV) weights = capped_mul(capped_mul(k, k), c);
    if (s->kind == REEF_BLOCK_MBCONV) { /* the largest of expand, depthwise and project */
        int64_t expand = capped_mul(c, hidden), project = capped_mul(hidden, oc);
        weights = capped_mul(capped_mul(k, k), hidden);
        if (expand > weights) weights = expand;
        if (project > weights) weights = project;
    }
    if (s->kind == REEF_BLOCK_FC) weights = capped_mul(capped_mul(h, w), capped_mul(c, oc));
    return activation > REEF_MAX_TENSOR || weights > REEF_MAX_TENSOR;
}

int reef_block_build(reef_block *b, const reef_block_spec *s, int h, int w, int c,
                       int num_classes, int is_last, const char *arch_name, reef_error *err)
{
    memset(b, 0, sizeof *b);
    b->spec = *s;
    b->in_h = h, b->in_w = w, b->in_c = c;
    if (block_too_big(s, h, w, c, num_classes))
        return reef_fail(err, "%s: line %d: this layer on a %dx%dx%d input needs a tensor of more than %lld elements",
                         arch_name, s->line, h, w, c, (long long)REEF_MAX_TENSOR);
    switch (s->kind) {
    case REEF_BLOCK_STEM:
    case REEF_BLOCK_CONV:
    case REEF_BLOCK_HEAD:
        add_layer(b, REEF_LAYER_CONV, h, w, c, s->out_c, s->kernel, s->stride, 1, s->act);
        break;
    case REEF_BLOCK_DWCONV:
        add_layer(b, REEF_LAYER_DWCONV, h, w, c, c, s->kernel, s->stride, 1, s->act);
        break;
    case REEF_BLOCK_MBCONV: {
        int hidden = c * s->expand;
        int can_skip = s->stride == 1 && c == s->out_c;
        if (s->skip == 1 && !can_skip)
            return reef_fail(err, "%s: line %d: mbconv skip needs stride 1 and as many output channels as input (here s%d, %d -> %d channels)",
                             arch_name, s->line, s->stride, c, s->out_c);
        b->residual = s->skip == -1 ? can_skip : s->skip;
        b->spec.skip = b->residual;
        if (s->expand != 1) add_layer(b, REEF_LAYER_CONV, h, w, c, hidden, 1, 1, 1, s->act);
        reef_layer *prev = b->nlayers ? &b->layers[b->nlayers - 1] : NULL;
        int dh = prev ? prev->dims.oh : h, dw = prev ? prev->dims.ow : w;
        add_layer(b, REEF_LAYER_DWCONV, dh, dw, hidden, hidden, s->kernel, s->stride, 1, s->act);
        reef_layer *d = &b->layers[b->nlayers - 1];
        add_layer(b, REEF_LAYER_CONV, d->dims.oh, d->dims.ow, hidden, s->out_c, 1, 1, 1, REEF_NN_ACT_NONE);
        break;
    }
    case REEF_BLOCK_AVGPOOL:
    case REEF_BLOCK_MAXPOOL:
        if (h < s->kernel || w < s->kernel)
            return reef_fail(err, "%s: line %d: a %dx%d pool does not fit the %dx%d input it gets", arch_name,
                             s->line, s->kernel, s->kernel, h, w);
        add_layer(b, s->kind == REEF_BLOCK_AVGPOOL ? REEF_LAYER_AVGPOOL : REEF_LAYER_MAXPOOL, h, w, c, c,
                  s->kernel, s->stride, 0, REEF_NN_ACT_NONE);
        break;
    case REEF_BLOCK_GAP: add_layer(b, REEF_LAYER_GAP, h, w, c, c, 1, 1, 0, REEF_NN_ACT_NONE); break;
    case REEF_BLOCK_DROPOUT:
        add_layer(b, REEF_LAYER_DROPOUT, h, w, c, c, 1, 1, 0, REEF_NN_ACT_NONE);
        b->layers[0].dropout = s->dropout;
        break;
    case REEF_BLOCK_FC: {
        int oc = s->out_c ? s->out_c : num_classes;
        if (is_last && oc != num_classes)
            return reef_fail(err, "%s: line %d: the classifier has %d outputs but the dataset has %d classes",
                             arch_name, s->line, oc, num_classes);
        if (!is_last && !s->out_c)
            return reef_fail(err, "%s: line %d: an fc before the last layer needs an output count (e.g. c32)",
                             arch_name, s->line);
        add_layer(b, REEF_LAYER_FC, h, w, c, oc, 1, 1, 0, s->act);
        break;
    }
    }
    reef_layer *last = &b->layers[b->nlayers - 1];
    b->out_h = last->dims.oh, b->out_w = last->dims.ow, b->out_c = last->dims.oc;
    if (is_last) b->out_h = b->out_w = 1;
    return 0;
}

/* Hands out consecutive pieces of one allocation. */
static float *take(float **cursor, size_t n)
{
    float *p = *cursor;
    *cursor += n;
    return p;
}

size_t reef_layer_weight_count(const reef_layer *L)
{
    const reef_conv_dims *d = &L->dims;
    switch (L->kind) {
    case REEF_LAYER_CONV: return (size_t)d->oc * d->kh * d->kw * d->c;
    case REEF_LAYER_DWCONV: return (size_t)d->kh * d->kw * d->oc;
    case REEF_LAYER_FC: return (size_t)d->oc * d->c;
    default: return 0;
    }
}

static void take_param(reef_param_cursor *pc, float **field, size_t count, const char *prefix, const char *tag,
                       int decay)
{
    if (pc->params) {
        *field = pc->params + pc->np;
        reef_param *t = &pc->tensors[pc->nt];
        snprintf(t->name, sizeof t->name, "%.24s.%s", prefix, tag);
        t->p = *field, t->n = count, t->decay = decay;
    }
    pc->nt++, pc->np += count;
}

void reef_layer_take_params(reef_layer *L, const char *prefix, int weights_only, reef_param_cursor *pc)
{
    size_t nw = reef_layer_weight_count(L), oc = (size_t)L->dims.oc;
    if (nw) take_param(pc, &L->w, nw, prefix, "w", 1);
    if (weights_only) return;
    if (nw && !L->has_bn) take_param(pc, &L->b, oc, prefix, "b", 0);
    if (L->has_bn) {
        take_param(pc, &L->gamma, oc, prefix, "gamma", 0);
        take_param(pc, &L->beta, oc, prefix, "beta", 0);
        if (pc->stats) L->run_mean = pc->stats + pc->ns, L->run_var = pc->stats + pc->ns + oc;
        pc->ns += 2 * oc;
    }
}

/* Walks every parameter; with params == NULL only counts them. */
static void assign_params(reef_model *m, float *params, float *stats, size_t *np, size_t *ns)
{
    reef_param_cursor pc = {.params = params, .stats = stats, .tensors = m->param_tensors};
    for (int bi = 0; bi < m->nblocks; bi++)
        for (int li = 0; li < m->blocks[bi].nlayers; li++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "b%d.l%d", bi, li);
            reef_layer_take_params(&m->blocks[bi].layers[li], prefix, 0, &pc);
        }
    *np = pc.np, *ns = pc.ns;
    m->nparam_tensors = pc.nt;
}

int reef_model_build(reef_model *m, const reef_arch *a, int in_h, int in_w, int in_c,
                     int num_classes, uint64_t seed, reef_error *err)
{
    return reef_model_build_within(m, a, in_h, in_w, in_c, num_classes, seed, (size_t)REEF_MAX_TENSOR, err);
}

int reef_model_build_within(reef_model *m, const reef_arch *a, int in_h, int in_w, int in_c,
                            int num_classes, uint64_t seed, size_t max_params, reef_error *err)
{
    memset(m, 0, sizeof *m);
    if (in_h < 1 || in_w < 1 || in_c < 1 || in_h > 4096 || in_w > 4096)
        return reef_fail(err, "images of %dx%dx%d (each side 1 to 4096, at least 1 channel)", in_h, in_w, in_c);
    if (a->in_h && (a->in_h != in_h || a->in_w != in_w || a->in_c != in_c))
        return reef_fail(err, "the data's images are %dx%dx%d but architecture '%s' wants %dx%dx%d",
                         in_h, in_w, in_c, a->name, a->in_h, a->in_w, a->in_c);
    if (in_c > REEF_MAX_CHANNELS) return reef_fail(err, "images with %d channels (at most %d)", in_c, REEF_MAX_CHANNELS);
    if (num_classes < 2) return reef_fail(err, "a classifier needs at least 2 classes, not %d", num_classes);
    m->arch = *a;
    m->arch.in_h = in_h, m->arch.in_w = in_w, m->arch.in_c = in_c;
    m->in_h = in_h, m->in_w = in_w, m->in_c = in_c, m->num_classes = num_classes;
    m->bn_momentum = REEF_BN_MOMENTUM;
    m->norm.channels = in_c;
    for (int c = 0; c < in_c; c++) m->norm.mean[c] = 0.0f, m->norm.std[c] = 1.0f;
    m->nblocks = a->nblocks;
    m->blocks = calloc(a->nblocks, sizeof *m->blocks);
    if (!m->blocks) return reef_fail(err, "out of memory");
    int h = in_h, w = in_w, c = in_c;
    for (int i = 0; i < a->nblocks; i++) {
        if (reef_block_build(&m->blocks[i], &a->blocks[i], h, w, c, num_classes, i == a->nblocks - 1, a->name, err)) {
            reef_model_free(m);
            return -1;
        }
        m->arch.blocks[i].skip = m->blocks[i].spec.skip;
        h = m->blocks[i].out_h, w = m->blocks[i].out_w, c = m->blocks[i].out_c;
    }
    size_t np, ns;
    assign_params(m, NULL, NULL, &np, &ns);
    /* reef trains networks for microcontrollers: 2^26 parameters (256 MB of
     * floats) is far beyond any of them, and bounds what a crafted spec or
     * checkpoint can make the build allocate and initialise */
    if (np > (size_t)REEF_MAX_TENSOR) {
        reef_model_free(m);
        return reef_fail(err, "%s: %zu parameters (at most %lld)", a->name, np, (long long)REEF_MAX_TENSOR);
    }
    if (np > max_params) { /* a checkpoint's spec asking for more weights than its file holds */
        reef_model_free(m);
        return reef_fail(err, "the spec '%s' needs %zu parameters, but the file holds only %zu", a->name, np,
                         max_params);
    }
    m->param_tensors = calloc(m->nparam_tensors, sizeof *m->param_tensors);
    m->params = calloc(np + 1, sizeof *m->params);
    m->grads = calloc(np + 1, sizeof *m->grads);
    m->stats = calloc(ns + 1, sizeof *m->stats);
    if (!m->param_tensors || !m->params || !m->grads || !m->stats) {
        reef_model_free(m);
        return reef_fail(err, "out of memory for %zu parameters", np);
    }
    assign_params(m, m->params, m->stats, &m->nparams, &m->nstats);
    reef_model_init_params(m, seed);
    return 0;
}

void reef_layer_init_params(reef_layer *L, reef_rng *rng)
{
    const reef_conv_dims *d = &L->dims;
    size_t nw = reef_layer_weight_count(L);
    /* PyTorch's defaults (Conv2d and Linear reset_parameters: Kaiming
     * uniform with a = sqrt 5): weights and biases uniform in
     * +-1/sqrt(fan_in), fan_in the inputs of one output (C k k for a conv,
     * k k for depthwise, C for fc). Kaiming normal with fan out (as
     * torchvision's MobileNetV2), fc std 0.01, trained fish-s 0.5 points
     * below PyTorch (bench/train/README.md). */
    const int fan_in = L->kind == REEF_LAYER_CONV ? d->c * d->kh * d->kw
                       : L->kind == REEF_LAYER_DWCONV ? d->kh * d->kw
                                                      : d->c;
    const float bound = nw ? 1.0f / sqrtf((float)fan_in) : 0.0f;
    for (size_t i = 0; i < nw; i++) L->w[i] = bound * (2.0f * reef_rng_uniform(rng) - 1.0f);
    if (L->b)
        for (int j = 0; j < d->oc; j++) L->b[j] = bound * (2.0f * reef_rng_uniform(rng) - 1.0f);
    if (L->gamma)
        for (int j = 0; j < d->oc; j++) {
            L->gamma[j] = 1.0f, L->beta[j] = 0.0f;
            L->run_mean[j] = 0.0f, L->run_var[j] = 1.0f;
        }
}

void reef_model_init_params(reef_model *m, uint64_t seed)
{
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (int bi = 0; bi < m->nblocks; bi++)
        for (int li = 0; li < m->blocks[bi].nlayers; li++) reef_layer_init_params(&m->blocks[bi].layers[li], &rng);
}

static void free_batch(reef_model *m)
{
    batch_state *bs = m->batch_;
    if (!bs) return;
    free(bs->mem);
    for (int t = 1; t < REEF_MAX_THREADS; t++) free(bs->tgrads[t]);
    for (int t = 0; t < REEF_MAX_THREADS; t++) free(bs->scratch[t]);
    free(bs->partial);
    free(bs);
    m->batch_ = NULL;
}

void reef_model_free(reef_model *m)
{
    free_batch(m);
    free(m->blocks);
    free(m->param_tensors);
    free(m->params);
    free(m->grads);
    free(m->stats);
    reef_class_names_free(&m->classes);
    memset(m, 0, sizeof *m);
}

size_t reef_block_take_batch(reef_block *b, float *mem, size_t batch_cap)
{
    float *cur = mem;
    size_t total = 0;
#define BUF(dst, count)                         \
    do {                                        \
        size_t cnt_ = (count);                  \
        if (mem) dst = take(&cur, cnt_);        \
        total += cnt_;                          \
    } while (0)
    for (int li = 0; li < b->nlayers; li++) {
        reef_layer *L = &b->layers[li];
        size_t os = (size_t)L->out_size;
        BUF(L->dy, batch_cap * os);
        BUF(L->y, batch_cap * os);
        if (L->has_bn) {
            BUF(L->z, batch_cap * os);
            BUF(L->dz, batch_cap * os);
            BUF(L->bn_mean, (size_t)L->dims.oc);
            BUF(L->bn_rstd, (size_t)L->dims.oc);
            BUF(L->bn_var, (size_t)L->dims.oc);
        } else if (L->act != REEF_NN_ACT_NONE) {
            BUF(L->z, batch_cap * os);
            if (mem) L->dz = L->dy;  // the activation's gradient is masked in place
        } else if (mem) {
            L->z = L->y, L->dz = L->dy;
        }
        if (L->kind == REEF_LAYER_DROPOUT) BUF(L->mask, batch_cap * os);
    }
    reef_layer *last = &b->layers[b->nlayers - 1];
    if (b->residual) BUF(b->out, batch_cap * last->out_size);
    else if (mem) b->out = last->y;
    if (mem) b->dout = last->dy;
#undef BUF
    return total;
}

/* Walks every batch buffer; with mem == NULL only counts floats. */
static size_t assign_batch(reef_model *m, float *mem)
{
    const size_t cap = (size_t)m->batch_cap;
    size_t total = 0;
    float *const in = mem;
    float *const probs = mem ? in + cap * m->in_h * m->in_w * m->in_c : NULL;
    float *const losses = mem ? probs + cap * m->num_classes : NULL;
    total += cap * m->in_h * m->in_w * m->in_c + cap * m->num_classes + cap;
    if (mem) m->input = in, m->probs = probs, m->losses = losses;
    for (int bi = 0; bi < m->nblocks; bi++) total += reef_block_take_batch(&m->blocks[bi], mem ? mem + total : NULL, cap);
    if (mem) m->logits = m->blocks[m->nblocks - 1].out;
    return total;
}

/* Per-thread scratch for the largest convolution of blocks[0..nblocks)
 * over the largest slice, per-thread gradients, BN partial sums. */
int reef_model_set_threads(reef_model *m, const reef_block *blocks, int nblocks, int batch_cap, int nthreads,
                           reef_error *err)
{
    if (batch_cap < 1) return reef_fail(err, "batch size %d: must be at least 1", batch_cap);
    if (nthreads < 1 || nthreads > REEF_MAX_THREADS)
        return reef_fail(err, "%d threads: must be from 1 to %d", nthreads, REEF_MAX_THREADS);
    free_batch(m);
    batch_state *bs = calloc(1, sizeof *bs);
    if (!bs) return reef_fail(err, "out of memory");
    m->batch_ = bs;
    m->batch_cap = batch_cap, m->nthreads = nthreads;
    int slice = (batch_cap + nthreads - 1) / nthreads, ok = 1;
    size_t scratch = 1;
    bs->max_c = 1;
    for (int bi = 0; bi < nblocks; bi++)
        for (int li = 0; li < blocks[bi].nlayers; li++) {
            const reef_layer *L = &blocks[bi].layers[li];
            reef_conv_dims d = L->dims;
            d.n = slice;
            if (L->kind == REEF_LAYER_CONV && reef_conv2d_scratch_floats(&d) > scratch)
                scratch = reef_conv2d_scratch_floats(&d);
            if (L->kind == REEF_LAYER_CONV && reef_k_pw_scratch_floats(&d) > scratch)
                scratch = reef_k_pw_scratch_floats(&d);
            if (L->kind == REEF_LAYER_DWCONV && reef_k_dw_scratch_floats(&d) > scratch)
                scratch = reef_k_dw_scratch_floats(&d);
            if (L->dims.oc > bs->max_c) bs->max_c = L->dims.oc;
        }
    for (int t = 0; ok && t < nthreads; t++) {
        bs->scratch[t] = malloc(scratch * sizeof(float));
        bs->tgrads[t] = t == 0 ? m->grads : calloc(m->nparams + 1, sizeof(float));
        ok = bs->scratch[t] && bs->tgrads[t];
    }
    bs->partial = calloc((size_t)2 * nthreads * 2 * bs->max_c, sizeof(double));
    if (!ok || !bs->partial) {
        free_batch(m);
        return reef_fail(err, "out of memory for a batch of %d", batch_cap);
    }
    // Each slice calls BLAS on its own; OpenBLAS's threads would only
    // contend with ours (and make sums depend on scheduling).
    openblas_set_num_threads(1);
    return 0;
}

int reef_model_set_batch(reef_model *m, int batch_cap, int nthreads, reef_error *err)
{
    if (reef_model_set_threads(m, m->blocks, m->nblocks, batch_cap, nthreads, err)) return -1;
    batch_state *bs = m->batch_;
    bs->mem = calloc(assign_batch(m, NULL), sizeof *bs->mem);
    if (!bs->mem) {
        free_batch(m);
        return reef_fail(err, "out of memory for a batch of %d", batch_cap);
    }
    assign_batch(m, bs->mem);
    return 0;
}

void reef_model_free_threads(reef_model *m) { free_batch(m); }

REEF_HOT
void reef_model_normalize(const reef_model *m, const uint8_t *pixels, int n)
{
    const int c = m->in_c;
    const size_t count = (size_t)n * m->in_h * m->in_w;
    float scale[REEF_MAX_CHANNELS], shift[REEF_MAX_CHANNELS];
    for (int j = 0; j < c; j++) {
        scale[j] = 1.0f / (255.0f * m->norm.std[j]);
        shift[j] = -m->norm.mean[j] / m->norm.std[j];
    }
    for (size_t i = 0; i < count; i++)
        for (int j = 0; j < c; j++) m->input[i * c + j] = pixels[i * c + j] * scale[j] + shift[j];
}

/* ---- threaded passes -------------------------------------------------------- */

typedef struct slice_job {
    reef_model *m;
    int t, nt;            /* this thread, thread count */
    int n, n0, n1;        /* batch size; this slice [n0, n1) */
    reef_mode mode;
    uint64_t seed;
    const uint16_t *labels;
    const reef_loss_cfg *cfg;
    float loss_scale;
    int bn_count;         /* BN layers passed; its parity picks the partial buffer */
} slice_job;

static void team_wait(slice_job *j)
{
    if (j->nt > 1) pthread_barrier_wait(&((batch_state *)j->m->batch_)->barrier);
}

/* This thread's partial-sum slot of the current BN layer: (2, max_c). */
static double *partial_slot(slice_job *j, int parity, int t)
{
    batch_state *bs = j->m->batch_;
    return bs->partial + ((size_t)(parity * j->nt + t) * 2 * bs->max_c);
}

/* Sums every thread's partial slot, in thread order, into a (C) and b (C). */
static void team_sum(slice_job *j, int parity, double *a, double *b, int c)
{
    const int max_c = ((batch_state *)j->m->batch_)->max_c;
    memset(a, 0, c * sizeof *a);
    memset(b, 0, c * sizeof *b);
    for (int t = 0; t < j->nt; t++) {
        const double *p = partial_slot(j, parity, t);
        for (int k = 0; k < c; k++) a[k] += p[k], b[k] += p[max_c + k];
    }
}

static void bn_forward_train(slice_job *j, reef_layer *L, const float *z, float *y, int rows)
{
    const int c = L->dims.oc, max_c = ((batch_state *)j->m->batch_)->max_c;
    const int parity = j->bn_count++ & 1;
    double *mine = partial_slot(j, parity, j->t);
    memset(mine, 0, 2 * max_c * sizeof *mine);
    // Sums around the running mean, read before the barrier (thread 0
    // updates it after), so every thread uses the same reference.
    float ref[c];
    memcpy(ref, L->run_mean, sizeof ref);
    reef_k_bn_stats(mine, mine + max_c, z, ref, rows, c);
    team_wait(j);
    double sum[c], sumsq[c];
    team_sum(j, parity, sum, sumsq, c);
    float mean[c], rstd[c], var[c];
    const double count = (double)j->n * L->dims.oh * L->dims.ow;
    reef_k_bn_finish(mean, rstd, var, sum, sumsq, ref, count, c);
    if (j->t == 0) {
        memcpy(L->bn_mean, mean, sizeof mean);
        memcpy(L->bn_rstd, rstd, sizeof rstd);
        if (L->bn_var) memcpy(L->bn_var, var, sizeof var);
        if (j->m->bn_momentum > 0) reef_bn_update_running(L->run_mean, L->run_var, mean, var, j->m->bn_momentum, c);
    }
    reef_k_bn_act_forward(y, z, mean, rstd, L->gamma, L->beta, rows, c, L->act);
}

static void bn_forward_infer(const reef_layer *L, const float *z, float *y, int rows)
{
    const int c = L->dims.oc;
    float rstd[c];
    for (int k = 0; k < c; k++) rstd[k] = 1.0f / sqrtf(L->run_var[k] + REEF_BN_EPS);
    reef_k_bn_act_forward(y, z, L->run_mean, rstd, L->gamma, L->beta, rows, c, L->act);
}

static void act_forward(float *y, const float *x, size_t n, reef_nn_act act)
{
    if (act == REEF_NN_ACT_RELU) reef_relu_forward(y, x, n);
    else if (act == REEF_NN_ACT_RELU6) reef_relu6_forward(y, x, n);
}

/* dy *= act'(y), in place */
REEF_HOT
static void act_mask(float *dy, const float *y, size_t n, reef_nn_act act)
{
    if (act == REEF_NN_ACT_RELU)
        for (size_t i = 0; i < n; i++) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    else if (act == REEF_NN_ACT_RELU6)
        for (size_t i = 0; i < n; i++) dy[i] = (y[i] > 0.0f && y[i] < 6.0f) ? dy[i] : 0.0f;
}

static void dropout_forward(slice_job *j, reef_layer *L, int layer_uid, const float *x, float *y, float *mask)
{
    const size_t size = (size_t)L->out_size;
    if (j->mode != REEF_MODE_TRAIN || L->dropout <= 0.0f) {
        memcpy(y, x, (size_t)(j->n1 - j->n0) * size * sizeof *y);
        if (mask)
            for (size_t i = 0; i < (size_t)(j->n1 - j->n0) * size; i++) mask[i] = 1.0f;
        return;
    }
    // One generator per sample and layer, so the masks do not depend on
    // how the batch is cut between threads.
    for (int i = j->n0; i < j->n1; i++) {
        reef_rng rng;
        reef_rng_seed(&rng, j->seed * 0x9E3779B97F4A7C15ull + (uint64_t)i * 7919u + (uint64_t)layer_uid);
        size_t at = (size_t)(i - j->n0) * size;
        reef_dropout_forward(y + at, mask + at, x + at, size, L->dropout, &rng);
    }
}

static void layer_forward(slice_job *j, reef_layer *L, int layer_uid, const float *in_base)
{
    batch_state *bs = j->m->batch_;
    const int ns = j->n1 - j->n0;
    const float *x = in_base + (size_t)j->n0 * L->in_size;
    const size_t off = (size_t)j->n0 * L->out_size;
    float *z = L->z + off, *y = L->y + off;
    reef_conv_dims d = L->dims;
    d.n = ns;
    switch (L->kind) {
    case REEF_LAYER_CONV:
        if (reef_k_pw_fast(&d)) reef_k_pw_forward(z, x, L->w, L->b, &d, bs->scratch[j->t]);
        else reef_conv2d_forward(z, x, L->w, L->b, &d, bs->scratch[j->t]);
        break;
    case REEF_LAYER_DWCONV:
        if (reef_k_dw_fast(&d)) reef_k_dw_forward(z, x, L->w, L->b, &d, bs->scratch[j->t]);
        else reef_dwconv2d_forward(z, x, L->w, L->b, &d);
        break;
    case REEF_LAYER_FC: reef_fc_forward(z, x, L->w, L->b, ns, L->in_size, L->out_size); break;
    case REEF_LAYER_AVGPOOL: reef_avgpool_forward(z, x, &d); break;
    case REEF_LAYER_MAXPOOL: reef_maxpool_forward(z, x, &d); break;
    case REEF_LAYER_GAP: reef_gap_forward(z, x, ns, d.h * d.w, d.c); break;
    case REEF_LAYER_DROPOUT: dropout_forward(j, L, layer_uid, x, z, L->mask + off); break;
    }
    const size_t count = (size_t)ns * L->out_size;
    const int rows = ns * d.oh * d.ow;
    if (L->has_bn) {
        // Fake quantization freezes batch norm: the int8 graph folds the running statistics.
        if (j->mode == REEF_MODE_TRAIN && !j->m->fq) bn_forward_train(j, L, z, y, rows);
        else bn_forward_infer(L, z, y, rows);
    } else if (L->act != REEF_NN_ACT_NONE) {
        act_forward(y, z, count, L->act);
    }
    if (j->m->fq) reef_fq_round(y, count, reef_fq_act(j->m->fq, layer_uid / REEF_BLOCK_MAX_LAYERS,
                                                      layer_uid % REEF_BLOCK_MAX_LAYERS));
}

static const float *block_input(const reef_model *m, int bi)
{
    return bi == 0 ? m->input : m->blocks[bi - 1].out;
}

static void *forward_slice(void *arg)
{
    slice_job *j = arg;
    reef_model *m = j->m;
    if (m->fq) {
        size_t size = (size_t)m->in_h * m->in_w * m->in_c;
        reef_fq_round(m->input + (size_t)j->n0 * size, (size_t)(j->n1 - j->n0) * size, &m->fq->input);
    }
    for (int bi = 0; bi < m->nblocks; bi++) {
        reef_block *b = &m->blocks[bi];
        const float *in = block_input(m, bi);
        for (int li = 0; li < b->nlayers; li++)
            layer_forward(j, &b->layers[li], bi * REEF_BLOCK_MAX_LAYERS + li, li ? b->layers[li - 1].y : in);
        if (b->residual) {
            size_t size = (size_t)b->layers[b->nlayers - 1].out_size, off = (size_t)j->n0 * size;
            reef_add_forward(b->out + off, b->layers[b->nlayers - 1].y + off, in + off,
                             (size_t)(j->n1 - j->n0) * size);
            if (m->fq) reef_fq_round(b->out + off, (size_t)(j->n1 - j->n0) * size, &m->fq->add[bi]);
        }
    }
    return NULL;
}

/* dz from dy through the activation and batch norm (dy is left as is). */
static void bn_backward(slice_job *j, reef_layer *L, float *dz, const float *dy, const float *z,
                        int rows)
{
    batch_state *bs = j->m->batch_;
    const int c = L->dims.oc, max_c = bs->max_c;
    const int parity = j->bn_count++ & 1;
    double *mine = partial_slot(j, parity, j->t);
    memset(mine, 0, 2 * max_c * sizeof *mine);
    reef_k_bn_act_grads(mine, mine + max_c, dy, z, L->bn_mean, L->bn_rstd, L->gamma, L->beta, rows, c, L->act);
    team_wait(j);
    double sdy[c], sdyx[c];
    team_sum(j, parity, sdy, sdyx, c);
    if (j->t == 0) {
        float *dgamma = j->m->grads + (L->gamma - j->m->params);
        float *dbeta = j->m->grads + (L->beta - j->m->params);
        for (int k = 0; k < c; k++) dgamma[k] += (float)sdyx[k], dbeta[k] += (float)sdy[k];
    }
    const double count = (double)j->n * L->dims.oh * L->dims.ow;
    reef_k_bn_act_backward(dz, dy, z, L->bn_mean, L->bn_rstd, L->gamma, L->beta, sdy, sdyx, count, rows, c, L->act);
}

/* Backward through frozen batch norm (running statistics, as in
 * fake-quantized passes) and its activation: with xhat = (z - mean) * rstd
 * and g = dy masked by the activation at gamma * xhat + beta,
 * dz = g * gamma * rstd, dgamma += g * xhat, dbeta += g (into this thread's
 * gradients). */
static void bn_backward_frozen(slice_job *j, reef_layer *L, float *dz, const float *dy, const float *z, int rows)
{
    batch_state *bs = j->m->batch_;
    float *g = bs->tgrads[j->t];
    float *dgamma = g + (L->gamma - j->m->params), *dbeta = g + (L->beta - j->m->params);
    const int c = L->dims.oc;
    float rstd[c];
    for (int k = 0; k < c; k++) rstd[k] = 1.0f / sqrtf(L->run_var[k] + REEF_BN_EPS);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < c; k++) {
            const size_t i = (size_t)r * c + k;
            const float xhat = (z[i] - L->run_mean[k]) * rstd[k], pre = L->gamma[k] * xhat + L->beta[k];
            float gi = dy[i];
            if (L->act == REEF_NN_ACT_RELU && !(pre > 0.0f)) gi = 0.0f;
            if (L->act == REEF_NN_ACT_RELU6 && !(pre > 0.0f && pre < 6.0f)) gi = 0.0f;
            dgamma[k] += gi * xhat;
            dbeta[k] += gi;
            dz[i] = gi * L->gamma[k] * rstd[k];
        }
}

static void dw_backward(float *dx, float *dw, float *db, const float *dz, const float *x, const float *w,
                        const reef_conv_dims *d, float *scratch, reef_grad_mode mode)
{
    if (!reef_k_dw_fast(d)) {
        if (dx && mode == REEF_GRAD_SET) memset(dx, 0, (size_t)d->n * d->h * d->w * d->c * sizeof *dx);
        reef_dwconv2d_backward(dx, dw, db, dz, x, w, d);
        return;
    }
    reef_k_dw_backward_weights(dw, db, dz, x, d, scratch);
    if (dx) reef_k_dw_backward_input(dx, dz, w, d, mode, scratch);
}

/* din_base may be NULL (the network's input needs no gradient); mode says
 * whether the input gradient is written or added to. */
static void layer_backward(slice_job *j, reef_layer *L, const float *in_base, float *din_base,
                           reef_grad_mode mode)
{
    batch_state *bs = j->m->batch_;
    float *g = bs->tgrads[j->t];
    const int ns = j->n1 - j->n0;
    const float *x = in_base + (size_t)j->n0 * L->in_size;
    float *dx = din_base ? din_base + (size_t)j->n0 * L->in_size : NULL;
    const size_t off = (size_t)j->n0 * L->out_size;
    float *dy = L->dy + off, *dz = L->dz + off;
    reef_conv_dims d = L->dims;
    d.n = ns;
    const size_t count = (size_t)ns * L->out_size;
    if (L->has_bn && j->m->fq) bn_backward_frozen(j, L, dz, dy, L->z + off, ns * d.oh * d.ow);
    else if (L->has_bn) bn_backward(j, L, dz, dy, L->z + off, ns * d.oh * d.ow);
    else act_mask(dy, L->y + off, count, L->act);  // dz == dy
    float *dw = L->w ? g + (L->w - j->m->params) : NULL;
    float *db = L->b ? g + (L->b - j->m->params) : NULL;
    if (dx && mode == REEF_GRAD_SET && (L->kind == REEF_LAYER_AVGPOOL || L->kind == REEF_LAYER_MAXPOOL))
        memset(dx, 0, (size_t)ns * L->in_size * sizeof *dx);  // pools scatter-add
    switch (L->kind) {
    case REEF_LAYER_CONV: reef_k_conv2d_backward(dx, dw, db, dz, x, L->w, &d, bs->scratch[j->t], mode); break;
    case REEF_LAYER_DWCONV: dw_backward(dx, dw, db, dz, x, L->w, &d, bs->scratch[j->t], mode); break;
    case REEF_LAYER_FC: reef_k_fc_backward(dx, dw, db, dz, x, L->w, ns, L->in_size, L->out_size, mode); break;
    case REEF_LAYER_AVGPOOL:
        if (dx) reef_avgpool_backward(dx, dz, &d);
        break;
    case REEF_LAYER_MAXPOOL:
        if (dx) reef_maxpool_backward(dx, dz, x, &d);
        break;
    case REEF_LAYER_GAP:
        if (dx) reef_k_gap_backward(dx, dz, ns, d.h * d.w, d.c, mode);
        break;
    case REEF_LAYER_DROPOUT:
        if (dx) reef_k_dropout_backward(dx, dz, L->mask + off, count, mode);
        break;
    }
}

static void *backward_slice(void *arg)
{
    slice_job *j = arg;
    reef_model *m = j->m;
    batch_state *bs = m->batch_;
    const int ns = j->n1 - j->n0;
    memset(bs->tgrads[j->t], 0, m->nparams * sizeof(float));
    // Every activation gradient is written (not added to) by the layer
    // after it, so only the logits' gradient, which the loss adds to,
    // starts from zero.
    const int k = m->num_classes;
    memset(m->blocks[m->nblocks - 1].dout + (size_t)j->n0 * k, 0, (size_t)ns * k * sizeof(float));
    reef_softmax_xent_backward(m->blocks[m->nblocks - 1].dout + (size_t)j->n0 * k, m->probs + (size_t)j->n0 * k,
                               j->labels + j->n0, j->cfg ? j->cfg->class_weights : NULL,
                               j->cfg ? j->cfg->label_smoothing : 0.0f, j->loss_scale, ns, k);
    for (int bi = m->nblocks - 1; bi >= 0; bi--) {
        reef_block *b = &m->blocks[bi];
        const float *in = block_input(m, bi);
        float *din = bi ? m->blocks[bi - 1].dout : NULL;
        // The skip's share of din first, copied from dout before the last
        // layer's backward can mask dout in place; the first layer adds.
        reef_grad_mode first_mode = REEF_GRAD_SET;
        if (b->residual && din) {
            size_t size = (size_t)b->layers[b->nlayers - 1].out_size, off = (size_t)j->n0 * size;
            memcpy(din + off, b->dout + off, (size_t)ns * size * sizeof *din);
            first_mode = REEF_GRAD_ADD;
        }
        for (int li = b->nlayers - 1; li >= 0; li--)
            layer_backward(j, &b->layers[li], li ? b->layers[li - 1].y : in, li ? b->layers[li - 1].dy : din,
                           li ? REEF_GRAD_SET : first_mode);
    }
    // Sum the threads' weight gradients in thread order, each thread one range.
    team_wait(j);
    size_t p0 = m->nparams * j->t / j->nt, p1 = m->nparams * (j->t + 1) / j->nt;
    for (int t = 1; t < j->nt; t++) {
        const float *src = bs->tgrads[t];
        for (size_t i = p0; i < p1; i++) m->grads[i] += src[i];
    }
    return NULL;
}

/* Threads wait at a gate until all of them exist; if one cannot be
 * created, the others are told to return and the batch runs as one slice. */
typedef struct gated_job {
    slice_job *job;
    void *(*fn)(void *);
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *state;           /* 0 wait, 1 go, 2 abort */
} gated_job;

static void *gated_start(void *arg)
{
    gated_job *g = arg;
    pthread_mutex_lock(g->mu);
    while (*g->state == 0) pthread_cond_wait(g->cv, g->mu);
    int go = *g->state == 1;
    pthread_mutex_unlock(g->mu);
    if (go) g->fn(g->job);
    return NULL;
}

/* Runs fn on min(nthreads, n) slices of the batch, slice 0 on this thread. */
static void run_team(reef_model *m, const slice_job *tmpl, void *(*fn)(void *))
{
    batch_state *bs = m->batch_;
    int nt = m->nthreads < tmpl->n ? m->nthreads : tmpl->n;
    slice_job jobs[REEF_MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        jobs[t] = *tmpl;
        jobs[t].t = t, jobs[t].nt = nt;
        jobs[t].n0 = (int)((int64_t)tmpl->n * t / nt);
        jobs[t].n1 = (int)((int64_t)tmpl->n * (t + 1) / nt);
    }
    if (nt <= 1) {
        fn(&jobs[0]);
        return;
    }
    pthread_t threads[REEF_MAX_THREADS];
    gated_job gates[REEF_MAX_THREADS];
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int state = 0, started = 1;
    for (int t = 1; t < nt; t++, started++) {
        gates[t] = (gated_job){&jobs[t], fn, &mu, &cv, &state};
        if (pthread_create(&threads[t], NULL, gated_start, &gates[t])) break;
    }
    // The barrier must exist before the gate opens.
    if (started == nt) pthread_barrier_init(&bs->barrier, NULL, (unsigned)nt);
    pthread_mutex_lock(&mu);
    state = started == nt ? 1 : 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (state == 2) {
        for (int t = 1; t < started; t++) pthread_join(threads[t], NULL);
        slice_job one = *tmpl;
        one.t = 0, one.nt = 1, one.n0 = 0, one.n1 = tmpl->n;
        fn(&one);
        return;
    }
    fn(&jobs[0]);
    for (int t = 1; t < nt; t++) pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&bs->barrier);
}

void reef_model_forward(reef_model *m, int n, reef_mode mode, uint64_t seed)
{
    slice_job j = {.m = m, .n = n, .mode = mode, .seed = seed};
    run_team(m, &j, forward_slice);
}

static double weight_sum(const uint16_t *labels, int n, const reef_loss_cfg *cfg)
{
    if (!cfg || !cfg->class_weights) return n;
    double s = 0;
    for (int i = 0; i < n; i++) s += cfg->class_weights[labels[i]];
    return s > 0 ? s : 1;
}

double reef_model_loss(reef_model *m, const uint16_t *labels, int n, const reef_loss_cfg *cfg)
{
    double total = reef_softmax_xent_forward(m->losses, m->probs, m->logits, labels,
                                             cfg ? cfg->class_weights : NULL,
                                             cfg ? cfg->label_smoothing : 0.0f, n, m->num_classes);
    return total / weight_sum(labels, n, cfg);
}

void reef_model_backward(reef_model *m, const uint16_t *labels, int n, const reef_loss_cfg *cfg)
{
    slice_job j = {.m = m, .n = n, .mode = REEF_MODE_TRAIN, .labels = labels, .cfg = cfg,
                   .loss_scale = (float)(1.0 / weight_sum(labels, n, cfg))};
    run_team(m, &j, backward_slice);
}

/* ---- figures ----------------------------------------------------------------- */

int64_t reef_model_macs(const reef_model *m)
{
    int64_t macs = 0;
    for (int bi = 0; bi < m->nblocks; bi++)
        for (int li = 0; li < m->blocks[bi].nlayers; li++) {
            const reef_layer *L = &m->blocks[bi].layers[li];
            const reef_conv_dims *d = &L->dims;
            int64_t px = (int64_t)d->oh * d->ow;
            if (L->kind == REEF_LAYER_CONV) macs += px * d->oc * d->kh * d->kw * d->c;
            else if (L->kind == REEF_LAYER_DWCONV) macs += px * d->oc * d->kh * d->kw;
            else if (L->kind == REEF_LAYER_FC) macs += (int64_t)d->oc * d->c;
        }
    return macs;
}

int64_t reef_model_peak_activation(const reef_model *m)
{
    int64_t peak = 0;
    for (int bi = 0; bi < m->nblocks; bi++) {
        const reef_block *b = &m->blocks[bi];
        int64_t keep = b->residual ? (int64_t)b->in_h * b->in_w * b->in_c : 0;
        for (int li = 0; li < b->nlayers; li++) {
            const reef_layer *L = &b->layers[li];
            int64_t live = (int64_t)L->in_size + L->out_size + (li ? keep : 0);
            if (live > peak) peak = live;
        }
    }
    return peak;
}

int reef_model_argmax(const reef_model *m, int i)
{
    const float *z = m->logits + (size_t)i * m->num_classes;
    int best = 0;
    for (int k = 1; k < m->num_classes; k++)
        if (z[k] > z[best]) best = k;
    return best;
}
