/* The runtime built with REEF_NO_REFERENCE_KERNELS (what a generated model
 * header asks for when no step needs a scalar reference): the layers the
 * *_needs_reference predicates name return REEF_UNSUPPORTED instead of
 * reaching a reference, and every other layer still runs its fast path.
 * It is also built with REEF_ADD_PATHS naming only the equal-scales ADD
 * loop: ADDs that need another loop get REEF_UNSUPPORTED, and
 * reef_add_s8_path names each loop for the parameters that select it.
 * REEF_FC_PATHS names only the row-by-row fully-connected loop: layers
 * needing the four-row loop, the loop without scratch or the plain loop of
 * tiny layers are refused.
 * REEF_CONV_UNPAIRED 0: the 2x2 conv loop takes only paired filters;
 * REEF_CONV_PAIRED_TAIL 0: only four positions at a time.
 * REEF_DW_CLAMPED 0: the 3x3 depthwise loops requantize to [-128, 127] only.
 * REEF_DW_PATHS names the 3x3 plane and the per-pixel depthwise loops (not
 * the map loop).
 * REEF_POOL_PATHS names only the one-channel 2x2 average.
 * REEF_FC_QUANTS 1: the FC step takes per-tensor layers only.
 * This executable compiles the runtime sources itself with the macros. */
#include "testing.h"

#include "reef/reef.h"
#include "reef/requant.h"

#ifndef REEF_NO_REFERENCE_KERNELS
#error "build with -DREEF_NO_REFERENCE_KERNELS"
#endif

static int32_t scratch[1024];

static void test_conv(void **state)
{
    (void)state;
    int8_t in[4 * 4 * 4] = {1, 2, 3, 4, 5, 6, 7, 8}, f[2 * 4] = {1, -1, 2, 3}, out[4 * 4 * 2];
    int32_t mult[2] = {1 << 30, 1 << 30};
    int8_t shift[2] = {-3, -2};
    reef_dims id = {1, 4, 4, 4}, fd = {2, 1, 1, 4}, od = {1, 4, 4, 2};
    reef_conv_params p = {5, -3, {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 0};
    reef_per_channel_quant q = {mult, shift};
    reef_context ctx = {scratch, sizeof scratch};
    /* K = 4: the short-K loop (the 2x2 loop, unpaired, is left out: test_conv_unpaired) */
    assert_true(reef_conv_s8_path(&p, &id, &fd, &od) >= 2);
    assert_false(reef_conv_s8_needs_reference(&p, &q, &fd));
    assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    shift[1] = 1; /* a left shift */
    assert_true(reef_conv_s8_needs_reference(&p, &q, &fd));
    assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    shift[1] = -2, p.input_offset = 200; /* not an int8 zero point */
    assert_true(reef_conv_s8_needs_reference(&p, &q, &fd));
    assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
}

/* A conv on the 2x2 loop (K = 16, plain range): refused unpaired, run
 * paired (against TFLite's arithmetic by hand, 4 positions x 2 channels). */
static void test_conv_unpaired(void **state)
{
    (void)state;
    int8_t in[4 * 16], f[2 * 16], paired[2 * 16], out[4 * 2];
    int32_t mult[2] = {1 << 30, 1500000000}, bias[2] = {100, -7};
    int8_t shift[2] = {-4, -6};
    reef_dims id = {1, 2, 2, 16}, fd = {2, 1, 1, 16}, od = {1, 2, 2, 2};
    reef_conv_params p = {5, -3, {1, 1}, {0, 0}, {1, 1}, {-128, 127}, 0};
    reef_per_channel_quant q = {mult, shift};
    reef_context ctx = {scratch, sizeof scratch};
    for (int i = 0; i < 64; i++) in[i] = (int8_t)(i * 37 - 100);
    for (int i = 0; i < 32; i++) f[i] = (int8_t)(i * 29 - 60);
    assert_int_equal(reef_conv_s8_path(&p, &id, &fd, &od), 0);
    assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, f, bias, &od, out), REEF_UNSUPPORTED);
    assert_true(reef_conv_s8_pairable(&p, &q, &id, &fd, &od, f));
    reef_conv_s8_pair(&fd, f, paired);
    p.paired = 1;
    assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, paired, bias, &od, out), REEF_OK);
    for (int pos = 0; pos < 4; pos++)
        for (int o = 0; o < 2; o++) {
            int32_t acc = bias[o];
            for (int k = 0; k < 16; k++) acc += f[o * 16 + k] * (in[pos * 16 + k] + p.input_offset);
            assert_int_equal(out[pos * 2 + o], reef_requantize_s8(acc, mult[o], shift[o], p.output_offset, -128, 127));
        }
    /* 2 positions: the two-position loop is left out (REEF_CONV_PAIRED_TAIL 0) */
    id.h = od.h = 1;
    assert_int_equal(reef_conv_s8_path(&p, &id, &fd, &od), 0);
    assert_int_equal(reef_conv_s8(&ctx, &p, &q, &id, in, &fd, paired, bias, &od, out), REEF_UNSUPPORTED);
}

static void test_dw(void **state)
{
    (void)state;
    int8_t in[5 * 5 * 2] = {3, -4, 5}, f[3 * 3 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, out[5 * 5 * 4];
    int32_t mult[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    int8_t shift[4] = {-2, 1, -2, -2};
    reef_dims id = {1, 5, 5, 2}, fd = {1, 3, 3, 2}, od = {1, 5, 5, 2};
    reef_dw_conv_params p = {1, 2, 1, {1, 1}, {1, 1}, {1, 1}, {-128, 127}};
    reef_per_channel_quant q = {mult, shift};
    reef_context ctx = {scratch, sizeof scratch};
    /* a left shift: the per-pixel path, no reference */
    assert_false(reef_dw_conv_s8_needs_reference(&p));
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    p.depth_multiplier = 2, fd.c = 4, od.c = 4;
    int8_t f2[3 * 3 * 4] = {1};
    assert_true(reef_dw_conv_s8_needs_reference(&p));
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f2, NULL, &od, out), REEF_UNSUPPORTED);
}

/* The depthwise loops: 3x3 on sliding rows left out (stride 1 and 2),
 * the plane and pixel-by-pixel loops built. */
static void test_dw_paths(void **state)
{
    (void)state;
    static int8_t in[20 * 20 * 4], out[20 * 20 * 4];
    int8_t f[3 * 3 * 4] = {1, -2, 3, 4, 5, -6, 7, 8, 9, 10, 11, 12};
    int32_t mult[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    int8_t shift[4] = {-2, -3, -4, -5};
    reef_dims id = {1, 20, 20, 4}, fd = {1, 3, 3, 4}, od = {1, 20, 20, 4};
    reef_dw_conv_params p = {1, 2, 1, {1, 1}, {1, 1}, {1, 1}, {-128, 127}};
    reef_per_channel_quant q = {mult, shift};
    reef_context ctx = {scratch, sizeof scratch}, none = {0, 0};
    for (int i = 0; i < 20 * 20 * 4; i++) in[i] = (int8_t)(i * 7);
    /* 20x20 at stride 1: three sliding rows, left out; without scratch pixel by pixel */
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_ROWS_S1);
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, 0), REEF_DW_PATH_PIXELS);
    assert_int_equal(reef_dw_conv_s8(&none, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    /* a left shift: pixel by pixel even with scratch */
    shift[2] = 1;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_PIXELS);
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    shift[2] = -4;
    /* stride 2: left out */
    p.stride.h = p.stride.w = 2, od.h = od.w = 10;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_ROWS_S2);
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    /* a small map at stride 1: the plane, built */
    p.stride.h = p.stride.w = 1, id.h = id.w = od.h = od.w = 4;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_PLANE);
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    /* clamped: its requantization is left out (REEF_DW_CLAMPED 0) */
    p.activation.min = 0;
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    p.activation.min = -128;
    /* 6 wide would take the map loop (test_fast_paths); left out of this
     * build, its test is compiled out and the plane loop runs the layer */
    id.h = id.w = od.h = od.w = 6;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_3X3_PLANE);
    assert_int_equal(reef_dw_conv_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    /* the reference's parameters */
    p.input_offset = 200;
    assert_int_equal(reef_dw_conv_s8_path(&p, &q, &id, &fd, &od, sizeof scratch), REEF_DW_PATH_COUNT);
}

static void test_fc(void **state)
{
    (void)state;
    /* K = 128: 3 x 128 MACs, over REEF_FC_TINY_MACS (test_fc_paths) */
    int8_t in[128] = {1, 2, 3, 4, 5, 6, 7, 8}, f[3 * 128] = {1, 2, 3}, out[3];
    reef_dims id = {1, 1, 1, 128}, fd = {3, 1, 1, 128}, od = {1, 1, 1, 3};
    reef_fc_params p = {3, 0, -1, {-128, 127}, 0};
    reef_per_tensor_quant q = {1 << 30, 2}; /* a left shift is fine here */
    reef_context ctx = {scratch, sizeof scratch};
    assert_false(reef_fc_s8_needs_reference(&p));
    assert_int_equal(reef_fc_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    p.filter_offset = 1;
    assert_true(reef_fc_s8_needs_reference(&p));
    assert_int_equal(reef_fc_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
}

/* The fully-connected loops: rows (built), shared and narrow (left out). */
static void test_fc_paths(void **state)
{
    (void)state;
    int8_t in[128] = {1, 2, 3, 4, 5, 6, 7, 8}, f[5 * 128] = {1, 2, 3, -4, 5}, out[5], one_shift = -3;
    int32_t mult[5] = {1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30};
    int8_t shifts[5] = {-3, -3, -3, -3, -3};
    reef_dims id = {1, 1, 1, 128}, fd = {3, 1, 1, 128}, od = {1, 1, 1, 3};
    reef_fc_params p = {3, 0, -1, {-128, 127}, 0};
    reef_per_tensor_quant q = {1 << 30, -3};
    reef_per_channel_quant pc = {mult, shifts};
    reef_context ctx = {scratch, sizeof scratch}, none = {0, 0};
    const int32_t size = reef_fc_s8_get_buffer_size(&fd);
    /* three rows, one multiplier: all row by row */
    assert_int_equal(reef_fc_s8_paths(&p, &q.multiplier, &one_shift, 0, &fd, size), 1u << REEF_FC_PATH_ROWS);
    assert_int_equal(reef_fc_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    /* without scratch: the narrow loop, left out */
    assert_int_equal(reef_fc_s8_paths(&p, &q.multiplier, &one_shift, 0, &fd, 0), 1u << REEF_FC_PATH_NARROW);
    assert_int_equal(reef_fc_s8(&none, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    /* four rows, one multiplier: the shared loop, left out; five: both */
    fd.n = od.c = 4;
    assert_int_equal(reef_fc_s8_paths(&p, &q.multiplier, &one_shift, 0, &fd, size), 1u << REEF_FC_PATH_SHARED);
    assert_int_equal(reef_fc_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    fd.n = od.c = 5;
    assert_int_equal(reef_fc_s8_paths(&p, &q.multiplier, &one_shift, 0, &fd, size),
                     (1u << REEF_FC_PATH_SHARED) | (1u << REEF_FC_PATH_ROWS));
    assert_int_equal(reef_fc_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    /* per channel, any C_OUT: row by row */
    assert_int_equal(reef_fc_s8_paths(&p, mult, shifts, 1, &fd, size), 1u << REEF_FC_PATH_ROWS);
    assert_int_equal(reef_fc_per_channel_s8(&ctx, &p, &pc, &id, in, &fd, f, NULL, &od, out), REEF_OK);
    /* at most REEF_FC_TINY_MACS MACs (2 x 128): the plain loop, left out,
     * with scratch or without; paired layers never take it */
    fd.n = od.c = 2;
    assert_int_equal(reef_fc_s8_paths(&p, mult, shifts, 1, &fd, size), 1u << REEF_FC_PATH_TINY);
    assert_int_equal(reef_fc_s8_paths(&p, &q.multiplier, &one_shift, 0, &fd, 0), 1u << REEF_FC_PATH_TINY);
    assert_int_equal(reef_fc_s8(&ctx, &p, &q, &id, in, &fd, f, NULL, &od, out), REEF_UNSUPPORTED);
    p.paired = 1;
    assert_int_equal(reef_fc_s8_paths(&p, mult, shifts, 1, &fd, size), 1u << REEF_FC_PATH_ROWS);
    p.paired = 0;
    fd.n = od.c = 5;
    /* the reference's parameters: no fast loop */
    p.filter_offset = 1;
    assert_int_equal(reef_fc_s8_paths(&p, mult, shifts, 1, &fd, size), 0u);
}

/* REEF_FC_QUANTS 1: the FC step runs per-tensor layers and refuses
 * per-channel ones (reef_fc_per_channel_s8 left out of the step). */
static void test_fc_quants(void **state)
{
    (void)state;
    static uint8_t arena[128 + 16 + 2048];
    static const int8_t f[3 * 128] = {1, 2, 3, -4, 5};
    static const int32_t mult[3] = {1 << 30, 1 << 30, 1 << 30};
    static const int8_t shifts[3] = {-3, -3, -3};
    reef_fc_step_args a = {.io = {.input_at = 0u, .output_at = 128u, .scratch_at = 144u, .scratch_size = 2048u},
                           .params = {3, 0, -1, {-128, 127}, 0},
                           .quant = {1 << 30, -3},
                           .input_dims = {1, 1, 1, 128},
                           .filter_dims = {3, 1, 1, 128},
                           .output_dims = {1, 1, 1, 3},
                           .filter = f};
    int8_t want[3];
    reef_context ctx = {scratch, sizeof scratch};
    for (int i = 0; i < 128; i++) arena[i] = (uint8_t)(i * 5);
    assert_true(reef_fc_s8_get_buffer_size(&a.filter_dims) <= 2048);
    assert_int_equal(reef_fc_s8(&ctx, &a.params, &a.quant, &a.input_dims, (const int8_t *)arena, &a.filter_dims, f,
                                NULL, &a.output_dims, want),
                     REEF_OK);
    assert_int_equal(reef_fc_step(&a, arena), REEF_OK);
    assert_memory_equal(arena + 128, want, 3);
    a.channel_quant.multiplier = mult, a.channel_quant.shift = shifts;
    assert_int_equal(reef_fc_step(&a, arena), REEF_UNSUPPORTED);
}

/* Pooling: the 2x2 average built, the others left out. */
static void test_pool_paths(void **state)
{
    (void)state;
    int8_t in[4 * 4 * 2] = {1, 2, -3, 4, 5, 6, 7, -8, 9, 10, 11, 12, 13, 14, 15, 16}, out[2 * 2 * 2];
    reef_dims id = {1, 4, 4, 1}, od = {1, 2, 2, 1};
    reef_hw f = {2, 2};
    reef_pool_params p = {{2, 2}, {0, 0}, {-128, 127}};
    reef_context ctx = {scratch, sizeof scratch};
    assert_int_equal(reef_pool_s8_path(0, &p, &id, &f, &od), REEF_POOL_PATH_AVG_2X2);
    assert_int_equal(reef_avgpool_s8(&ctx, &p, &id, in, &f, &od, out), REEF_OK);
    /* (1 + 2 + 5 + 6) / 4 = 3.5 -> 4; (-3 + 4 + 7 - 8) / 4 = 0 */
    assert_int_equal(out[0], 4);
    assert_int_equal(out[1], 0);
    assert_int_equal(reef_pool_s8_path(1, &p, &id, &f, &od), REEF_POOL_PATH_MAX);
    assert_int_equal(reef_maxpool_s8(&ctx, &p, &id, in, &f, &od, out), REEF_UNSUPPORTED);
    id.c = od.c = 2; /* two channels: the same 2x2 loop */
    assert_int_equal(reef_pool_s8_path(0, &p, &id, &f, &od), REEF_POOL_PATH_AVG_2X2);
    assert_int_equal(reef_avgpool_s8(&ctx, &p, &id, in, &f, &od, out), REEF_OK);
    /* channel 0 of the first window: (1 - 3 + 9 + 11) / 4 = 4.5 -> 5; channel 1: (2 + 4 + 10 + 12) / 4 = 7 */
    assert_int_equal(out[0], 5);
    assert_int_equal(out[1], 7);
    f.h = f.w = 3, p.stride.h = p.stride.w = 1; /* 3x3 windows: the generic average */
    assert_int_equal(reef_pool_s8_path(0, &p, &id, &f, &od), REEF_POOL_PATH_AVG);
    assert_int_equal(reef_avgpool_s8(&ctx, &p, &id, in, &f, &od, out), REEF_UNSUPPORTED);
}

/* ADD with int8's left shift 20 and the output 1/2 of twice_max: */
static reef_add_params add_params(int32_t shift2, int32_t offset2, int32_t act_min)
{
    reef_add_params p = {5, 1 << 30, 0, offset2, 1 << 30, shift2, 20, -3, 1 << 30, -19, {act_min, 127}};
    return p;
}

static void test_add_paths(void **state)
{
    (void)state;
    int8_t a[9] = {1, -2, 3, 100, -128, 127, 0, 9, -9}, b[9] = {4, 5, -6, 100, -128, 127, 1, 2, 3}, out[9];
    reef_add_params equal = add_params(0, 7, -128), plain = add_params(-1, 7, -128), clamped = add_params(-1, 7, 0);
    reef_add_params fast = add_params(-1, 7, -128), scalar = add_params(-1, 129, -128);
    fast.left_shift = 18; /* not int8's 20: the 64-bit loop */
    assert_int_equal(reef_add_s8_path(&equal), REEF_ADD_PATH_SMM_EQUAL);
    assert_int_equal(reef_add_s8_path(&plain), REEF_ADD_PATH_SMM_PLAIN);
    assert_int_equal(reef_add_s8_path(&clamped), REEF_ADD_PATH_SMM_CLAMPED);
    assert_int_equal(reef_add_s8_path(&fast), REEF_ADD_PATH_FAST_PLAIN);
    fast.activation.min = 0;
    assert_int_equal(reef_add_s8_path(&fast), REEF_ADD_PATH_FAST_CLAMPED);
    assert_int_equal(reef_add_s8_path(&scalar), REEF_ADD_PATH_SCALAR);
    assert_int_equal(reef_add_s8(&equal, a, b, 9, out), REEF_OK);
    assert_int_equal(reef_add_s8(&plain, a, b, 9, out), REEF_UNSUPPORTED);
    assert_int_equal(reef_add_s8(&clamped, a, b, 9, out), REEF_UNSUPPORTED);
    assert_int_equal(reef_add_s8(&fast, a, b, 9, out), REEF_UNSUPPORTED);
    assert_int_equal(reef_add_s8(&scalar, a, b, 9, out), REEF_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_unpaired),
        cmocka_unit_test(test_dw),
        cmocka_unit_test(test_dw_paths),
        cmocka_unit_test(test_fc),
        cmocka_unit_test(test_fc_paths),
        cmocka_unit_test(test_fc_quants),
        cmocka_unit_test(test_pool_paths),
        cmocka_unit_test(test_add_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
