/* The float build's lowering and kernels on the ops the tiny model of the
 * other tests does not reach: depthwise with multiplier 2 and SAME padding,
 * CONV_2D with ReLU6, MAX_POOL_2D with uneven SAME padding, MEAN over H and W, then a fully
 * connected layer - against a plain double-precision reference written
 * here (tolerance, maxdiff printed); a conv whose 6 output channels take
 * both the 4-channel and the single-channel paths. Also: unsupported ops are refused, all
 * listed at once. */
#include "testing.h"

#include <float.h>
#include <math.h>

#include "codegen/lower_float.h"
#include "tflite/graph.h"
#include "util/rng.h"

enum { H = 5, W = 5, C = 2, M = 2, OC = C * M, CO = 6, PH = 3, PW = 3, NOUT = 3 };

typedef struct fdata {
    float in[H * W * C];   /* (1, H, W, C) */
    float dw[3 * 3 * OC];  /* (1, 3, 3, OC) */
    float dwb[OC];
    float cw[CO * 3 * 3 * OC]; /* (CO, 3, 3, OC) */
    float cb[CO];
    float fc[NOUT * CO];   /* (NOUT, CO) */
    float fcb[NOUT];
} fdata;

static void fill(fdata *d)
{
    reef_rng r;
    reef_rng_seed(&r, 3);
    float *all = (float *)d;
    for (size_t i = 0; i < sizeof *d / sizeof(float); i++) all[i] = reef_rng_uniform(&r) * 2.0f - 1.0f;
}

static int add(reef_graph *g, const char *name, int rank, const int32_t *shape, const void *data, size_t bytes,
               reef_dtype type)
{
    reef_error err;
    int t = reef_graph_add_tensor(g, name, type, rank, shape, &err);
    if (t < 0 || (data && reef_graph_set_data(g, t, data, bytes, &err))) fail_msg("%s", err.msg);
    return t;
}

static void build(reef_graph *g, const fdata *d)
{
    reef_error err;
    static const int32_t s_in[4] = {1, H, W, C}, s_dw[4] = {1, 3, 3, OC}, s_oc[1] = {OC}, s_a[4] = {1, H, W, OC},
                         s_p[4] = {1, PH, PW, CO}, s_m[4] = {1, 1, 1, CO}, s_ax[1] = {2}, s_fc[2] = {NOUT, CO},
                         s_cw[4] = {CO, 3, 3, OC}, s_co[1] = {CO}, s_c[4] = {1, H, W, CO},
                         s_nb[1] = {NOUT}, s_out[2] = {1, NOUT};
    static const int32_t axes[2] = {1, 2};
    if (reef_graph_init(g, "float_ops", &err)) fail_msg("%s", err.msg);
    int in = add(g, "in", 4, s_in, NULL, 0, REEF_FLOAT32);
    int w = add(g, "dw.w", 4, s_dw, d->dw, sizeof d->dw, REEF_FLOAT32);
    int b = add(g, "dw.b", 1, s_oc, d->dwb, sizeof d->dwb, REEF_FLOAT32);
    int a = add(g, "a", 4, s_a, NULL, 0, REEF_FLOAT32);
    int cw = add(g, "conv.w", 4, s_cw, d->cw, sizeof d->cw, REEF_FLOAT32);
    int cb = add(g, "conv.b", 1, s_co, d->cb, sizeof d->cb, REEF_FLOAT32);
    int cv = add(g, "conv", 4, s_c, NULL, 0, REEF_FLOAT32);
    int p = add(g, "p", 4, s_p, NULL, 0, REEF_FLOAT32);
    int ax = add(g, "axes", 1, s_ax, axes, sizeof axes, REEF_INT32);
    int mn = add(g, "mean", 4, s_m, NULL, 0, REEF_FLOAT32);
    int fw = add(g, "fc.w", 2, s_fc, d->fc, sizeof d->fc, REEF_FLOAT32);
    int fb = add(g, "fc.b", 1, s_nb, d->fcb, sizeof d->fcb, REEF_FLOAT32);
    int out = add(g, "out", 2, s_out, NULL, 0, REEF_FLOAT32);
    reef_op_options o;
    reef_op_options_init(&o);
    o.depth_multiplier = M, o.activation = REEF_ACT_RELU;
    int32_t i1[3] = {in, w, b}, o1[1] = {a};
    int rc = reef_graph_add_op(g, REEF_OP_DEPTHWISE_CONV_2D, i1, 3, o1, 1, &o, &err) < 0;
    reef_op_options_init(&o);
    o.activation = REEF_ACT_RELU6;
    int32_t i5[3] = {a, cw, cb}, o5[1] = {cv};
    rc = rc || reef_graph_add_op(g, REEF_OP_CONV_2D, i5, 3, o5, 1, &o, &err) < 0;
    reef_op_options_init(&o);
    o.filter_h = o.filter_w = 2, o.stride_h = o.stride_w = 2;
    int32_t i2[1] = {cv}, o2[1] = {p};
    rc = rc || reef_graph_add_op(g, REEF_OP_MAX_POOL_2D, i2, 1, o2, 1, &o, &err) < 0;
    reef_op_options_init(&o);
    o.keep_dims = 1;
    int32_t i3[2] = {p, ax}, o3[1] = {mn};
    rc = rc || reef_graph_add_op(g, REEF_OP_MEAN, i3, 2, o3, 1, &o, &err) < 0;
    int32_t i4[3] = {mn, fw, fb}, o4[1] = {out};
    rc = rc || reef_graph_add_op(g, REEF_OP_FULLY_CONNECTED, i4, 3, o4, 1, NULL, &err) < 0;
    rc = rc || reef_graph_set_io(g, &in, 1, &out, 1, &err);
    if (rc) fail_msg("%s", err.msg);
}

/* The same network in double precision, loops as the definitions read. */
static void reference(const fdata *d, double out[NOUT])
{
    double act[H][W][OC], conv[H][W][CO], pool[PH][PW][CO], mean[CO];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int oc = 0; oc < OC; oc++) {
                double s = d->dwb[oc];
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int iy = y + ky - 1, ix = x + kx - 1; /* SAME, k3 s1: one row/column of zeros */
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                            s += (double)d->in[(iy * W + ix) * C + oc / M] * d->dw[(ky * 3 + kx) * OC + oc];
                    }
                act[y][x][oc] = s > 0 ? s : 0;
            }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int o = 0; o < CO; o++) {
                double s = d->cb[o];
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        for (int c = 0; c < OC; c++) {
                            int iy = y + ky - 1, ix = x + kx - 1;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                s += act[iy][ix][c] * d->cw[((o * 3 + ky) * 3 + kx) * OC + c];
                        }
                conv[y][x][o] = fmin(fmax(s, 0), 6);
            }
    /* 2x2 stride 2 SAME on 5: 3 outputs, padding 0 before and 1 after */
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++)
            for (int c = 0; c < CO; c++) {
                double m = -DBL_MAX;
                for (int ky = 0; ky < 2; ky++)
                    for (int kx = 0; kx < 2; kx++)
                        if (2 * y + ky < H && 2 * x + kx < W) m = fmax(m, conv[2 * y + ky][2 * x + kx][c]);
                pool[y][x][c] = m;
            }
    for (int c = 0; c < CO; c++) {
        mean[c] = 0;
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) mean[c] += pool[y][x][c] / (PH * PW);
    }
    for (int o = 0; o < NOUT; o++) {
        out[o] = d->fcb[o];
        for (int c = 0; c < CO; c++) out[o] += mean[c] * d->fc[o * CO + c];
    }
}

static void test_float_ops_vs_reference(void **state)
{
    (void)state;
    fdata d;
    reef_graph g;
    reef_float_model m;
    reef_error err;
    double want[NOUT], maxdiff = 0;
    float got[NOUT];
    fill(&d);
    build(&g, &d);
    if (reef_lower_float(&g, &m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
    assert_int_equal(m.nsteps, 5);
    assert_int_equal(m.steps[2].args.maxpool.padding.h, 0);
    assert_int_equal(m.steps[0].args.dw_conv.padding.h, 1);
    assert_int_equal(reef_float_invoke(&m, d.in, got), 0);
    reference(&d, want);
    for (int o = 0; o < NOUT; o++) maxdiff = fmax(maxdiff, fabs(got[o] - want[o]));
    printf("float depthwise/maxpool/mean/fc vs double reference: maxdiff %.3g (outputs %.5f %.5f %.5f)\n", maxdiff,
           (double)got[0], (double)got[1], (double)got[2]);
    assert_true(maxdiff < 1e-5);
    assert_true(fabs(want[0]) + fabs(want[1]) + fabs(want[2]) > 1e-3); /* not trivially zero */
    assert_int_equal(m.macs, (int64_t)H * W * OC * 9 + (int64_t)H * W * CO * 9 * OC + NOUT * CO);
    reef_float_model_free(&m);
}

static void test_unsupported_ops_listed(void **state)
{
    (void)state;
    reef_graph g;
    reef_float_model m;
    reef_error err;
    static const int32_t s[2] = {1, 4};
    if (reef_graph_init(&g, "bad", &err)) fail_msg("%s", err.msg);
    int a = add(&g, "a", 2, s, NULL, 0, REEF_FLOAT32), b = add(&g, "b", 2, s, NULL, 0, REEF_FLOAT32);
    int c = add(&g, "c", 2, s, NULL, 0, REEF_FLOAT32);
    int32_t i1[1] = {a}, o1[1] = {b}, i2[1] = {b}, o2[1] = {c};
    if (reef_graph_add_op(&g, REEF_OP_LOGISTIC, i1, 1, o1, 1, NULL, &err) < 0 ||
        reef_graph_add_op(&g, REEF_OP_SOFTMAX, i2, 1, o2, 1, NULL, &err) < 0 || reef_graph_set_io(&g, &a, 1, &c, 1, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(reef_lower_float(&g, &m, &err), -1);
    printf("refused: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "2 operator(s)"));
    assert_non_null(strstr(err.msg, "op 0 LOGISTIC"));
    assert_non_null(strstr(err.msg, "op 1 SOFTMAX"));
    reef_float_model_free(&m); /* empty after a failure: harmless */
    reef_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_ops_vs_reference),
        cmocka_unit_test(test_unsupported_ops_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
