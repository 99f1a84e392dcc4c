/* The quantizer's pieces: activation quantization parameters, the
 * quantize/dequantize round trip, per-channel weight scales, batch-norm
 * folding against the unfolded float forward, the calibration methods and
 * sample choice, and the input map. */
#include "fixture.h"

#include <math.h>

#include "nn/layers.h"
#include "quant/quant.h"

static void test_qparams(void **state)
{
    (void)state;
    float s;
    int32_t zp;
    reef_choose_qparams(-1.0f, 3.0f, &s, &zp);
    assert_float_equal(s, 4.0f / 255.0f, 1e-9);
    assert_int_equal(zp, -64);  // round(-128 + 1 / (4/255)) = round(-64.25)
    assert_int_equal(reef_quantize_value(0.0f, s, zp), zp);
    // A range without 0 is widened to hold it.
    reef_choose_qparams(0.5f, 2.0f, &s, &zp);
    assert_float_equal(s, 2.0f / 255.0f, 1e-9);
    assert_int_equal(zp, -128);
    reef_choose_qparams(-3.0f, -1.0f, &s, &zp);
    assert_float_equal(s, 3.0f / 255.0f, 1e-9);
    assert_int_equal(zp, 127);
    // An empty range still gets a positive scale.
    reef_choose_qparams(0.0f, 0.0f, &s, &zp);
    assert_true(s > 0.0f);
    assert_int_equal(zp, -128);
    // Ties round away from zero; the ends clamp.
    assert_int_equal(reef_quantize_value(0.5f, 1.0f, 0), 1);
    assert_int_equal(reef_quantize_value(-0.5f, 1.0f, 0), -1);
    assert_int_equal(reef_quantize_value(1e6f, 1.0f, 0), 127);
    assert_int_equal(reef_quantize_value(-1e6f, 1.0f, 0), -128);
    assert_int_equal(reef_quantize_value(NAN, 1.0f, 3), -128);
}

/* Every value of the range comes back within half a step. */
static void test_round_trip(void **state)
{
    (void)state;
    const float ranges[][2] = {{-1.0f, 3.0f}, {0.0f, 6.0f}, {-0.37f, 0.011f}, {-20.0f, -0.5f}, {0.0f, 1e-3f}};
    reef_rng r;
    reef_rng_seed(&r, 3);
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        float s;
        int32_t zp;
        reef_choose_qparams(ranges[k][0], ranges[k][1], &s, &zp);
        const float lo = s * (float)(-128 - zp), hi = s * (float)(127 - zp);
        double worst = 0;
        for (int i = 0; i < 10000; i++) {
            float x = lo + (hi - lo) * reef_rng_uniform(&r);
            float back = reef_dequantize_value(reef_quantize_value(x, s, zp), s, zp);
            double e = fabs((double)back - x);
            if (e > worst) worst = e;
        }
        printf("  range [%g, %g]: scale %g, zero point %d, worst error %.3g steps\n", ranges[k][0], ranges[k][1],
               s, zp, worst / s);
        assert_true(worst <= 0.5 * s * (1 + 1e-4));
        // The representable range covers the asked one, up to the rounding of zp.
        assert_true(lo <= fminf(ranges[k][0], 0.0f) + s && hi >= fmaxf(ranges[k][1], 0.0f) - s);
    }
}

/* Conv OHWI: per output channel (outer); depthwise 1HWC: per last dim. */
static void test_per_channel_scales(void **state)
{
    (void)state;
    // conv: 3 output channels of 2x2x2 = 8 weights each
    float w[24];
    for (int i = 0; i < 24; i++) w[i] = 0.01f * (float)((i % 8) - 3);
    w[5] = -2.54f;   // channel 0's largest magnitude
    w[8 + 2] = 0.5f; // channel 1: max 0.5 (other values at most 0.04)
    for (int i = 16; i < 24; i++) w[i] = 0.0f;  // channel 2: zeros
    int8_t q[24];
    float scale[3];
    reef_quant_symmetric(q, scale, w, 24, 3, 8, NULL);
    assert_float_equal(scale[0], 2.54f / 127.0f, 1e-7);
    assert_float_equal(scale[1], 0.5f / 127.0f, 1e-7);
    assert_float_equal(scale[2], 1.0f, 0);
    assert_int_equal(q[5], -127);
    assert_int_equal(q[10], 127);
    for (int i = 0; i < 24; i++) {
        assert_true(q[i] >= -127 && q[i] <= 127);
        const float back = scale[i / 8] * q[i];
        assert_true(fabsf(back - w[i]) <= 0.5f * scale[i / 8] * 1.0001f);
    }
    // depthwise 1x2x2x4: channel = index % 4
    float dw[16];
    for (int i = 0; i < 16; i++) dw[i] = (float)(i % 4 + 1) * (i < 4 ? 1.0f : 0.5f);
    float ds[4];
    int8_t dq[16];
    reef_quant_symmetric(dq, ds, dw, 16, 4, 1, NULL);
    for (int c = 0; c < 4; c++) {
        assert_float_equal(ds[c], (float)(c + 1) / 127.0f, 1e-7);
        assert_int_equal(dq[c], 127);
        assert_int_equal(dq[4 + c], 64);  // half of max: 63.5 rounds away from zero
    }
    // a floor from the bias raises a scale
    float floor_[4] = {0, 0, 1.0f, 0};
    reef_quant_symmetric(dq, ds, dw, 16, 4, 1, floor_);
    assert_float_equal(ds[2], 1.0f, 0);
    assert_int_equal(dq[2], 3);
    // per tensor (fc): one scale
    float t1;
    reef_quant_symmetric(q, &t1, w, 24, 1, 24, NULL);
    assert_float_equal(t1, 2.54f / 127.0f, 1e-7);
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float d = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > d) d = fabsf(a[i] - b[i]);
    return d;
}

static void apply_act(float *y, size_t n, reef_nn_act act)
{
    for (size_t i = 0; i < n; i++) {
        if (act != REEF_NN_ACT_NONE && y[i] < 0) y[i] = 0;
        if (act == REEF_NN_ACT_RELU6 && y[i] > 6) y[i] = 6;
    }
}

/* Each conv / depthwise / fc layer run with its folded weights and bias
 * (and no batch norm) gives the layer's output of the unfolded forward. */
static void test_fold_bn(void **state)
{
    (void)state;
    reef_dataset ds;
    reef_model m;
    fixture_dataset(&ds, 8, 5);
    fixture_model(&m, &ds, 0);
    fixture_random_bn(&m, 9);
    const int n = 8;
    reef_model_normalize(&m, ds.pixels, n);
    reef_model_forward(&m, n, REEF_MODE_INFER, 0);
    int checked = 0;
    float worst = 0;
    for (int bi = 0; bi < m.nblocks; bi++) {
        const reef_block *b = &m.blocks[bi];
        for (int li = 0; li < b->nlayers; li++) {
            const reef_layer *L = &b->layers[li];
            if (L->kind != REEF_LAYER_CONV && L->kind != REEF_LAYER_DWCONV && L->kind != REEF_LAYER_FC) continue;
            const float *x = li ? b->layers[li - 1].y : bi ? m.blocks[bi - 1].out : m.input;
            const size_t nw = L->kind == REEF_LAYER_DWCONV ? (size_t)L->dims.kh * L->dims.kw * L->dims.oc
                              : L->kind == REEF_LAYER_CONV ? (size_t)L->dims.oc * L->dims.kh * L->dims.kw * L->dims.c
                                                           : (size_t)L->dims.oc * L->dims.c;
            float *w = malloc(nw * sizeof *w), *bias = malloc(L->dims.oc * sizeof *bias);
            float *out = malloc((size_t)n * L->out_size * sizeof *out);
            reef_conv_dims d = L->dims;
            d.n = n;
            float *scratch = malloc((reef_conv2d_scratch_floats(&d) + 1) * sizeof *scratch);
            assert_int_equal(reef_fold_bn(L, w, bias), 0);
            if (L->kind == REEF_LAYER_CONV) reef_conv2d_forward(out, x, w, bias, &d, scratch);
            else if (L->kind == REEF_LAYER_DWCONV) reef_dwconv2d_forward(out, x, w, bias, &d);
            else reef_fc_forward(out, x, w, bias, n, L->in_size, L->out_size);
            apply_act(out, (size_t)n * L->out_size, L->act);
            float md = max_diff(out, L->y, (size_t)n * L->out_size);
            printf("  b%d.l%d %-6s bn=%d: folded vs unfolded maxdiff %.3g\n", bi, li,
                   L->kind == REEF_LAYER_CONV ? "conv" : L->kind == REEF_LAYER_DWCONV ? "dwconv" : "fc", L->has_bn, md);
            if (md > worst) worst = md;
            assert_true(md < 1e-4f);
            checked++;
            free(w), free(bias), free(out), free(scratch);
        }
    }
    assert_true(checked >= 7);
    printf("  %d layers, worst maxdiff %.3g\n", checked, worst);
    // A layer without weights has nothing to fold.
    float dummy[1];
    const reef_layer *gap = NULL;
    for (int bi = 0; bi < m.nblocks && !gap; bi++)
        if (m.blocks[bi].layers[0].kind == REEF_LAYER_GAP) gap = &m.blocks[bi].layers[0];
    assert_non_null(gap);
    assert_int_equal(reef_fold_bn(gap, dummy, dummy), -1);
    reef_model_free(&m);
    reef_dataset_free(&ds);
}

/* [0, 1) in steps of 1e-5 plus one outlier at 1000: min/max keeps the
 * outlier, the percentile clips it away; MSE weighs one clipped value
 * (error 1e6) against the rounding noise of all the others and keeps most
 * of the range. On a normal distribution MSE clips both thin tails. */
static void test_calib_methods(void **state)
{
    (void)state;
    static reef_observer o;
    reef_observer_init(&o);
    const int n = 100000;
    float *x = malloc((n + 1) * sizeof *x);
    for (int i = 0; i < n; i++) x[i] = (float)i * 1e-5f;  // [0, 1)
    x[n] = 1000.0f;
    reef_observer_range(&o, x, n + 1);
    reef_observer_hist(&o, x, n + 1);
    float lo, hi;
    reef_observer_choose(&o, REEF_CALIB_MINMAX, 99.99, &lo, &hi);
    assert_float_equal(lo, 0.0f, 0);
    assert_float_equal(hi, 1000.0f, 0);
    reef_observer_choose(&o, REEF_CALIB_PERCENTILE, 99.99, &lo, &hi);
    printf("  percentile 99.99: [%g, %g]\n", lo, hi);
    assert_true(hi > 0.9f && hi < 1.5f);
    reef_observer_choose(&o, REEF_CALIB_MSE, 99.99, &lo, &hi);
    printf("  mse: [%g, %g]\n", lo, hi);
    assert_true(lo == 0.0f && hi > 500.0f && hi < 1000.0f);
    // Symmetric normal-like data: MSE clips both tails a little.
    reef_observer_init(&o);
    reef_rng r;
    reef_rng_seed(&r, 1);
    for (int i = 0; i < n; i++) x[i] = reef_rng_normal(&r);
    reef_observer_range(&o, x, n);
    reef_observer_hist(&o, x, n);
    reef_observer_choose(&o, REEF_CALIB_MSE, 0, &lo, &hi);
    printf("  normal: min/max [%.3g, %.3g], mse [%.3g, %.3g]\n", o.min, o.max, lo, hi);
    assert_true(lo > o.min && hi < o.max && lo < -2.0f && hi > 2.0f);
    free(x);

    reef_calib_method m;
    assert_int_equal(reef_calib_method_parse("mse", &m), 0);
    assert_int_equal(m, REEF_CALIB_MSE);
    assert_string_equal(reef_calib_method_name(REEF_CALIB_PERCENTILE), "percentile");
    assert_int_equal(reef_calib_method_parse("kl", &m), -1);
}

/* Calibration samples: n distinct sorted indices, the same for a seed. */
static void test_calib_indices(void **state)
{
    (void)state;
    uint32_t a[500], b[500];
    assert_int_equal(reef_calib_indices(3492, 500, 1, a), 500);
    assert_int_equal(reef_calib_indices(3492, 500, 1, b), 500);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 1; i < 500; i++) assert_true(a[i] > a[i - 1]);
    assert_true(a[499] < 3492 && a[499] > 3000 && a[0] < 100);  // spread over the set
    assert_int_equal(reef_calib_indices(3492, 500, 2, b), 500);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(reef_calib_indices(10, 500, 1, a), 10);
    for (uint32_t i = 0; i < 10; i++) assert_int_equal(a[i], i);
}

/* Normalization -> input quantization: q = p - 128, and the real value it
 * stands for is the normalized pixel within half a step. */
static void test_input_map(void **state)
{
    (void)state;
    reef_norm norm = {.channels = 1, .mean = {0.4f}, .std = {0.25f}};
    float s;
    int32_t zp;
    reef_input_map map;
    reef_input_quant(&norm, &s, &zp, &map);
    assert_float_equal(s, 1.0f / (255.0f * 0.25f), 1e-9);
    assert_int_equal(zp, -26);  // round(255 * 0.4 - 128) = round(-26)
    assert_true(map.exact);
    for (int p = 0; p < 256; p++) {
        assert_int_equal(map.lut[0][p], p - 128);
        const float x = ((float)p / 255.0f - 0.4f) / 0.25f;
        assert_true(fabsf(reef_dequantize_value(map.lut[0][p], s, zp) - x) <= 0.5f * s + 1e-6f);
    }
    uint8_t px[3] = {0, 128, 255};
    int8_t q[3];
    reef_input_map_apply(&map, px, 3, q);
    assert_int_equal(q[0], -128);
    assert_int_equal(q[1], 0);
    assert_int_equal(q[2], 127);
    // Channels of different std cannot share q = p - 128.
    reef_norm rgb = {.channels = 3, .mean = {0.5f, 0.4f, 0.3f}, .std = {0.2f, 0.25f, 0.3f}};
    reef_input_quant(&rgb, &s, &zp, &map);
    assert_false(map.exact);
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < 256; p += 17) {
            const float x = ((float)p / 255.0f - rgb.mean[k]) / rgb.std[k];
            assert_true(fabsf(reef_dequantize_value(map.lut[k][p], s, zp) - x) <= 0.5f * s + 1e-6f);
        }
    char desc[256];
    reef_norm_describe(&rgb, desc, sizeof desc);
    assert_string_equal(desc, "reef-norm mean=0.5,0.400000006,0.300000012 std=0.200000003,0.25,0.300000012");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qparams),       cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_per_channel_scales), cmocka_unit_test(test_fold_bn),
        cmocka_unit_test(test_calib_methods), cmocka_unit_test(test_calib_indices),
        cmocka_unit_test(test_input_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
