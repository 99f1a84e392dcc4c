/* RESIZE_BILINEAR (int8, a RESIZE_BILINEAR step, reef/permute.h) against
 * TFLite Micro and against a reference written here:
 *  - every case of data/tflm_resize_bilinear_vectors.txt, which TFLite
 *    Micro's reference kernel generated (see the file's header), through
 *    the writer, reader, lowering and interpreter; one 2x half-pixel case
 *    also as generated C on qemu-m4 and the host;
 *  - random shapes and sizes (1 -> many, many -> 1, odd ratios, up to
 *    40 x 40) against bilinear_ref below, written from TFLite's
 *    ResizeBilinearInteger description with 64-bit sums, not from the
 *    runtime's kernel;
 *  - the refusals: align_corners with half_pixel_centers, input and output
 *    quantizations that differ, a size that samples past the input.
 * Quick (one qemu-m4 build); skips (77) without the source tree, and the
 * qemu-m4 part without the ARM tools. */
#include "testing.h"
#include "tflm_harness.h"

#include "util/rng.h"

#define NEXT() next_token(&save, path, n + 1)

/* x (shape, scale, zp) -> RESIZE_BILINEAR to (oh, ow) -> y (out_scale,
 * out_zp): the graph, not yet lowered. */
static void bilinear_graph(reef_graph *g, const int32_t *shape, int32_t oh, int32_t ow, int align_corners,
                           int half_pixel, float scale, int64_t zp, float out_scale, int64_t out_zp)
{
    reef_error err;
    int32_t out_shape[4] = {shape[0], oh, ow, shape[3]};
    int64_t size[2] = {oh, ow};
    assert_int_equal(reef_graph_init(g, "bilinear", &err), 0);
    int32_t tx = reef_graph_add_tensor(g, "x", REEF_INT8, 4, shape, &err);
    assert_int_equal(reef_graph_set_quant(g, tx, 1, &scale, &zp, 0, &err), 0);
    int32_t ty = reef_graph_add_tensor(g, "y", REEF_INT8, 4, out_shape, &err);
    assert_int_equal(reef_graph_set_quant(g, ty, 1, &out_scale, &out_zp, 0, &err), 0);
    int32_t ins[2] = {tx, add_int_const(g, "size", size, 2, 0)};
    reef_op_options o;
    reef_op_options_init(&o);
    o.align_corners = align_corners, o.half_pixel_centers = half_pixel;
    assert_true(reef_graph_add_op(g, REEF_OP_RESIZE_BILINEAR, ins, 2, &ty, 1, &o, &err) >= 0);
    assert_int_equal(reef_graph_set_io(g, &tx, 1, &ty, 1, &err), 0);
}

/* ---- the independent reference ------------------------------------------ */

/* One axis: the 10-bit scale (rounded to nearest, align_corners maps the
 * end points onto each other), the 10-bit sample of output index v, the
 * two input indices around it clamped to the input. */
static void ref_axis(int64_t v, int64_t in, int64_t out, int align, int half, int64_t *at, int64_t *i0, int64_t *i1)
{
    const int64_t s = align && out > 1 ? (1024 * (in - 1) + (out - 1) / 2) / (out - 1) : (1024 * in + out / 2) / out;
    *at = half ? v * s + s / 2 - 512 : v * s;
    *i0 = *at / 1024 < 0 ? 0 : *at / 1024;                       /* truncation toward zero, then >= 0 */
    *i1 = (*at + 1023) / 1024 > in - 1 ? in - 1 : (*at + 1023) / 1024; /* ceiling for at >= 0, <= in - 1 */
}

static void bilinear_ref(const int32_t *shape, int32_t oh, int32_t ow, int align, int half, const int8_t *x,
                         int8_t *y)
{
    const int64_t N = shape[0], H = shape[1], W = shape[2], C = shape[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                for (int64_t c = 0; c < C; c++) {
                    int64_t ay, y0, y1, ax, x0, x1;
                    ref_axis(i, H, oh, align, half, &ay, &y0, &y1);
                    ref_axis(j, W, ow, align, half, &ax, &x0, &x1);
#define PX(r, k) ((int64_t)x[((n * H + (r)) * W + (k)) * C + c])
                    const int64_t fy = ay - 1024 * y0, fx = ax - 1024 * x0;
                    const int64_t sum = PX(y0, x0) * (1024 - fy) * (1024 - fx) + PX(y1, x0) * fy * (1024 - fx) +
                                        PX(y0, x1) * (1024 - fy) * fx + PX(y1, x1) * fy * fx;
#undef PX
                    /* round half away from zero, as (sum +- 2^19) / 2^20 truncating */
                    const int64_t q = sum > 0 ? (sum + (1 << 19)) / (1 << 20) : (sum - (1 << 19)) / (1 << 20);
                    y[((n * oh + i) * ow + j) * C + c] = (int8_t)q;
                }
}

/* ---- against TFLite Micro ------------------------------------------------- */

static void test_bilinear_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[65536];
    FILE *fp = open_vectors("tflm_resize_bilinear_vectors.txt", path, sizeof path);
    int n = 0, per_mode[3] = {0}, emulated = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *save = NULL;
        assert_string_equal(strtok_r(line, " \n", &save), "RESIZE_BL");
        const int align = atoi(NEXT()), half = atoi(NEXT());
        int32_t shape[4];
        for (int i = 0; i < 4; i++) shape[i] = atoi(NEXT());
        const int32_t oh = atoi(NEXT()), ow = atoi(NEXT());
        const int in_count = shape[0] * shape[1] * shape[2] * shape[3], out_count = shape[0] * oh * ow * shape[3];
        int8_t *x = hex_bytes(NEXT(), (size_t)in_count), *want = hex_bytes(NEXT(), (size_t)out_count);
        if (!x || !want) fail_msg("%s: case %d has the wrong number of bytes", path, n + 1);
        int8_t *got = malloc((size_t)out_count), *ref = malloc((size_t)out_count);
        reef_graph g, back;
        reef_lowered_model m;
        /* the kernel ignores the quantization: an extreme scale, a negative zero point */
        bilinear_graph(&g, shape, oh, ow, align, half, 1e-6f * (float)(n + 1), -100 + n, 1e-6f * (float)(n + 1),
                       -100 + n);
        round_trip_lower(&g, &back, &m, "bilinear", n + 1);
        assert_int_equal(back.ops[0].opt.align_corners, align); /* options written and read back */
        assert_int_equal(back.ops[0].opt.half_pixel_centers, half);
        assert_int_equal(m.steps[0].kind, REEF_STEP_RESIZE_BILINEAR);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        bilinear_ref(shape, oh, ow, align, half, x, ref);
        for (int i = 0; i < out_count; i++)
            if (got[i] != want[i] || ref[i] != want[i])
                fail_msg("RESIZE_BILINEAR case %d (align_corners %d, half_pixel_centers %d) output %d: reef %d, "
                         "reference %d, TFLite Micro %d", n + 1, align, half, i, got[i], ref[i], want[i]);
        if (half && oh == 2 * shape[1] && ow == 2 * shape[2] && !emulated)
            emulated = run_targets(&m, "bilinear", x, 1, (size_t)in_count, want, 1);
        per_mode[align + 2 * half]++, n++;
        free(x), free(want), free(got), free(ref);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    fclose(fp);
    printf("  RESIZE_BILINEAR: %d cases (%d plain, %d align_corners, %d half_pixel_centers) equal TFLite Micro's "
           "reference and bilinear_ref%s\n",
           n, per_mode[0], per_mode[1], per_mode[2], emulated ? "; one also on qemu-m4 and the host" : "");
    assert_true(n >= 60 && per_mode[0] && per_mode[1] && per_mode[2]);
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- against the reference, random and extreme sizes --------------------- */

static void test_bilinear_random(void **state)
{
    (void)state;
    reef_rng rng;
    reef_rng_seed(&rng, 1623);
    int n = 0, outputs = 0;
    for (; n < 300; n++) {
        int32_t shape[4] = {1 + (int32_t)reef_rng_below(&rng, 2), 1 + (int32_t)reef_rng_below(&rng, 40),
                            1 + (int32_t)reef_rng_below(&rng, 40), 1 + (int32_t)reef_rng_below(&rng, 3)};
        int32_t oh = 1 + (int32_t)reef_rng_below(&rng, 40), ow = 1 + (int32_t)reef_rng_below(&rng, 40);
        if (n % 10 == 0) shape[1] = 1, oh = 40;  /* 1 -> many */
        if (n % 10 == 1) shape[2] = 40, ow = 1;  /* many -> 1 */
        const int mode = n % 3, align = mode == 1, half = mode == 2;
        const int in_count = shape[0] * shape[1] * shape[2] * shape[3], out_count = shape[0] * oh * ow * shape[3];
        int8_t *x = malloc((size_t)in_count), *got = malloc((size_t)out_count), *ref = malloc((size_t)out_count);
        for (int i = 0; i < in_count; i++)
            x[i] = (int8_t)(n % 4 == 3 ? ((i & 1) ? 127 : -128) : (int)reef_rng_below(&rng, 256) - 128);
        reef_graph g;
        reef_lowered_model m;
        reef_error err;
        bilinear_graph(&g, shape, oh, ow, align, half, 0.5f, 0, 0.5f, 0);
        if (reef_lower(&g, &m, &err)) fail_msg("case %d: %s", n, err.msg);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        bilinear_ref(shape, oh, ow, align, half, x, ref);
        for (int i = 0; i < out_count; i++)
            if (got[i] != ref[i])
                fail_msg("random case %d (%dx%dx%dx%d -> %dx%d, align_corners %d, half_pixel_centers %d) output %d: "
                         "reef %d, reference %d", n, shape[0], shape[1], shape[2], shape[3], oh, ow, align, half, i,
                         got[i], ref[i]);
        outputs += out_count;
        free(x), free(got), free(ref);
        reef_lowered_free(&m), reef_graph_free(&g);
    }
    printf("  RESIZE_BILINEAR: %d random cases, %d outputs, equal bilinear_ref\n", n, outputs);
}

static void test_bilinear_refusals(void **state)
{
    (void)state;
    const int32_t shape[4] = {1, 1, 3, 2};
    reef_graph g;
    reef_lowered_model m;
    reef_error err;
    bilinear_graph(&g, shape, 2, 6, 1, 1, 0.5f, 0, 0.5f, 0);
    assert_int_not_equal(reef_lower(&g, &m, &err), 0);
    assert_non_null(strstr(err.msg, "align_corners and half_pixel_centers"));
    reef_graph_free(&g);
    bilinear_graph(&g, shape, 2, 6, 0, 1, 0.5f, 0, 0.25f, 0);
    assert_int_not_equal(reef_lower(&g, &m, &err), 0);
    assert_non_null(strstr(err.msg, "quantization differ"));
    reef_graph_free(&g);
    /* 1 -> 2000 rows, half pixel: scale round(1024 / 2000) = 1, the last
     * sample 1999 + 0 - 512 = 1487 is past row 0 (TFLite reads beyond) */
    bilinear_graph(&g, shape, 2000, 3, 0, 1, 0.5f, 0, 0.5f, 0);
    assert_int_not_equal(reef_lower(&g, &m, &err), 0);
    assert_non_null(strstr(err.msg, "samples outside the input"));
    reef_graph_free(&g);
    bilinear_graph(&g, shape, 2000, 3, 0, 0, 0.5f, 0, 0.5f, 0); /* without: 1999 * 1, past row 0 too */
    assert_int_not_equal(reef_lower(&g, &m, &err), 0);
    reef_graph_free(&g);
    bilinear_graph(&g, shape, 40, 3, 0, 1, 0.5f, 0, 0.5f, 0); /* 1 -> 40: 39 * 26 + 13 - 512 = 515 fits */
    if (reef_lower(&g, &m, &err)) fail_msg("%s", err.msg);
    reef_lowered_free(&m), reef_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bilinear_match_tflm),
        cmocka_unit_test(test_bilinear_random),
        cmocka_unit_test(test_bilinear_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
