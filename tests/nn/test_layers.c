/* Gradient checks: every layer's backward against central finite
 * differences of L = sum(out * r) for a random r, with L accumulated and the
 * differences taken in double precision. Also the whole model (residual
 * MBConv blocks, batch norm across two threads). */
#include "testing.h"

#include <math.h>

#include "nn/kernels.h"
#include "nn/layers.h"
#include "nn/model.h"

#define MAX_T 4

/* One check: tensors t[0..nt) (inputs and parameters), a forward producing
 * nout floats, and a backward accumulating into dt[] given dout. */
typedef struct gcase {
    const char *name;
    int nt;
    size_t size[MAX_T];
    float *t[MAX_T], *dt[MAX_T];
    size_t nout;
    float lo, hi;            /* input value range (kept away from kinks) */
    void (*fwd)(struct gcase *c, float *out);
    void (*bwd)(struct gcase *c, const float *dout);
    void (*init)(struct gcase *c);  /* optional: set inputs after the random fill */
    reef_conv_dims d;        /* shapes for the layer under test */
    int ia, ib;              /* extra ints */
    float fa;
} gcase;

static double loss_of(gcase *c, const float *r, float *out)
{
    c->fwd(c, out);
    double l = 0;
    for (size_t i = 0; i < c->nout; i++) l += (double)out[i] * r[i];
    return l;
}

/* Returns the largest error relative to max(1, |numeric|). */
static double gradcheck(gcase *c, uint64_t seed)
{
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (int k = 0; k < c->nt; k++) {
        c->t[k] = malloc(c->size[k] * sizeof(float));
        c->dt[k] = calloc(c->size[k], sizeof(float));
        for (size_t i = 0; i < c->size[k]; i++) c->t[k][i] = c->lo + (c->hi - c->lo) * reef_rng_uniform(&rng);
    }
    if (c->init) c->init(c);
    float *out = malloc(c->nout * sizeof(float)), *r = malloc(c->nout * sizeof(float));
    for (size_t i = 0; i < c->nout; i++) r[i] = reef_rng_normal(&rng);
    c->fwd(c, out);
    c->bwd(c, r);
    const float eps = 1e-2f;
    double worst = 0;
    for (int k = 0; k < c->nt; k++) {
        size_t step = c->size[k] > 400 ? c->size[k] / 200 : 1;  // sample big tensors
        for (size_t i = 0; i < c->size[k]; i += step) {
            float keep = c->t[k][i];
            c->t[k][i] = keep + eps;
            double lp = loss_of(c, r, out);
            c->t[k][i] = keep - eps;
            double lm = loss_of(c, r, out);
            c->t[k][i] = keep;
            double num = (lp - lm) / (2.0 * (double)eps);
            double e = fabs(num - c->dt[k][i]) / fmax(1.0, fabs(num));
            if (e > worst) worst = e;
        }
    }
    printf("  %-28s max rel error %.2e\n", c->name, worst);
    for (int k = 0; k < c->nt; k++) free(c->t[k]), free(c->dt[k]);
    free(out);
    free(r);
    return worst;
}

/* ---- per-layer adapters ------------------------------------------------------ */

static size_t in_count(const reef_conv_dims *d) { return (size_t)d->n * d->h * d->w * d->c; }
static size_t out_count(const reef_conv_dims *d) { return (size_t)d->n * d->oh * d->ow * d->oc; }

static float scratch_buf[1 << 16];

static void conv_fwd(gcase *c, float *out) { reef_conv2d_forward(out, c->t[0], c->t[1], c->t[2], &c->d, scratch_buf); }
static void conv_bwd(gcase *c, const float *g)
{
    reef_conv2d_backward(c->dt[0], c->dt[1], c->dt[2], g, c->t[0], c->t[1], &c->d, scratch_buf);
}
static void dw_fwd(gcase *c, float *out) { reef_dwconv2d_forward(out, c->t[0], c->t[1], c->t[2], &c->d); }
static void dw_bwd(gcase *c, const float *g) { reef_dwconv2d_backward(c->dt[0], c->dt[1], c->dt[2], g, c->t[0], c->t[1], &c->d); }
static void fc_fwd(gcase *c, float *out) { reef_fc_forward(out, c->t[0], c->t[1], c->t[2], c->ia, c->d.c, c->d.oc); }
static void fc_bwd(gcase *c, const float *g) { reef_fc_backward(c->dt[0], c->dt[1], c->dt[2], g, c->t[0], c->t[1], c->ia, c->d.c, c->d.oc); }

static void bn_fwd(gcase *c, float *out)
{
    float mean[64], rstd[64];
    reef_bn_forward_train(out, mean, rstd, c->t[0], c->t[1], c->t[2], c->ia, c->d.c);
}
static void bn_bwd(gcase *c, const float *g)
{
    float mean[64], rstd[64], *tmp = malloc(c->size[0] * sizeof(float));
    reef_bn_forward_train(tmp, mean, rstd, c->t[0], c->t[1], c->t[2], c->ia, c->d.c);
    reef_bn_backward(c->dt[0], c->dt[1], c->dt[2], g, c->t[0], mean, rstd, c->t[1], c->ia, c->d.c);
    free(tmp);
}
static void relu_fwd(gcase *c, float *out) { reef_relu_forward(out, c->t[0], c->nout); }
static void relu_bwd(gcase *c, const float *g)
{
    float *y = malloc(c->nout * sizeof(float));
    reef_relu_forward(y, c->t[0], c->nout);
    reef_relu_backward(c->dt[0], g, y, c->nout);
    free(y);
}
static void relu6_fwd(gcase *c, float *out) { reef_relu6_forward(out, c->t[0], c->nout); }
static void relu6_bwd(gcase *c, const float *g)
{
    float *y = malloc(c->nout * sizeof(float));
    reef_relu6_forward(y, c->t[0], c->nout);
    reef_relu6_backward(c->dt[0], g, y, c->nout);
    free(y);
}
static void avg_fwd(gcase *c, float *out) { reef_avgpool_forward(out, c->t[0], &c->d); }
static void avg_bwd(gcase *c, const float *g) { reef_avgpool_backward(c->dt[0], g, &c->d); }
static void max_fwd(gcase *c, float *out) { reef_maxpool_forward(out, c->t[0], &c->d); }
static void max_bwd(gcase *c, const float *g) { reef_maxpool_backward(c->dt[0], g, c->t[0], &c->d); }
/* Max pooling has a kink wherever two window values tie: spread the inputs
 * 0.05 apart (more than the 2 * eps a finite difference moves them). */
static void max_init(gcase *c)
{
    size_t n = c->size[0];
    for (size_t i = 0; i < n; i++) c->t[0][i] = (float)((i * 7919) % n) * 0.05f - 1.0f;
}
static void gap_fwd(gcase *c, float *out) { reef_gap_forward(out, c->t[0], c->d.n, c->d.h * c->d.w, c->d.c); }
static void gap_bwd(gcase *c, const float *g) { reef_gap_backward(c->dt[0], g, c->d.n, c->d.h * c->d.w, c->d.c); }
static void add_fwd(gcase *c, float *out) { reef_add_forward(out, c->t[0], c->t[1], c->nout); }
static void add_bwd(gcase *c, const float *g) { reef_add_backward(c->dt[0], c->dt[1], g, c->nout); }
static void drop_fwd(gcase *c, float *out)
{
    reef_rng rng;
    reef_rng_seed(&rng, 42);  // same mask every call
    float *mask = malloc(c->nout * sizeof(float));
    reef_dropout_forward(out, mask, c->t[0], c->nout, c->fa, &rng);
    free(mask);
}
static void drop_bwd(gcase *c, const float *g)
{
    reef_rng rng;
    reef_rng_seed(&rng, 42);
    float *mask = malloc(c->nout * sizeof(float)), *y = malloc(c->nout * sizeof(float));
    reef_dropout_forward(y, mask, c->t[0], c->nout, c->fa, &rng);
    reef_dropout_backward(c->dt[0], g, mask, c->nout);
    free(mask);
    free(y);
}
static const uint16_t xent_labels[] = {0, 2, 1, 4, 3, 2};
static const float xent_weights[] = {1.0f, 2.0f, 0.5f, 1.5f, 1.0f};
static void xent_fwd(gcase *c, float *out)
{
    float probs[64], losses[8];
    double total = reef_softmax_xent_forward(losses, probs, c->t[0], xent_labels, xent_weights, c->fa, c->ia, c->d.oc);
    double wsum = 0;
    for (int i = 0; i < c->ia; i++) wsum += xent_weights[xent_labels[i]];
    out[0] = (float)(total / wsum);
}
static void xent_bwd(gcase *c, const float *g)
{
    float probs[64], losses[8];
    reef_softmax_xent_forward(losses, probs, c->t[0], xent_labels, xent_weights, c->fa, c->ia, c->d.oc);
    double wsum = 0;
    for (int i = 0; i < c->ia; i++) wsum += xent_weights[xent_labels[i]];
    reef_softmax_xent_backward(c->dt[0], probs, xent_labels, xent_weights, c->fa, (float)(g[0] / wsum), c->ia, c->d.oc);
}

static gcase conv_case(const char *name, int n, int h, int w, int ch, int oc, int k, int s, int same)
{
    gcase c = {.name = name, .nt = 3, .lo = -1, .hi = 1, .fwd = conv_fwd, .bwd = conv_bwd};
    if (same) reef_conv_dims_same(&c.d, n, h, w, ch, oc, k, s);
    else reef_conv_dims_valid(&c.d, n, h, w, ch, oc, k, s);
    c.size[0] = in_count(&c.d), c.size[1] = (size_t)oc * k * k * ch, c.size[2] = oc;
    c.nout = out_count(&c.d);
    return c;
}

static gcase dw_case(const char *name, int n, int h, int w, int ch, int mult, int k, int s)
{
    gcase c = {.name = name, .nt = 3, .lo = -1, .hi = 1, .fwd = dw_fwd, .bwd = dw_bwd};
    reef_conv_dims_same(&c.d, n, h, w, ch, ch * mult, k, s);
    c.size[0] = in_count(&c.d), c.size[1] = (size_t)k * k * ch * mult, c.size[2] = ch * mult;
    c.nout = out_count(&c.d);
    return c;
}

static gcase pool_case(const char *name, int is_max, int same, int k, int s)
{
    gcase c = {.name = name, .nt = 1, .lo = -1, .hi = 1, .fwd = is_max ? max_fwd : avg_fwd, .bwd = is_max ? max_bwd : avg_bwd,
               .init = is_max ? max_init : NULL};
    if (same) reef_conv_dims_same(&c.d, 2, 7, 6, 3, 3, k, s);
    else reef_conv_dims_valid(&c.d, 2, 7, 6, 3, 3, k, s);
    c.size[0] = in_count(&c.d);
    c.nout = out_count(&c.d);
    return c;
}

static void test_layer_gradients(void **state)
{
    (void)state;
    gcase cases[32];
    int n = 0;
    cases[n++] = conv_case("conv 3x3 s1 same", 2, 5, 6, 3, 4, 3, 1, 1);
    cases[n++] = conv_case("conv 3x3 s2 same", 2, 7, 7, 2, 5, 3, 2, 1);
    cases[n++] = conv_case("conv 5x5 s2 same (even in)", 1, 8, 6, 2, 3, 5, 2, 1);
    cases[n++] = conv_case("conv 3x3 s1 valid", 2, 5, 5, 2, 3, 3, 1, 0);
    cases[n++] = conv_case("conv 1x1 (pointwise)", 3, 4, 4, 6, 5, 1, 1, 1);
    cases[n++] = dw_case("dwconv 3x3 s1 same", 2, 5, 6, 4, 1, 3, 1);
    cases[n++] = dw_case("dwconv 3x3 s2 same", 2, 7, 7, 3, 1, 3, 2);
    cases[n++] = dw_case("dwconv 5x5 s2 same", 2, 8, 8, 3, 1, 5, 2);
    cases[n++] = dw_case("dwconv 3x3 s2 mult 2", 1, 6, 5, 2, 2, 3, 2);
    cases[n++] = dw_case("dwconv 3x3 s1 (vector, 40 ch)", 2, 5, 6, 40, 1, 3, 1);
    cases[n++] = dw_case("dwconv 5x5 s2 (vector, 16 ch)", 1, 8, 7, 16, 1, 5, 2);
    gcase fc = {.name = "fully connected", .nt = 3, .lo = -1, .hi = 1, .fwd = fc_fwd, .bwd = fc_bwd, .ia = 3};
    fc.d.c = 7, fc.d.oc = 4, fc.size[0] = 21, fc.size[1] = 28, fc.size[2] = 4, fc.nout = 12;
    cases[n++] = fc;
    gcase bn = {.name = "batch norm (training)", .nt = 3, .lo = -2, .hi = 3, .fwd = bn_fwd, .bwd = bn_bwd, .ia = 12};
    bn.d.c = 5, bn.size[0] = 60, bn.size[1] = 5, bn.size[2] = 5, bn.nout = 60;
    cases[n++] = bn;
    gcase relu = {.name = "relu", .nt = 1, .lo = 0.05f, .hi = 1, .fwd = relu_fwd, .bwd = relu_bwd, .size = {20}, .nout = 20};
    cases[n++] = relu;
    gcase relu_neg = relu;
    relu_neg.name = "relu (negative side)", relu_neg.lo = -1, relu_neg.hi = -0.05f;
    cases[n++] = relu_neg;
    gcase relu6 = {.name = "relu6 (linear part)", .nt = 1, .lo = 0.05f, .hi = 5.9f, .fwd = relu6_fwd, .bwd = relu6_bwd, .size = {20}, .nout = 20};
    cases[n++] = relu6;
    gcase relu6_top = relu6;
    relu6_top.name = "relu6 (clipped part)", relu6_top.lo = 6.05f, relu6_top.hi = 9;
    cases[n++] = relu6_top;
    cases[n++] = pool_case("avgpool 2x2 s2 valid", 0, 0, 2, 2);
    cases[n++] = pool_case("avgpool 3x3 s2 same (padded)", 0, 1, 3, 2);
    cases[n++] = pool_case("maxpool 2x2 s2 valid", 1, 0, 2, 2);
    cases[n++] = pool_case("maxpool 3x3 s1 same", 1, 1, 3, 1);
    gcase gap = {.name = "global average pool", .nt = 1, .lo = -1, .hi = 1, .fwd = gap_fwd, .bwd = gap_bwd};
    gap.d.n = 2, gap.d.h = 3, gap.d.w = 4, gap.d.c = 5, gap.size[0] = 120, gap.nout = 10;
    cases[n++] = gap;
    gcase add = {.name = "residual add", .nt = 2, .lo = -1, .hi = 1, .fwd = add_fwd, .bwd = add_bwd, .size = {30, 30}, .nout = 30};
    cases[n++] = add;
    gcase drop = {.name = "dropout p=0.3", .nt = 1, .lo = -1, .hi = 1, .fwd = drop_fwd, .bwd = drop_bwd, .size = {40}, .nout = 40, .fa = 0.3f};
    cases[n++] = drop;
    gcase xent = {.name = "softmax xent (smooth, weights)", .nt = 1, .lo = -3, .hi = 3, .fwd = xent_fwd, .bwd = xent_bwd, .ia = 6, .fa = 0.1f};
    xent.d.oc = 5, xent.size[0] = 30, xent.nout = 1;
    cases[n++] = xent;
    for (int i = 0; i < n; i++) {
        double e = gradcheck(&cases[i], 1000 + i);
        if (e > 2e-3) fail_msg("%s: gradient differs from finite differences (max rel error %.3g)", cases[i].name, e);
    }
}

/* Known values: a 3x3 SAME conv of ones over a 3x3 image of ones counts the
 * in-bounds taps; a stride-2 SAME pad of a 4-wide input puts 0 on the left. */
static void test_conv_known_values(void **state)
{
    (void)state;
    reef_conv_dims d;
    reef_conv_dims_same(&d, 1, 3, 3, 1, 1, 3, 1);
    float in[9], w[9], out[9];
    for (int i = 0; i < 9; i++) in[i] = 1, w[i] = 1;
    reef_conv2d_forward(out, in, w, NULL, &d, scratch_buf);
    const float want[9] = {4, 6, 4, 6, 9, 6, 4, 6, 4};
    for (int i = 0; i < 9; i++) assert_float_equal(out[i], want[i], 1e-6);
    reef_conv_dims_same(&d, 1, 4, 4, 1, 1, 3, 2);
    assert_int_equal(d.oh, 2);
    assert_int_equal(d.pad_top, 0);  // total padding 1 goes to the bottom (TFLite)
    reef_conv_dims_same(&d, 1, 5, 5, 1, 1, 3, 2);
    assert_int_equal(d.oh, 3);
    assert_int_equal(d.pad_top, 1);
}

/* ---- the whole model ---------------------------------------------------------- */

static double model_loss(reef_model *m, const uint16_t *labels, int n, const reef_loss_cfg *cfg)
{
    reef_model_forward(m, n, REEF_MODE_TRAIN, 7);
    return reef_model_loss(m, labels, n, cfg);
}

/* The weights the gradient checks were tuned on (kept away from ReLU6
 * kinks for eps 2e-3), whatever reef's initialisation: normal, std
 * sqrt(2 / (OC k k)) for conv, sqrt(2 / (k k)) for depthwise, 0.01 for fc,
 * zero biases, drawn layer by layer from one generator. */
static void set_check_weights(reef_model *m, uint64_t seed)
{
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (int bi = 0; bi < m->nblocks; bi++)
        for (int li = 0; li < m->blocks[bi].nlayers; li++) {
            reef_layer *L = &m->blocks[bi].layers[li];
            const reef_conv_dims *d = &L->dims;
            if (!L->w) continue;
            const size_t nw = reef_layer_weight_count(L);
            const float std = L->kind == REEF_LAYER_CONV ? sqrtf(2.0f / (float)(d->oc * d->kh * d->kw))
                              : L->kind == REEF_LAYER_DWCONV ? sqrtf(2.0f / (float)(d->kh * d->kw))
                                                             : 0.01f;
            for (size_t i = 0; i < nw; i++) L->w[i] = std * reef_rng_normal(&rng);
            if (L->b) memset(L->b, 0, (size_t)d->oc * sizeof *L->b);
        }
}

static void check_model_gradients(const char *spec, int nthreads)
{
    reef_arch a;
    reef_error err;
    assert_int_equal(reef_arch_parse(spec, "test", &a, &err), 0);
    reef_model m;
    if (reef_model_build(&m, &a, 8, 8, 2, 3, 5, &err)) fail_msg("%s", err.msg);
    set_check_weights(&m, 5);
    const int n = 6;
    assert_int_equal(reef_model_set_batch(&m, n, nthreads, &err), 0);
    reef_rng rng;
    reef_rng_seed(&rng, 3);
    for (size_t i = 0; i < (size_t)n * 8 * 8 * 2; i++) m.input[i] = reef_rng_normal(&rng);
    // Nonzero BN betas keep ReLU6 inputs away from their kinks less often
    // than zero would; perturbations are small enough for the rest.
    for (int t = 0; t < m.nparam_tensors; t++)
        if (strstr(m.param_tensors[t].name, "beta"))
            for (size_t i = 0; i < m.param_tensors[t].n; i++) m.param_tensors[t].p[i] = 0.5f + 0.1f * reef_rng_normal(&rng);
    uint16_t labels[6] = {0, 1, 2, 1, 0, 2};
    float cw[3] = {1.0f, 2.0f, 0.5f};
    reef_loss_cfg cfg = {0.1f, cw};
    model_loss(&m, labels, n, &cfg);
    reef_model_backward(&m, labels, n, &cfg);
    float *analytic = malloc(m.nparams * sizeof(float));
    memcpy(analytic, m.grads, m.nparams * sizeof(float));
    const float eps = 2e-3f;
    double worst = 0;
    size_t worst_at = 0;
    int checked = 0;
    for (size_t i = 0; i < m.nparams; i += m.nparams / 150 + 1, checked++) {
        float keep = m.params[i];
        m.params[i] = keep + eps;
        double lp = model_loss(&m, labels, n, &cfg);
        m.params[i] = keep - eps;
        double lm = model_loss(&m, labels, n, &cfg);
        m.params[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        double e = fabs(num - analytic[i]) / fmax(0.05, fabs(num) + fabs(analytic[i]));
        if (e > worst) worst = e, worst_at = i;
    }
    printf("  model (%d threads): %d of %zu gradients, max rel error %.2e (param %zu)\n", nthreads, checked,
           m.nparams, worst, worst_at);
    assert_true(worst < 3e-2);
    free(analytic);
    reef_model_free(&m);
}

static const char *tiny_spec =
    "stem k3 s1 c4 relu6\n"
    "mbconv k3 e2 c4 s1 skip\n"   // residual
    "mbconv k3 e2 c6 s2\n"        // strided, padded depthwise
    "mbconv k5 e1 c6 s1 skip\n"
    "conv k1 c8 relu\n"
    "gap\n"
    "fc\n";

static void test_model_gradients(void **state)
{
    (void)state;
    check_model_gradients(tiny_spec, 1);
    check_model_gradients(tiny_spec, 2);
    check_model_gradients("stem k3 s1 c4\ndwconv k3 s2\navgpool k2\ndropout 0.2\nfc c5 relu\nfc", 2);
    check_model_gradients("conv k3 s1 c3 linear\navgpool k2 s2\ngap\nfc", 3);
    // depthwise vector paths (channels a multiple of 8): 5x5 stride 2, and a
    // residual block whose first layer adds to the skip's gradient
    check_model_gradients("stem k3 s1 c8 relu6\nmbconv k5 e2 c8 s2\nmbconv k3 e1 c8 s1 skip\ngap\nfc", 2);
}

/* Two threads and one give the same forward (up to summation order). */
static void test_threads_agree(void **state)
{
    (void)state;
    reef_arch a;
    reef_error err;
    assert_int_equal(reef_arch_parse(tiny_spec, "test", &a, &err), 0);
    reef_model m1, m2;
    assert_int_equal(reef_model_build(&m1, &a, 8, 8, 2, 3, 5, &err), 0);
    assert_int_equal(reef_model_build(&m2, &a, 8, 8, 2, 3, 5, &err), 0);
    assert_int_equal(reef_model_set_batch(&m1, 9, 1, &err), 0);
    assert_int_equal(reef_model_set_batch(&m2, 9, 2, &err), 0);
    for (int i = 0; i < 9 * 128; i++) m1.input[i] = m2.input[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
    reef_model_forward(&m1, 9, REEF_MODE_TRAIN, 1);
    reef_model_forward(&m2, 9, REEF_MODE_TRAIN, 1);
    for (int i = 0; i < 9 * 3; i++) assert_float_equal(m1.logits[i], m2.logits[i], 1e-4);
    reef_model_forward(&m1, 9, REEF_MODE_INFER, 0);
    reef_model_forward(&m2, 9, REEF_MODE_INFER, 0);
    for (int i = 0; i < 9 * 3; i++) assert_float_equal(m1.logits[i], m2.logits[i], 1e-5);
    reef_model_free(&m1);
    reef_model_free(&m2);
}

/* Initial weights are PyTorch's defaults (Conv2d and Linear
 * reset_parameters): uniform in +-1/sqrt(fan_in), weights and biases, so
 * reef and PyTorch train the same network from the same distribution
 * (bench/train/README.md: reef's earlier Kaiming normal with fan out cost
 * fish-s about half a point). Every value inside the bound, and each large
 * tensor's variance that of the uniform, bound^2 / 3. */
static void test_init_as_pytorch(void **state)
{
    (void)state;
    reef_arch a;
    reef_error err;
    assert_int_equal(reef_arch_resolve("fish-s", &a, &err), 0);
    reef_model m;
    assert_int_equal(reef_model_build(&m, &a, 32, 32, 1, 2, 1, &err), 0);
    int checked = 0, biases = 0;
    for (int bi = 0; bi < m.nblocks; bi++)
        for (int li = 0; li < m.blocks[bi].nlayers; li++) {
            const reef_layer *L = &m.blocks[bi].layers[li];
            const reef_conv_dims *d = &L->dims;
            if (!L->w) continue;
            const int fan_in = L->kind == REEF_LAYER_CONV ? d->c * d->kh * d->kw
                               : L->kind == REEF_LAYER_DWCONV ? d->kh * d->kw
                                                              : d->c;
            const size_t nw = reef_layer_weight_count(L);
            const double bound = 1.0 / sqrt((double)fan_in);
            double sumsq = 0;
            for (size_t i = 0; i < nw; i++) {
                assert_true(fabs(L->w[i]) <= bound * (1 + 1e-6));
                sumsq += (double)L->w[i] * L->w[i];
            }
            if (nw >= 500) {  // the variance within 15% of the uniform's (relative error ~ 0.9/sqrt(n) per sigma)
                const double var = sumsq / (double)nw, want = bound * bound / 3;
                if (fabs(var / want - 1) > 0.15) fail_msg("b%d.l%d: weight variance %g, want %g", bi, li, var, want);
                checked++;
            }
            if (L->b) {  // fc: PyTorch draws the bias from the same range, not zero
                double abssum = 0;
                for (int j = 0; j < d->oc; j++) {
                    assert_true(fabs(L->b[j]) <= bound * (1 + 1e-6));
                    abssum += fabs(L->b[j]);
                }
                assert_true(abssum > 0);
                biases++;
            }
        }
    assert_true(checked >= 10);
    assert_int_equal(biases, 1);
    reef_model_free(&m);
}

/* The pointwise GEMMs are fused multiply-adds in a fixed order, whatever
 * the optimization level: each output equals a scalar fmaf chain bit for
 * bit. (They were left to -ffp-contract, which GCC applies only at -O2 and
 * above: the -O1 sanitizer build summed differently from Release and
 * trained other weights, so its firmware builds missed the cache.) */
static void test_pw_fused_in_order(void **state)
{
    (void)state;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(REEF_NO_CLONES)
    if (!__builtin_cpu_supports("fma")) {
        print_message("no FMA on this CPU: the baseline clone's sums are not fused, nothing to check\n");
        return;
    }
#else
    print_message("no AVX2+FMA clones in this build (nn/hot.h), nothing to check\n");
    return;
#endif
    enum { ROWS = 15, C = 24, OC = 24 };  // 4-row tiles and single rows, 16- and 8-wide
    reef_conv_dims d = {.n = 1, .h = 3, .w = 5, .c = C, .oh = 3, .ow = 5, .oc = OC, .kh = 1, .kw = 1, .stride = 1};
    assert_true(reef_k_pw_fast(&d));
    static float inp[ROWS * C], w[OC * C], b[OC], out[ROWS * OC], scratch[C * OC];
    static float dout[ROWS * OC], dinp[ROWS * C], dw[OC * C], db[OC];
    reef_rng rng;
    reef_rng_seed(&rng, 5);
    for (int i = 0; i < ROWS * C; i++) inp[i] = 2.0f * reef_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < OC * C; i++) w[i] = 2.0f * reef_rng_uniform(&rng) - 1.0f, dw[i] = reef_rng_uniform(&rng);
    for (int i = 0; i < OC; i++) b[i] = reef_rng_uniform(&rng), db[i] = 0.0f;
    for (int i = 0; i < ROWS * OC; i++) dout[i] = 2.0f * reef_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < ROWS * C; i++) dinp[i] = reef_rng_uniform(&rng);
    float dw0[OC * C], dinp0[ROWS * C];
    memcpy(dw0, dw, sizeof dw), memcpy(dinp0, dinp, sizeof dinp);

    reef_k_pw_forward(out, inp, w, b, &d, scratch);
    reef_k_pw_backward(dinp, dw, db, dout, inp, w, &d, REEF_GRAD_ADD);
    int unfused = 0;  // outputs where a separately rounded a*b+c would differ
    for (int r = 0; r < ROWS; r++)
        for (int o = 0; o < OC; o++) {
            float want = b[o], plain = b[o];
            for (int k = 0; k < C; k++) {
                want = fmaf(inp[r * C + k], w[o * C + k], want);
                volatile float product = inp[r * C + k] * w[o * C + k];  // never contracted
                plain = plain + product;
            }
            assert_true(out[r * OC + o] == want);
            unfused += plain != want;
        }
    for (int r = 0; r < ROWS; r++)
        for (int k = 0; k < C; k++) {
            float want = dinp0[r * C + k];
            for (int o = 0; o < OC; o++) want = fmaf(dout[r * OC + o], w[o * C + k], want);
            assert_true(dinp[r * C + k] == want);
        }
    for (int o = 0; o < OC; o++)
        for (int k = 0; k < C; k++) {
            float sum = 0.0f;  // one chunk of rows (< 256) summed, then added
            for (int r = 0; r < ROWS; r++) sum = fmaf(dout[r * OC + o], inp[r * C + k], sum);
            assert_true(dw[o * C + k] == dw0[o * C + k] + sum);
        }
    assert_true(unfused > 0);  // the check can tell fused from unfused sums
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_known_values),
        cmocka_unit_test(test_layer_gradients),
        cmocka_unit_test(test_model_gradients),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_init_as_pytorch),
        cmocka_unit_test(test_pw_fused_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
