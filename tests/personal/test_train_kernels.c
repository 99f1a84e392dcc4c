/* The on-device training kernels (runtime/src/train_float.c) against the
 * host float training engine (src/nn/layers.c) on the same weights and
 * inputs: forward outputs and every gradient, layer by layer, within a
 * relative tolerance of 1e-4 of the largest magnitude (the two sum in
 * different orders; src/nn uses BLAS). Then a whole tail cut from an int8
 * model: its forward matches the int8 steps through requantization within
 * a few output steps, and its gradients match src/nn's chained layers. */
#include "testing.h"

#include <math.h>

#include "codegen/lower.h"
#include "nn/layers.h"
#include "personal/personal.h"
#include "reef/train.h"
#include "util/rng.h"

#define TOL 1e-4

static void fill(float *x, size_t n, reef_rng *rng, float scale)
{
    for (size_t i = 0; i < n; i++) x[i] = (reef_rng_uniform(rng) * 2.0f - 1.0f) * scale;
}

/* max |a - b| <= TOL * max(1, max |b|), printing the worst element. */
static void check_close(const float *a, const float *b, size_t n, const char *what)
{
    double worst = 0, peak = 1;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst) worst = d, at = i;
        if (fabs((double)b[i]) > peak) peak = fabs((double)b[i]);
    }
    if (worst > TOL * peak)
        fail_msg("%s: element %zu differs: %g vs %g (max diff %g, tolerance %g)", what, at, (double)a[at],
                 (double)b[at], worst, TOL * peak);
}

typedef struct conv_case {
    const char *name;
    int kind; /* REEF_TAIL_CONV or REEF_TAIL_DW_CONV */
    int h, w, c, oc, k, stride;
    int relu6;
} conv_case;

static const conv_case conv_cases[] = {
    {"conv 1x1", REEF_TAIL_CONV, 4, 4, 8, 12, 1, 1, 1},
    {"conv 1x1, blocks of 4 and edges", REEF_TAIL_CONV, 3, 3, 6, 7, 1, 1, 1},
    {"conv 3x3 same", REEF_TAIL_CONV, 5, 5, 3, 4, 3, 1, 1},
    {"conv 3x3 stride 2", REEF_TAIL_CONV, 6, 6, 3, 5, 3, 2, 0},
    {"dw 3x3 same", REEF_TAIL_DW_CONV, 5, 5, 6, 6, 3, 1, 1},
    {"dw 5x5 stride 2", REEF_TAIL_DW_CONV, 7, 7, 4, 4, 5, 2, 1},
    /* session 16: 3x3 stride 1 on maps up to 4x4 take the zero-bordered
     * block path (4 channels at a time); 6 channels stay on the tap grid */
    {"dw 3x3 on 4x4, bordered blocks", REEF_TAIL_DW_CONV, 4, 4, 8, 8, 3, 1, 1},
    {"dw 3x3 on 3x4, bordered blocks", REEF_TAIL_DW_CONV, 3, 4, 4, 4, 3, 1, 0},
    {"dw 3x3 on 4x4, 6 channels", REEF_TAIL_DW_CONV, 4, 4, 6, 6, 3, 1, 1},
    /* 8x2 blocks (16 pixels, K <= 32) and the gathered 4x4 blocks (K 40) */
    {"conv 1x1, 8x2 blocks", REEF_TAIL_CONV, 4, 4, 24, 10, 1, 1, 1},
    {"conv 1x1, gathered rows", REEF_TAIL_CONV, 4, 4, 40, 12, 1, 1, 0},
};

static void run_conv_case(const conv_case *cc)
{
    reef_conv_dims d;
    reef_conv_dims_same(&d, 1, cc->h, cc->w, cc->c, cc->oc, cc->k, cc->stride);
    reef_tail_layer L = {.kind = cc->kind, .in_h = cc->h, .in_w = cc->w, .in_c = cc->c, .out_h = d.oh, .out_w = d.ow,
                         .out_c = cc->oc, .kh = cc->k, .kw = cc->k, .stride = cc->stride, .pad_top = d.pad_top,
                         .pad_left = d.pad_left, .act_min = cc->relu6 ? 0.0f : -3e38f, .act_max = cc->relu6 ? 6.0f : 3e38f};
    size_t nin = (size_t)cc->h * cc->w * cc->c, nout = (size_t)d.oh * d.ow * cc->oc;
    size_t nw = cc->kind == REEF_TAIL_CONV ? (size_t)cc->oc * cc->k * cc->k * cc->c : (size_t)cc->k * cc->k * cc->oc;
    float *in = calloc(nin, 4), *w = calloc(nw, 4), *b = calloc((size_t)cc->oc, 4), *out = calloc(nout, 4),
          *ref = calloc(nout, 4), *dout = calloc(nout, 4), *dref = calloc(nout, 4), *dz = calloc(nout, 4),
          *din = calloc(nin, 4), *dinr = calloc(nin, 4), *dw = calloc(nw, 4), *dwr = calloc(nw, 4),
          *db = calloc((size_t)cc->oc, 4), *dbr = calloc((size_t)cc->oc, 4);
    float *scratch = calloc(reef_conv2d_scratch_floats(&d) + 1, 4);
    reef_rng rng;
    reef_rng_seed(&rng, 7);
    fill(in, nin, &rng, 3.0f), fill(w, nw, &rng, 1.0f), fill(b, (size_t)cc->oc, &rng, 1.0f), fill(dout, nout, &rng, 1.0f);
    memcpy(dref, dout, nout * 4);
    if (cc->kind == REEF_TAIL_CONV) {
        reef_tail_conv_forward(out, in, w, b, &L);
        reef_conv2d_forward(ref, in, w, b, &d, scratch);
    } else {
        reef_tail_dw_forward(out, in, w, b, &L);
        reef_dwconv2d_forward(ref, in, w, b, &d);
    }
    if (cc->relu6) reef_relu6_forward(ref, ref, nout);
    check_close(out, ref, nout, cc->name);
    /* src/nn: clamp backward into dz, then the layer */
    if (cc->relu6) reef_relu6_backward(dz, dref, ref, nout);
    else memcpy(dz, dref, nout * 4);
    if (cc->kind == REEF_TAIL_CONV) {
        reef_tail_conv_backward(din, dw, db, dout, out, in, w, &L);
        reef_conv2d_backward(dinr, dwr, dbr, dz, in, w, &d, scratch);
    } else {
        reef_tail_dw_backward(din, dw, db, dout, out, in, w, &L);
        reef_dwconv2d_backward(dinr, dwr, dbr, dz, in, w, &d);
    }
    check_close(din, dinr, nin, "dinp");
    if (cc->kind == REEF_TAIL_CONV) {
        /* frozen weights (no dw): the input gradient may take other blocks
         * (8x2 for weights in flash), the same sums: bit for bit */
        float *din2 = calloc(nin, 4);
        reef_tail_conv_backward(din2, NULL, NULL, dout, NULL, in, w, &L);
        assert_memory_equal(din2, din, nin * 4);
        free(din2);
    }
    check_close(dw, dwr, nw, "dw");
    check_close(db, dbr, (size_t)cc->oc, "db");
    free(in), free(w), free(b), free(out), free(ref), free(dout), free(dref), free(dz), free(din), free(dinr);
    free(dw), free(dwr), free(db), free(dbr), free(scratch);
}

static void test_conv_layers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) run_conv_case(&conv_cases[i]);
}

static void test_fc_gap_xent(void **state)
{
    (void)state;
    enum { HW = 9, C = 10, OUT = 3 };
    reef_tail_layer gap = {.kind = REEF_TAIL_GAP, .in_h = 3, .in_w = 3, .in_c = C, .out_h = 1, .out_w = 1, .out_c = C};
    reef_tail_layer fc = {.kind = REEF_TAIL_FC, .in_h = 1, .in_w = 1, .in_c = C, .out_h = 1, .out_w = 1, .out_c = OUT,
                          .act_min = -3e38f, .act_max = 3e38f};
    float x[HW * C], g[C], gr[C], w[OUT * C], b[OUT], logits[OUT], lr[OUT];
    reef_rng rng;
    reef_rng_seed(&rng, 3);
    fill(x, HW * C, &rng, 2.0f), fill(w, OUT * C, &rng, 1.0f), fill(b, OUT, &rng, 1.0f);
    reef_tail_gap_forward(g, x, &gap);
    reef_gap_forward(gr, x, 1, HW, C);
    check_close(g, gr, C, "gap forward");
    reef_tail_fc_forward(logits, g, w, b, &fc);
    reef_fc_forward(lr, gr, w, b, 1, C, OUT);
    check_close(logits, lr, OUT, "fc forward");
    /* loss and dlogits */
    float probs[OUT], loss_r, probs_r[OUT], dl[OUT], dlr[OUT] = {0};
    uint16_t label = 2;
    float loss = reef_train_softmax_xent(probs, logits, OUT, label);
    loss_r = (float)reef_softmax_xent_forward(&loss_r, probs_r, lr, &label, NULL, 0.0f, 1, OUT);
    assert_true(fabsf(loss - loss_r) <= 1e-5f * (1.0f + fabsf(loss_r)));
    check_close(probs, probs_r, OUT, "softmax");
    for (int k = 0; k < OUT; k++) dl[k] = probs[k] - (k == label ? 1.0f : 0.0f);
    reef_softmax_xent_backward(dlr, probs_r, &label, NULL, 0.0f, 1.0f, 1, OUT);
    check_close(dl, dlr, OUT, "dlogits");
    /* fc and gap backward */
    float dg[C] = {0}, dgr[C] = {0}, dw[OUT * C] = {0}, dwr[OUT * C] = {0}, db[OUT] = {0}, dbr[OUT] = {0};
    float dx[HW * C] = {0}, dxr[HW * C] = {0};
    reef_tail_fc_backward(dg, dw, db, dl, logits, g, w, &fc);
    reef_fc_backward(dgr, dwr, dbr, dlr, gr, w, 1, C, OUT);
    check_close(dg, dgr, C, "fc dinp"), check_close(dw, dwr, OUT * C, "fc dw"), check_close(db, dbr, OUT, "fc db");
    reef_tail_gap_backward(dx, dg, &gap);
    reef_gap_backward(dxr, dgr, 1, HW, C);
    check_close(dx, dxr, HW * C, "gap dinp");
}

static void test_expf(void **state)
{
    (void)state;
    double worst = 0;
    for (float x = -80.0f; x <= 80.0f; x += 0.0137f) {
        double want = exp((double)x), got = reef_train_expf(x);
        double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
    }
    printf("reef_train_expf: max relative error %.3g on [-80, 80]\n", worst);
    assert_true(worst < 4e-7);
}

/* An SGD step moves only trainable parameters, by -lr * (grad + anchor * (p - p0)). */
static void test_sgd_masks(void **state)
{
    (void)state;
    reef_tail_layer layers[2] = {
        {.kind = REEF_TAIL_GAP, .in_h = 1, .in_w = 1, .in_c = 2, .out_h = 1, .out_w = 1, .out_c = 2},
        {.kind = REEF_TAIL_FC, .in_h = 1, .in_w = 1, .in_c = 2, .out_h = 1, .out_w = 1, .out_c = 2, .w_at = 0,
         .b_at = 4, .tb_at = 0, .train = REEF_TRAIN_BIAS, .act_min = -3e38f, .act_max = 3e38f}};
    reef_tail t = {.nlayers = 2, .layers = layers, .in_count = 2, .in_scale = 1, .nclasses = 2, .param_count = 6,
                   .train_count = 2};
    float p[2] = {5, 6}, p0[6] = {1, 2, 3, 4, 4, 6}, g[2] = {1, 1};
    reef_tail_state s = {.params = p, .params0 = p0, .grads = g};
    reef_tail_hparams hp = {.lr = 0.5f, .anchor = 1.0f};
    reef_tail_sgd(&t, &s, &hp);
    assert_true(p[0] == 5.0f - 0.5f * (1.0f + 1.0f) && p[1] == 6.0f - 0.5f);
    assert_true(g[0] == 0 && g[1] == 0);
    assert_true(p0[4] == 4 && p0[5] == 6); /* the deployed copy never moves */
    reef_tail_reset(&t, &s);
    assert_true(p[0] == 4 && p[1] == 6);
}

/* A tail with a residual block: conv -> [conv -> conv -> ADD (the second
 * conv's input)] -> pool -> fully connected, every parameter trained, no
 * clamps (smooth). The backward's gradient of every parameter against
 * central differences of the loss: the first conv's gradient arrives both
 * through the block and through the skip. The loss is the cross-entropy,
 * and (session 16) the distillation mix at alpha 0.5, T 2 and alpha 1, T 1
 * towards a teacher's logits. */
static float residual_loss(const reef_tail *t, const float *p, const float *p0, const int8_t *x, float *acts,
                           const float *teacher, float alpha, float temperature)
{
    float dlogits[2];
    const float *logits = reef_tail_forward(t, p, p0, x, acts);
    return reef_train_distill_xent(dlogits, logits, teacher, 2, 1, alpha, temperature, 1.0f);
}

#define PW(cin, cout) .kind = REEF_TAIL_CONV, .in_h = 2, .in_w = 2, .in_c = cin, .out_h = 2, .out_w = 2, .out_c = cout, \
                      .kh = 1, .kw = 1, .stride = 1, .act_min = -3e38f, .act_max = 3e38f, .train = 3

static void test_residual_gradients(void **state)
{
    (void)state;
    enum { NP = 58, NA = 106 };
    reef_tail_layer layers[6] = {
        {PW(3, 3), .w_at = 0, .b_at = 9, .tw_at = 0, .tb_at = 9, .save_at = 0, .mask_at = 61},
        {PW(3, 5), .w_at = 12, .b_at = 27, .tw_at = 12, .tb_at = 27, .save_at = 12, .mask_at = 62, .keep_input = 1},
        {PW(5, 3), .w_at = 32, .b_at = 47, .tw_at = 32, .tb_at = 47, .save_at = 24, .mask_at = 63},
        {.kind = REEF_TAIL_ADD, .in_h = 2, .in_w = 2, .in_c = 3, .out_h = 2, .out_w = 2, .out_c = 3, .act_min = -3e38f,
         .act_max = 3e38f, .mask_at = 64, .skip_from = 1, .dskip_at = 44},
        {.kind = REEF_TAIL_GAP, .in_h = 2, .in_w = 2, .in_c = 3, .out_h = 1, .out_w = 1, .out_c = 3},
        {.kind = REEF_TAIL_FC, .in_h = 1, .in_w = 1, .in_c = 3, .out_h = 1, .out_w = 1, .out_c = 2, .act_min = -3e38f,
         .act_max = 3e38f, .w_at = 50, .b_at = 56, .tw_at = 50, .tb_at = 56, .save_at = 56, .mask_at = 65, .train = 3},
    };
    reef_tail t = {.nlayers = 6, .layers = layers, .in_count = 12, .in_scale = 0.05f, .in_zero_point = 3,
                   .nclasses = 2, .param_count = NP, .train_count = NP, .act_count = NA, .delta_count = 20,
                   .logits_at = 59, .ping_at = 66};
    float p0[NP], p[NP], grads[NP] = {0}, acts[NA];
    int8_t x[12];
    reef_rng rng;
    reef_rng_seed(&rng, 5);
    fill(p0, NP, &rng, 0.8f);
    memcpy(p, p0, sizeof p);
    for (int i = 0; i < 12; i++) x[i] = (int8_t)((int)reef_rng_below(&rng, 200) - 100);
    reef_tail_state s = {.params = p, .params0 = p0, .grads = grads, .acts = acts, .delta_a = acts + 66,
                         .delta_b = acts + 86};
    static const float teacher[2] = {1.5f, -0.75f}, alphas[3] = {0.0f, 0.5f, 1.0f}, temps[3] = {1.0f, 2.0f, 1.0f};
    for (int c = 0; c < 3; c++) {
        reef_tail_forward(&t, p, p0, x, acts);
        if (c == 0) reef_tail_backward(&t, &s, 1, 1.0f);
        else reef_tail_backward_distill(&t, &s, 1, teacher, alphas[c], temps[c], 1.0f);
        double worst = 0;
        for (int i = 0; i < NP; i++) {
            const float h = 1e-2f, keep = p[i];
            p[i] = keep + h;
            double up = residual_loss(&t, p, p0, x, acts, teacher, alphas[c], temps[c]);
            p[i] = keep - h;
            double down = residual_loss(&t, p, p0, x, acts, teacher, alphas[c], temps[c]);
            p[i] = keep;
            double numeric = (up - down) / (2.0 * h), d = fabs(numeric - grads[i]);
            if (d > worst) worst = d;
            if (d > 2e-3 + 2e-2 * fabs(numeric))
                fail_msg("alpha %g T %g parameter %d: backward %g, central difference %g", (double)alphas[c],
                         (double)temps[c], i, (double)grads[i], numeric);
            grads[i] = 0.0f;
        }
        printf("residual tail, alpha %g T %g: worst |backward - central difference| %.3g over %d parameters\n",
               (double)alphas[c], (double)temps[c], worst, NP);
    }
}

/* Session 16, distillation on replay: the loss of reef_train_distill_xent
 * in double, from its definition (1 - a) CE(onehot, softmax(z)) +
 * a T^2 CE(softmax(t / T), softmax(z / T)). */
static double distill_loss_ref(const double *z, const float *teacher, int n, int label, double alpha, double T)
{
    double zmax = z[0], tmax = teacher[0], zsum = 0, tsum = 0, zsum_t = 0, soft = 0;
    for (int k = 1; k < n; k++) zmax = z[k] > zmax ? z[k] : zmax, tmax = teacher[k] > tmax ? teacher[k] : tmax;
    for (int k = 0; k < n; k++) {
        zsum += exp(z[k] - zmax);
        zsum_t += exp((z[k] - zmax) / T);
        tsum += exp((teacher[k] - tmax) / T);
    }
    for (int k = 0; k < n; k++)
        soft -= exp((teacher[k] - tmax) / T) / tsum * ((z[k] - zmax) / T - log(zsum_t));
    return (1 - alpha) * -(z[label] - zmax - log(zsum)) + alpha * T * T * soft;
}

/* The distillation loss's gradient at the logits against central
 * differences of its definition (double), for alpha 0, 1 and between and
 * T 1, 2 and 3.5, 2 and 3 classes, at 40 random points each (8 under
 * the sanitizers); the loss it
 * reports against the definition; alpha 0 (and no teacher) the plain
 * cross-entropy's bits; alpha 1 at the teacher's own logits a zero
 * gradient. */
static void test_distill_gradient(void **state)
{
    (void)state;
    static const float alphas[] = {0.0f, 0.25f, 0.5f, 1.0f}, temps[] = {1.0f, 2.0f, 3.5f};
    reef_rng rng;
    reef_rng_seed(&rng, 16);
    double worst = 0;
    const int trials = testing_sanitizer_run() ? 8 : 40; /* under the sanitizers: fewer points, every case */
    for (int n = 2; n <= 3; n++)
        for (size_t a = 0; a < sizeof alphas / sizeof alphas[0]; a++)
            for (size_t ti = 0; ti < sizeof temps / sizeof temps[0]; ti++)
                for (int trial = 0; trial < trials; trial++) {
                    float z[3], teacher[3], dz[3], plain[3], scale = 0.125f;
                    fill(z, (size_t)n, &rng, 4.0f), fill(teacher, (size_t)n, &rng, 4.0f);
                    int label = (int)reef_rng_below(&rng, (uint32_t)n);
                    float loss = reef_train_distill_xent(dz, z, teacher, n, label, alphas[a], temps[ti], scale);
                    double zd[3], want = distill_loss_ref((zd[0] = z[0], zd[1] = z[1], zd[2] = z[2], zd), teacher, n,
                                                          label, alphas[a], temps[ti]);
                    if (fabs(loss - want) > 1e-5 * (1 + fabs(want)))
                        fail_msg("alpha %g T %g: loss %g, definition %g", (double)alphas[a], (double)temps[ti],
                                 (double)loss, want);
                    for (int k = 0; k < n; k++) {
                        const double h = 1e-5;
                        double keep = zd[k], up, down;
                        zd[k] = keep + h, up = distill_loss_ref(zd, teacher, n, label, alphas[a], temps[ti]);
                        zd[k] = keep - h, down = distill_loss_ref(zd, teacher, n, label, alphas[a], temps[ti]);
                        zd[k] = keep;
                        double numeric = scale * (up - down) / (2 * h), d = fabs(numeric - dz[k]);
                        worst = d > worst ? d : worst;
                        if (d > 1e-5 + 1e-4 * fabs(numeric))
                            fail_msg("alpha %g T %g logit %d: gradient %g, central difference %g", (double)alphas[a],
                                     (double)temps[ti], k, (double)dz[k], numeric);
                    }
                    if (alphas[a] == 0.0f) { /* the plain cross-entropy, bit for bit */
                        float probs[3], l0 = reef_train_softmax_xent(probs, z, n, label);
                        for (int k = 0; k < n; k++) plain[k] = scale * (probs[k] - (k == label ? 1.0f : 0.0f));
                        assert_memory_equal(dz, plain, (size_t)n * sizeof dz[0]);
                        assert_true(loss == l0);
                    }
                    if (alphas[a] == 1.0f) { /* at the teacher's logits nothing moves */
                        reef_train_distill_xent(dz, teacher, teacher, n, label, 1.0f, temps[ti], scale);
                        for (int k = 0; k < n; k++) assert_true(dz[k] == 0.0f);
                    }
                }
    float z[2] = {0.3f, -1.2f}, a[2], b[2];
    reef_train_distill_xent(a, z, NULL, 2, 1, 0.5f, 2.0f, 1.0f); /* no teacher: hard label */
    reef_train_distill_xent(b, z, z, 2, 1, 0.0f, 2.0f, 1.0f);
    assert_memory_equal(a, b, sizeof a);
    printf("distillation: worst |gradient - central difference| %.3g\n", worst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_layers),
        cmocka_unit_test(test_fc_gap_xent),
        cmocka_unit_test(test_expf),
        cmocka_unit_test(test_sgd_masks),
        cmocka_unit_test(test_residual_gradients),
        cmocka_unit_test(test_distill_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
