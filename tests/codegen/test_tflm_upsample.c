/* The upsampling ops of segmentation heads, RESIZE_BILINEAR (int8, a
 * RESIZE_BILINEAR step, reef/permute.h) and TRANSPOSE_CONV (int8
 * per-channel, a TRANSPOSE_CONV step, reef/conv.h), against TFLite Micro
 * and against references written here.
 * RESIZE_BILINEAR:
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
 * TRANSPOSE_CONV:
 *  - every case of data/tflm_transpose_conv_vectors.txt (TFLite Micro's
 *    reference kernel, see the file's header) through the writer, reader,
 *    lowering and interpreter, the lowered padding equal to TFLite Micro's;
 *    also against tconv_ref below (TFLite's scatter form with 64-bit
 *    sums, written from its description, not from the runtime's gather
 *    kernel); one case also as generated C on qemu-m4 and the host;
 *  - random geometries against tconv_ref, and the refusals.
 * Quick (two qemu-m4 builds); skips (77) without the source tree, and the
 * qemu-m4 part without the ARM tools. */
#include "testing.h"
#include "tflm_harness.h"

#include <math.h>

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

/* ---- TRANSPOSE_CONV -------------------------------------------------------- */

typedef struct tconv_case {
    int32_t in_shape[4], f_shape[4], out_shape[4]; /* NHWC, (OC, KH, KW, IC), NHWC */
    int stride_h, stride_w, same, act, has_bias;
    float in_scale, out_scale, f_scale[8];
    int64_t in_zp, out_zp;
    int32_t bias[8];
    int8_t *filter, *input;
} tconv_case;

/* input -> TRANSPOSE_CONV (output_shape, filter, input[, bias]) -> output. */
static void tconv_graph(reef_graph *g, const tconv_case *t)
{
    reef_error err;
    const int oc = t->f_shape[0];
    int64_t zeros[8] = {0}, oshape[4] = {t->out_shape[0], t->out_shape[1], t->out_shape[2], t->out_shape[3]};
    assert_int_equal(reef_graph_init(g, "tconv", &err), 0);
    int32_t x = reef_graph_add_tensor(g, "x", REEF_INT8, 4, t->in_shape, &err);
    assert_int_equal(reef_graph_set_quant(g, x, 1, &t->in_scale, &t->in_zp, 0, &err), 0);
    int32_t w = reef_graph_add_tensor(g, "w", REEF_INT8, 4, t->f_shape, &err);
    assert_int_equal(reef_graph_set_quant(g, w, oc, t->f_scale, zeros, 0, &err), 0);
    assert_int_equal(reef_graph_set_data(g, w, t->filter,
                                         (size_t)(t->f_shape[0] * t->f_shape[1] * t->f_shape[2] * t->f_shape[3]), &err),
                     0);
    int32_t y = reef_graph_add_tensor(g, "y", REEF_INT8, 4, t->out_shape, &err);
    assert_int_equal(reef_graph_set_quant(g, y, 1, &t->out_scale, &t->out_zp, 0, &err), 0);
    int32_t ins[4] = {add_int_const(g, "output_shape", oshape, 4, 0), w, x, -1};
    if (t->has_bias) {
        int32_t bshape[1] = {oc};
        ins[3] = reef_graph_add_tensor(g, "b", REEF_INT32, 1, bshape, &err);
        assert_int_equal(reef_graph_set_data(g, ins[3], t->bias, (size_t)oc * 4, &err), 0);
    }
    reef_op_options o;
    reef_op_options_init(&o);
    o.stride_h = t->stride_h, o.stride_w = t->stride_w, o.activation = t->act;
    o.padding = t->same ? REEF_PAD_SAME : REEF_PAD_VALID;
    assert_true(reef_graph_add_op(g, REEF_OP_TRANSPOSE_CONV, ins, t->has_bias ? 4 : 3, &y, 1, &o, &err) >= 0);
    assert_int_equal(reef_graph_set_io(g, &x, 1, &y, 1, &err), 0);
}

/* TFLite's MultiplyByQuantizedMultiplier (double rounding) in 64-bit
 * arithmetic: round-half-up high multiply, then round-half-away shift. */
static int64_t ref_requant(int64_t acc, double real_multiplier)
{
    int e;
    const double q = frexp(real_multiplier, &e);
    int64_t m = (int64_t)llround(q * (double)(1ll << 31));
    if (m == (1ll << 31)) m /= 2, e++;
    if (e < -31) m = 0, e = 0;
    const int left = e > 0 ? e : 0, right = e > 0 ? 0 : -e;
    const int64_t a = (int64_t)(int32_t)(uint32_t)((uint64_t)acc << left); /* acc * 2^left, wrapping as int32 */
    int64_t high;
    if (a == INT32_MIN && m == INT32_MIN) high = INT32_MAX;
    else {
        const int64_t ab = a * m, nudge = ab >= 0 ? (1ll << 30) : 1 - (1ll << 30);
        high = (ab + nudge) / (1ll << 31);
    }
    const int64_t mask = (1ll << right) - 1, rem = high & mask, thr = (mask >> 1) + (high < 0);
    return (high >> right) + (rem > thr);
}

/* TFLite's scatter form: every input value adds filter * (x + input
 * offset) to the outputs it reaches, 64-bit sums; padding as TFLite Micro
 * computes it from the output size. */
static void tconv_ref(const tconv_case *t, int8_t *y)
{
    const int N = t->in_shape[0], H = t->in_shape[1], W = t->in_shape[2], IC = t->in_shape[3];
    const int OC = t->f_shape[0], KH = t->f_shape[1], KW = t->f_shape[2], OH = t->out_shape[1], OW = t->out_shape[2];
    const int ch = t->same ? (OH + t->stride_h - 1) / t->stride_h : (OH + t->stride_h - KH) / t->stride_h;
    const int cw = t->same ? (OW + t->stride_w - 1) / t->stride_w : (OW + t->stride_w - KW) / t->stride_w;
    const int th = (ch - 1) * t->stride_h + KH - OH, tw = (cw - 1) * t->stride_w + KW - OW;
    const int ph = th > 0 ? th / 2 : 0, pw = tw > 0 ? tw / 2 : 0;
    int64_t *acc = calloc((size_t)(N * OH * OW * OC), sizeof *acc);
    assert_non_null(acc);
    for (int n = 0; n < N; n++)
        for (int iy = 0; iy < H; iy++)
            for (int ix = 0; ix < W; ix++)
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++) {
                        const int oy = iy * t->stride_h - ph + ky, ox = ix * t->stride_w - pw + kx;
                        if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                        for (int o = 0; o < OC; o++)
                            for (int i = 0; i < IC; i++)
                                acc[((n * OH + oy) * OW + ox) * OC + o] +=
                                    ((int64_t)t->input[((n * H + iy) * W + ix) * IC + i] - t->in_zp) *
                                    t->filter[((o * KH + ky) * KW + kx) * IC + i];
                    }
    const double fmin[4] = {-1e30, 0, -1, 0}, fmax[4] = {1e30, 1e30, 1, 6};
    for (int k = 0; k < N * OH * OW * OC; k++) {
        const int o = k % OC;
        const double m = (double)t->in_scale * (double)t->f_scale[o] / (double)t->out_scale;
        int64_t v = ref_requant(acc[k] + (t->has_bias ? t->bias[o] : 0), m) + t->out_zp;
        int64_t lo = -128, hi = 127;
        if (t->act) {
            const int64_t qlo = t->out_zp + (int64_t)roundf((float)fmin[t->act] / t->out_scale);
            if (qlo > lo) lo = qlo;
            if (t->act != 1) {
                const int64_t qhi = t->out_zp + (int64_t)roundf((float)fmax[t->act] / t->out_scale);
                if (qhi < hi) hi = qhi;
            }
        }
        y[k] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
    }
    free(acc);
}

static int parse_list(const char *s, float *f, int32_t *i, int max)
{
    int n = 0;
    for (const char *p = s; *p && n < max; n++) {
        char *end;
        if (f) f[n] = strtof(p, &end);
        else i[n] = (int32_t)strtol(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void test_tconv_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[65536];
    FILE *fp = open_vectors("tflm_transpose_conv_vectors.txt", path, sizeof path);
    int n = 0, emulated = 0, saturated_low = 0, saturated_high = 0, strided = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char *save = NULL;
        assert_string_equal(strtok_r(line, " \n", &save), "TCONV");
        tconv_case t = {0};
        int v[15];
        for (int i = 0; i < 15; i++) v[i] = atoi(NEXT());
        t.in_shape[0] = t.out_shape[0] = v[0], t.in_shape[1] = v[1], t.in_shape[2] = v[2], t.in_shape[3] = v[3];
        t.f_shape[0] = t.out_shape[3] = v[4], t.f_shape[1] = v[5], t.f_shape[2] = v[6], t.f_shape[3] = v[3];
        t.out_shape[1] = v[7], t.out_shape[2] = v[8], t.stride_h = v[9], t.stride_w = v[10], t.same = v[11];
        t.act = v[12], t.has_bias = v[13];
        const int pad_h = v[14] / 1000, pad_w = v[14] % 1000;
        t.in_scale = strtof(NEXT(), NULL), t.in_zp = atoi(NEXT());
        t.out_scale = strtof(NEXT(), NULL), t.out_zp = atoi(NEXT());
        const int oc = t.f_shape[0];
        if (oc > 8 || parse_list(NEXT(), t.f_scale, NULL, 8) != oc || parse_list(NEXT(), NULL, t.bias, 8) != oc)
            fail_msg("%s: case %d: bad scales or biases", path, n + 1);
        const int f_count = oc * t.f_shape[1] * t.f_shape[2] * t.f_shape[3];
        const int in_count = t.in_shape[0] * t.in_shape[1] * t.in_shape[2] * t.in_shape[3];
        const int out_count = t.out_shape[0] * t.out_shape[1] * t.out_shape[2] * oc;
        t.filter = hex_bytes(NEXT(), (size_t)f_count), t.input = hex_bytes(NEXT(), (size_t)in_count);
        int8_t *want = hex_bytes(NEXT(), (size_t)out_count);
        if (!t.filter || !t.input || !want) fail_msg("%s: case %d has the wrong number of bytes", path, n + 1);
        int8_t *got = malloc((size_t)out_count), *ref = malloc((size_t)out_count);
        reef_graph g, back;
        reef_lowered_model m;
        tconv_graph(&g, &t);
        round_trip_lower(&g, &back, &m, "tconv", n + 1);
        assert_int_equal(back.ops[0].opt.stride_h, t.stride_h); /* options written and read back */
        assert_int_equal(back.ops[0].opt.activation, t.act);
        assert_int_equal(m.steps[0].kind, REEF_STEP_TRANSPOSE_CONV);
        if (m.steps[0].args.transpose_conv.params.padding.h != pad_h ||
            m.steps[0].args.transpose_conv.params.padding.w != pad_w)
            fail_msg("TRANSPOSE_CONV case %d: padding %dx%d, TFLite Micro %dx%d", n + 1,
                     m.steps[0].args.transpose_conv.params.padding.h, m.steps[0].args.transpose_conv.params.padding.w,
                     pad_h, pad_w);
        assert_int_equal(reef_lowered_invoke(&m, t.input, got), 0);
        tconv_ref(&t, ref);
        for (int i = 0; i < out_count; i++) {
            if (got[i] != want[i] || ref[i] != want[i])
                fail_msg("TRANSPOSE_CONV case %d output %d: reef %d, tconv_ref %d, TFLite Micro %d", n + 1, i, got[i],
                         ref[i], want[i]);
            saturated_low += want[i] == -128, saturated_high += want[i] == 127;
        }
        if (t.stride_h > 1 && t.stride_w > 1 && t.has_bias && oc > 1 && !emulated)
            emulated = run_targets(&m, "tconv", t.input, 1, (size_t)in_count, want, 1);
        strided += t.stride_h > 1 || t.stride_w > 1, n++;
        free(t.filter), free(t.input), free(want), free(got), free(ref);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    fclose(fp);
    printf("  TRANSPOSE_CONV: %d cases (%d strided; %d outputs at -128, %d at 127) equal TFLite Micro's reference "
           "and tconv_ref%s\n",
           n, strided, saturated_low, saturated_high, emulated ? "; one also on qemu-m4 and the host" : "");
    assert_true(n >= 50 && strided && saturated_low && saturated_high);
    if (!emulated && !testing_sanitizer_run()) skip();
}

static void test_tconv_random(void **state)
{
    (void)state;
    reef_rng rng;
    reef_rng_seed(&rng, 6716);
    int n = 0, outputs = 0;
    for (; n < 200; n++) {
        tconv_case t = {0};
        const int ic = 1 + (int)reef_rng_below(&rng, 8), oc = 1 + (int)reef_rng_below(&rng, 8);
        t.in_shape[0] = t.out_shape[0] = 1, t.in_shape[1] = 1 + (int)reef_rng_below(&rng, 8);
        t.in_shape[2] = 1 + (int)reef_rng_below(&rng, 8), t.in_shape[3] = ic;
        t.f_shape[0] = t.out_shape[3] = oc, t.f_shape[1] = 1 + (int)reef_rng_below(&rng, 5);
        t.f_shape[2] = 1 + (int)reef_rng_below(&rng, 5), t.f_shape[3] = ic;
        t.stride_h = 1 + (int)reef_rng_below(&rng, 4), t.stride_w = 1 + (int)reef_rng_below(&rng, 4);
        t.same = n & 1, t.act = (int)reef_rng_below(&rng, 4), t.has_bias = n % 3 != 0;
        for (int a = 1; a <= 2; a++) {
            const int in = t.in_shape[a], k = t.f_shape[a], s = a == 1 ? t.stride_h : t.stride_w;
            t.out_shape[a] = (t.same ? in * s : (in - 1) * s + k) + (n % 7 == 3 ? (int)reef_rng_below(&rng, 3) : 0);
        }
        t.in_scale = 0.01f + 0.001f * (float)reef_rng_below(&rng, 100), t.out_scale = 0.02f + 0.01f * (float)reef_rng_below(&rng, 50);
        t.in_zp = (int)reef_rng_below(&rng, 256) - 128, t.out_zp = (int)reef_rng_below(&rng, 256) - 128;
        for (int o = 0; o < oc; o++)
            t.f_scale[o] = 0.001f + 0.0005f * (float)reef_rng_below(&rng, 40), t.bias[o] = (int32_t)reef_rng_below(&rng, 40001) - 20000;
        const int f_count = oc * t.f_shape[1] * t.f_shape[2] * ic, in_count = t.in_shape[1] * t.in_shape[2] * ic;
        const int out_count = t.out_shape[1] * t.out_shape[2] * oc;
        t.filter = malloc((size_t)f_count), t.input = malloc((size_t)in_count);
        for (int i = 0; i < f_count; i++) t.filter[i] = (int8_t)((int)reef_rng_below(&rng, 255) - 127);
        for (int i = 0; i < in_count; i++) t.input[i] = (int8_t)((int)reef_rng_below(&rng, 256) - 128);
        int8_t *got = malloc((size_t)out_count), *ref = malloc((size_t)out_count);
        reef_graph g;
        reef_lowered_model m;
        reef_error err;
        tconv_graph(&g, &t);
        if (reef_lower(&g, &m, &err)) fail_msg("case %d: %s", n, err.msg);
        assert_int_equal(reef_lowered_invoke(&m, t.input, got), 0);
        tconv_ref(&t, ref);
        for (int i = 0; i < out_count; i++)
            if (got[i] != ref[i]) fail_msg("random TRANSPOSE_CONV case %d output %d: reef %d, tconv_ref %d", n, i, got[i], ref[i]);
        outputs += out_count;
        free(t.filter), free(t.input), free(got), free(ref);
        reef_lowered_free(&m), reef_graph_free(&g);
    }
    printf("  TRANSPOSE_CONV: %d random cases, %d outputs, equal tconv_ref\n", n, outputs);
}

static void test_tconv_refusals(void **state)
{
    (void)state;
    int8_t filter[2 * 3 * 3 * 2] = {0}, input[2 * 2 * 2] = {0};
    tconv_case t = {.in_shape = {1, 2, 2, 2}, .f_shape = {2, 3, 3, 2}, .out_shape = {1, 4, 4, 2}, .stride_h = 2,
                    .stride_w = 2, .same = 1, .in_scale = 0.1f, .out_scale = 0.1f, .f_scale = {0.01f, 0.02f},
                    .filter = filter, .input = input};
    reef_graph g;
    reef_lowered_model m;
    reef_error err;
    t.stride_w = 0; /* an absent options table reads stride 0 */
    tconv_graph(&g, &t);
    assert_int_not_equal(reef_lower(&g, &m, &err), 0);
    assert_non_null(strstr(err.msg, "stride"));
    reef_graph_free(&g);
    t.stride_w = 2, t.f_shape[3] = 1; /* filter channels differ from the input's */
    tconv_graph(&g, &t);
    assert_int_not_equal(reef_lower(&g, &m, &err), 0);
    assert_non_null(strstr(err.msg, "does not fit"));
    reef_graph_free(&g);
    t.f_shape[3] = 2, t.act = 5; /* an activation TFLite Micro has no int8 clamp for (TANH) */
    tconv_graph(&g, &t);
    assert_int_not_equal(reef_lower(&g, &m, &err), 0);
    reef_graph_free(&g);
    t.act = 0;
    tconv_graph(&g, &t);
    if (reef_lower(&g, &m, &err)) fail_msg("%s", err.msg);
    reef_lowered_free(&m), reef_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bilinear_match_tflm),
        cmocka_unit_test(test_bilinear_random),
        cmocka_unit_test(test_bilinear_refusals),
        cmocka_unit_test(test_tconv_match_tflm),
        cmocka_unit_test(test_tconv_random),
        cmocka_unit_test(test_tconv_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
