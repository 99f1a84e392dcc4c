/* The int8 training kernels (runtime/src/train_int8.c, scheme a) against
 * the deployed int8 kernel and the host float training engine (src/nn):
 *  - the forward is the deployed FULLY_CONNECTED, per-channel, bit for bit;
 *  - two int8 layers chained (the second's input is the first's int8
 *    output, through requantization): every gradient, mapped to real units
 *    (d q_w = s_w dL/dW, d bias_q = s_x s_w dL/db, d q_x = s_x dL/dx),
 *    matches src/nn's reef_fc_backward on the dequantized weights and
 *    activations with the same clamp masks (the straight-through
 *    estimator), within 1e-4 of the largest magnitude, layer by layer;
 *  - a depthwise 3x3 (stride 1 and 2, clamped): the same two checks;
 *  - the QAS step moves the dequantized weights by the real SGD step, to
 *    within half a quantization step. */
#include "testing.h"

#include <math.h>

#include "codegen/qparams.h"
#include "nn/layers.h"
#include "reef/dw_conv.h"
#include "reef/fc.h"
#include "reef/train_int8.h"
#include "util/rng.h"

#define TOL 1e-4
enum { ROWS = 6, C0 = 10, C1 = 7, C2 = 3 };

static void check_close(const float *a, const float *b, size_t n, const char *what)
{
    double worst = 0, peak = 1e-30;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst) worst = d, at = i;
        if (fabs((double)b[i]) > peak) peak = fabs((double)b[i]);
    }
    printf("%-28s max diff %.3g of peak %.3g\n", what, worst, peak);
    if (worst > TOL * peak)
        fail_msg("%s: element %zu differs: %g vs %g (max diff %g, tolerance %g)", what, at, (double)a[at],
                 (double)b[at], worst, TOL * peak);
}

typedef struct qlayer {
    reef_q_layer L;
    int32_t mult[8], bias[8];
    int8_t shift[8];
    float w_scale[8], out_scale;
    int32_t out_zp;
    int8_t w[8 * C0];
} qlayer;

static void make_layer(qlayer *q, reef_rng *rng, int in_c, int out_c, float in_scale, int32_t in_zp,
                       float out_scale, int32_t out_zp, int relu)
{
    memset(q, 0, sizeof *q);
    q->out_scale = out_scale;
    q->out_zp = out_zp;
    for (int o = 0; o < out_c; o++) {
        q->w_scale[o] = 0.01f * (1.0f + 0.15f * (float)o);
        int32_t shift;
        reef_quantize_multiplier((double)in_scale * q->w_scale[o] / out_scale, &q->mult[o], &shift);
        q->shift[o] = (int8_t)shift;
        q->bias[o] = (int32_t)(reef_rng_below(rng, 4001)) - 2000;
        for (int i = 0; i < in_c; i++) q->w[o * in_c + i] = (int8_t)((int)reef_rng_below(rng, 255) - 127);
    }
    reef_q_layer L = {.rows = ROWS, .in_c = in_c, .out_c = out_c, .input_offset = -in_zp, .output_offset = out_zp,
                      .act_min = relu ? out_zp : -128, .act_max = 127, .multiplier = q->mult, .shift = q->shift,
                      .in_scale = in_scale, .w_scale = q->w_scale};
    q->L = L;
}

/* The deployed kernel's output for the same layer. */
static void deployed(const qlayer *q, const int8_t *x, int8_t *y)
{
    const reef_q_layer *L = &q->L;
    reef_fc_params fp = {.input_offset = L->input_offset, .filter_offset = 0, .output_offset = L->output_offset,
                         .activation = {L->act_min, L->act_max}};
    reef_per_channel_quant pq = {q->mult, q->shift};
    reef_dims in = {ROWS, 1, 1, L->in_c}, fd = {L->out_c, 1, 1, L->in_c}, out = {ROWS, 1, 1, L->out_c};
    static int8_t buf[4096];
    reef_context ctx = {buf, reef_fc_s8_get_buffer_size(&fd)};
    assert_true(ctx.size <= (int32_t)sizeof buf);
    assert_int_equal(reef_fc_per_channel_s8(&ctx, &fp, &pq, &in, x, &fd, q->w, q->bias, &out, y), REEF_OK);
}

/* Real-valued copies: W = s_w q_w, b = s_x s_w bias_q, x = s_x (q_x - zp). */
static void dequant_layer(const qlayer *q, float *w, float *b)
{
    for (int o = 0; o < q->L.out_c; o++) {
        b[o] = q->L.in_scale * q->w_scale[o] * (float)q->bias[o];
        for (int i = 0; i < q->L.in_c; i++) w[o * q->L.in_c + i] = q->w_scale[o] * (float)q->w[o * q->L.in_c + i];
    }
}

static void dequant_act(const int8_t *x, int n, float scale, int32_t zp, float *out)
{
    for (int i = 0; i < n; i++) out[i] = scale * (float)((int32_t)x[i] - zp);
}

static void test_chain_against_nn(void **state)
{
    (void)state;
    reef_rng rng;
    reef_rng_seed(&rng, 12);
    const float s0 = 0.05f, s1 = 0.08f, s2 = 0.1f;
    const int32_t zp0 = -5, zp1 = -128, zp2 = 4;
    qlayer a, b;
    make_layer(&a, &rng, C0, C1, s0, zp0, s1, zp1, 1); /* ReLU: clamps at zp1 */
    make_layer(&b, &rng, C1, C2, s1, zp1, s2, zp2, 0);
    int8_t x0[ROWS * C0], x1[ROWS * C1], x2[ROWS * C2], ref1[ROWS * C1], ref2[ROWS * C2];
    for (int i = 0; i < ROWS * C0; i++) x0[i] = (int8_t)((int)reef_rng_below(&rng, 256) - 128);
    reef_q_fc_forward(&a.L, x0, a.w, a.bias, x1);
    reef_q_fc_forward(&b.L, x1, b.w, b.bias, x2);
    deployed(&a, x0, ref1);
    deployed(&b, x1, ref2);
    assert_memory_equal(x1, ref1, sizeof x1); /* forward exactly as deployed */
    assert_memory_equal(x2, ref2, sizeof x2);
    int clamped = 0;
    for (int i = 0; i < ROWS * C1; i++) clamped += x1[i] == a.L.act_min;
    printf("layer 1: %d of %d outputs clamped\n", clamped, ROWS * C1);
    assert_true(clamped > 0 && clamped < ROWS * C1); /* the mask is exercised */

    /* int8 backward from dL/dq_y2 */
    float dy2[ROWS * C2], dacc2[ROWS * C2], dx1[ROWS * C1], dacc1[ROWS * C1], dx0[ROWS * C0];
    float dw2[C2 * C1] = {0}, db2[C2] = {0}, dw1[C1 * C0] = {0}, db1[C1] = {0};
    for (int i = 0; i < ROWS * C2; i++) dy2[i] = reef_rng_uniform(&rng) * 2.0f - 1.0f;
    reef_q_fc_backward(&b.L, x1, b.w, x2, dy2, dacc2, dx1, dw2, db2);
    reef_q_fc_backward(&a.L, x0, a.w, x1, dx1, dacc1, dx0, dw1, db1);

    /* src/nn on the real values, the same masks (straight-through) */
    float f0[ROWS * C0], f1[ROWS * C1], W1[C1 * C0], B1[C1], W2[C2 * C1], B2[C2];
    float g2[ROWS * C2], g1[ROWS * C1] = {0}, g0[ROWS * C0] = {0}, gW1[C1 * C0] = {0}, gB1[C1] = {0};
    float gW2[C2 * C1] = {0}, gB2[C2] = {0}; /* src/nn may accumulate */
    dequant_act(x0, ROWS * C0, s0, zp0, f0);
    dequant_act(x1, ROWS * C1, s1, zp1, f1);
    dequant_layer(&a, W1, B1);
    dequant_layer(&b, W2, B2);
    int saturated = 0;
    for (int i = 0; i < ROWS * C2; i++) { /* dL/dy = dL/dq_y / s_y; saturated int8 outputs pass nothing */
        int sat = x2[i] == b.L.act_min || x2[i] == b.L.act_max;
        g2[i] = sat ? 0.0f : dy2[i] / s2;
        saturated += sat;
    }
    printf("layer 2: %d of %d outputs saturated\n", saturated, ROWS * C2);
    assert_true(saturated < ROWS * C2);
    reef_fc_backward(g1, gW2, gB2, g2, f1, W2, ROWS, C1, C2);
    float g1u[ROWS * C1]; /* before layer 1's clamp mask */
    memcpy(g1u, g1, sizeof g1u);
    for (int i = 0; i < ROWS * C1; i++)
        if (x1[i] == a.L.act_min || x1[i] == a.L.act_max) g1[i] = 0.0f;
    reef_fc_backward(g0, gW1, gB1, g1, f0, W1, ROWS, C0, C1);

    /* map the int8 gradients to real units */
    float rW2[C2 * C1], rB2[C2], rx1[ROWS * C1], rW1[C1 * C0], rB1[C1], rx0[ROWS * C0];
    for (int o = 0; o < C2; o++) {
        rB2[o] = db2[o] / (s1 * b.w_scale[o]);
        for (int i = 0; i < C1; i++) rW2[o * C1 + i] = dw2[o * C1 + i] / b.w_scale[o];
    }
    for (int o = 0; o < C1; o++) {
        rB1[o] = db1[o] / (s0 * a.w_scale[o]);
        for (int i = 0; i < C0; i++) rW1[o * C0 + i] = dw1[o * C0 + i] / a.w_scale[o];
    }
    for (int i = 0; i < ROWS * C1; i++) rx1[i] = dx1[i] / s1;
    for (int i = 0; i < ROWS * C0; i++) rx0[i] = dx0[i] / s0;
    check_close(rW2, gW2, C2 * C1, "layer 2 dW");
    check_close(rB2, gB2, C2, "layer 2 db");
    check_close(rx1, g1u, ROWS * C1, "layer 2 dx");
    check_close(rW1, gW1, C1 * C0, "layer 1 dW (through requant)");
    check_close(rB1, gB1, C1, "layer 1 db (through requant)");
    check_close(rx0, g0, ROWS * C0, "layer 1 dx");
}

static void test_qas_step(void **state)
{
    (void)state;
    reef_rng rng;
    reef_rng_seed(&rng, 5);
    qlayer a;
    make_layer(&a, &rng, C0, C1, 0.05f, 0, 0.08f, 0, 0);
    float W[C1 * C0], B[C1], dW[C1 * C0], dB[C1];
    dequant_layer(&a, W, B);
    const float lr = 0.5f;
    for (int k = 0; k < C1 * C0; k++) dW[k] = (reef_rng_uniform(&rng) * 2.0f - 1.0f) * 0.05f; /* int8 units */
    for (int o = 0; o < C1; o++) dB[o] = (reef_rng_uniform(&rng) * 2.0f - 1.0f) * 1e-4f;
    float want_w[C1 * C0], want_b[C1];
    for (int o = 0; o < C1; o++) {
        float sw = a.w_scale[o], sb = 0.05f * sw;
        want_b[o] = B[o] - lr * dB[o] / sb; /* real SGD: dL/db = d bias_q / (s_x s_w) */
        for (int i = 0; i < C0; i++) want_w[o * C0 + i] = W[o * C0 + i] - lr * dW[o * C0 + i] / sw;
    }
    int moved = 0;
    int8_t before[C1 * C0];
    memcpy(before, a.w, sizeof before);
    reef_q_fc_sgd(&a.L, lr, a.w, dW, a.bias, dB);
    dequant_layer(&a, W, B);
    for (int o = 0; o < C1; o++) {
        float sw = a.w_scale[o], sb = 0.05f * sw;
        for (int i = 0; i < C0; i++) {
            int k = o * C0 + i;
            float want = want_w[k] > 127 * sw ? 127 * sw : want_w[k] < -127 * sw ? -127 * sw : want_w[k];
            assert_true(fabsf(W[k] - want) <= 0.5f * sw * 1.0001f);
            moved += a.w[k] != before[k];
            assert_true(dW[k] == 0.0f);
        }
        assert_true(fabsf(B[o] - want_b[o]) <= 0.5f * sb * 1.0001f);
    }
    printf("QAS step: %d of %d int8 weights moved\n", moved, C1 * C0);
    assert_true(moved > 0);
}

/* Depthwise 3x3 (SAME, stride 1 and 2, a ReLU clamp): forward as the
 * deployed kernel, gradients against src/nn's depthwise backward. */
static void run_dw_case(int stride)
{
    enum { H = 5, W = 5, C = 6, K = 3 };
    reef_rng rng;
    reef_rng_seed(&rng, 20 + (uint64_t)stride);
    reef_conv_dims d;
    reef_conv_dims_same(&d, 1, H, W, C, C, K, stride);
    const float sx = 0.04f, sy = 0.05f;
    const int32_t zpx = 3, zpy = -128;
    int32_t mult[C], bias[C];
    int8_t shift[C];
    float w_scale[C];
    int8_t qw[K * K * C], qx[H * W * C], qy[H * W * C], ref[H * W * C];
    for (int ch = 0; ch < C; ch++) {
        w_scale[ch] = 0.02f * (1.0f + 0.2f * (float)ch);
        int32_t sh;
        reef_quantize_multiplier((double)sx * w_scale[ch] / sy, &mult[ch], &sh);
        shift[ch] = (int8_t)sh;
        bias[ch] = (int32_t)reef_rng_below(&rng, 2001) - 1000;
    }
    for (int i = 0; i < K * K * C; i++) qw[i] = (int8_t)((int)reef_rng_below(&rng, 255) - 127);
    for (int i = 0; i < H * W * C; i++) qx[i] = (int8_t)((int)reef_rng_below(&rng, 256) - 128);
    reef_q_dw_layer L = {.h = H, .w = W, .c = C, .out_h = d.oh, .out_w = d.ow, .kh = K, .kw = K, .stride = stride,
                         .pad_top = d.pad_top, .pad_left = d.pad_left, .input_offset = -zpx, .output_offset = zpy,
                         .act_min = zpy, .act_max = 127, .multiplier = mult, .shift = shift, .in_scale = sx,
                         .w_scale = w_scale};
    reef_q_dw_forward(&L, qx, qw, bias, qy);
    reef_dw_conv_params dp = {.input_offset = -zpx, .output_offset = zpy, .depth_multiplier = 1,
                              .stride = {stride, stride}, .padding = {d.pad_top, d.pad_left}, .dilation = {1, 1},
                              .activation = {zpy, 127}};
    reef_per_channel_quant pq = {mult, shift};
    reef_dims in = {1, H, W, C}, fd = {1, K, K, C}, out = {1, d.oh, d.ow, C};
    static int8_t buf[16384];
    reef_context ctx = {buf, reef_dw_conv_s8_get_buffer_size(&dp, &in, &fd, &out)};
    assert_true(ctx.size <= (int32_t)sizeof buf);
    assert_int_equal(reef_dw_conv_s8(&ctx, &dp, &pq, &in, qx, &fd, qw, bias, &out, ref), REEF_OK);
    int nout = d.oh * d.ow * C, clamped = 0;
    assert_memory_equal(qy, ref, (size_t)nout);
    float dy[H * W * C], dacc[H * W * C], dx[H * W * C], dw[K * K * C] = {0}, db[C] = {0};
    float fx[H * W * C], fw[K * K * C], g[H * W * C], gx[H * W * C] = {0}, gw[K * K * C] = {0}, gb[C] = {0};
    for (int i = 0; i < nout; i++) {
        dy[i] = reef_rng_uniform(&rng) * 2.0f - 1.0f;
        int masked = qy[i] == L.act_min || qy[i] == L.act_max;
        g[i] = masked ? 0.0f : dy[i] / sy;
        clamped += masked;
    }
    printf("dw stride %d: %d of %d outputs clamped\n", stride, clamped, nout);
    assert_true(clamped > 0 && clamped < nout);
    reef_q_dw_backward(&L, qx, qw, qy, dy, dacc, dx, dw, db);
    dequant_act(qx, H * W * C, sx, zpx, fx);
    for (int i = 0; i < K * K * C; i++) fw[i] = w_scale[i % C] * (float)qw[i];
    reef_dwconv2d_backward(gx, gw, gb, g, fx, fw, &d);
    for (int i = 0; i < H * W * C; i++) dx[i] /= sx;
    for (int i = 0; i < K * K * C; i++) dw[i] /= w_scale[i % C];
    for (int ch = 0; ch < C; ch++) db[ch] /= sx * w_scale[ch];
    check_close(dw, gw, K * K * C, stride == 1 ? "dw s1 dW" : "dw s2 dW");
    check_close(db, gb, C, stride == 1 ? "dw s1 db" : "dw s2 db");
    check_close(dx, gx, H * W * C, stride == 1 ? "dw s1 dx" : "dw s2 dx");
    /* the QAS step, per channel: a unit gradient moves q_w by lr / s_w^2 */
    float ones[K * K * C], bones[C];
    int8_t before[K * K * C];
    int32_t bias_before[C];
    const float lr = 4e-4f;
    for (int i = 0; i < K * K * C; i++) ones[i] = 1.0f;
    for (int ch = 0; ch < C; ch++) bones[ch] = 1.0f, bias_before[ch] = bias[ch];
    memcpy(before, qw, sizeof before);
    reef_q_dw_sgd(&L, lr, qw, ones, bias, bones);
    for (int i = 0; i < K * K * C; i++) {
        float sw = w_scale[i % C];
        double want = (double)before[i] - lr / ((double)sw * sw);
        want = want < -127 ? -127 : want > 127 ? 127 : want;
        assert_true(fabs((double)qw[i] - want) <= 0.5 + 1e-4);
        assert_true(ones[i] == 0.0f);
    }
    for (int ch = 0; ch < C; ch++) {
        double sb = (double)sx * w_scale[ch];
        assert_true(fabs((double)bias[ch] - (bias_before[ch] - lr / (sb * sb))) <= 0.5 + 1e-3);
    }
}

static void test_dw_against_nn(void **state)
{
    (void)state;
    run_dw_case(1);
    run_dw_case(2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_against_nn),
        cmocka_unit_test(test_qas_step),
        cmocka_unit_test(test_dw_against_nn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
