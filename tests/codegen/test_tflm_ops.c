/* LOGISTIC, TANH, HARD_SWISH (the LUT step) and PRELU against TFLite
 * Micro's reference kernels.
 *
 *  - tables: reef's tables (codegen/lut.h) for every case of
 *    data/tflm_lut_vectors.txt, which TFLite Micro's reference kernels
 *    generated (scales over seven decades, zero points -128..127, inputs
 *    saturating at both ends; see the file's header for the commit and
 *    flags), must equal TFLite Micro's outputs for all 256 inputs;
 *  - refusals: parameters TFLite Micro refuses or mislabels;
 *  - chain: x -> HARD_SWISH -> TANH -> LOGISTIC as a .tflite written with
 *    reef's writer, lowered and run by the interpreter, and as generated C
 *    on the host and on qemu-m4 (emulated Cortex-M4), against the
 *    composition of TFLite Micro's own tables for those quantizations;
 *  - PRELU: every case of data/tflm_prelu_vectors.txt (alpha broadcast
 *    as [C], [1,1,C] and [H,W,C], outputs saturating, zero points from
 *    -128 to 127), the first also on qemu-m4;
 *  - TRANSPOSE, SLICE and REDUCE_MAX: random graphs against multi-index
 *    references written here, one of each also on qemu-m4;
 *  - MEAN over (1, 2), keep_dims 0 and 1: every case of
 *    data/tflm_mean_vectors.txt, one also on qemu-m4.
 * Skips (77) when the source tree (the vectors) is not found; the qemu-m4
 * part skips without the ARM tools. */
#include "testing.h"
#include "tflm_harness.h"

#include <math.h>

#include "codegen/lut.h"
#include "util/rng.h"

typedef struct lut_case {
    char op[16];
    float in_scale, out_scale;
    int in_zp, out_zp;
    int8_t want[256];
} lut_case;

#define MAX_CASES 400
static lut_case cases[MAX_CASES];
static int ncases;


static void load_cases(void)
{
    char path[1024], line[1024], hex[600];
    FILE *fp = open_vectors("tflm_lut_vectors.txt", path, sizeof path);
    ncases = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        lut_case *c = &cases[ncases];
        if (sscanf(line, "%15s %a %d %a %d %599s", c->op, &c->in_scale, &c->in_zp, &c->out_scale, &c->out_zp, hex) != 6 ||
            strlen(hex) != 512)
            fail_msg("%s: malformed line %d", path, ncases + 1);
        for (int i = 0; i < 256; i++) c->want[i] = (int8_t)(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
        assert_true(++ncases < MAX_CASES);
    }
    fclose(fp);
}

static int reef_table(const lut_case *c, int8_t table[256], reef_error *err)
{
    if (!strcmp(c->op, "LOGISTIC")) return reef_lut_logistic(c->in_scale, c->in_zp, table, err);
    if (!strcmp(c->op, "TANH")) return reef_lut_tanh(c->in_scale, c->in_zp, table, err);
    assert_string_equal(c->op, "HARD_SWISH");
    return reef_lut_hard_swish(c->in_scale, c->in_zp, c->out_scale, c->out_zp, table, err);
}

static void test_tables_match_tflm(void **state)
{
    (void)state;
    load_cases();
    int per_op[3] = {0}, saturated_low = 0, saturated_high = 0;
    for (int k = 0; k < ncases; k++) {
        const lut_case *c = &cases[k];
        int8_t got[256];
        reef_error err;
        if (reef_table(c, got, &err)) fail_msg("%s in %g/%d: %s", c->op, (double)c->in_scale, c->in_zp, err.msg);
        for (int i = 0; i < 256; i++)
            if (got[i] != c->want[i])
                fail_msg("%s in scale %a zp %d out scale %a zp %d: input %d gives %d, TFLite Micro %d", c->op,
                         (double)c->in_scale, c->in_zp, (double)c->out_scale, c->out_zp, i - 128, got[i], c->want[i]);
        per_op[c->op[0] == 'L' ? 0 : c->op[0] == 'T' ? 1 : 2]++;
        for (int i = 0; i < 256; i++) saturated_low += c->want[i] == -128, saturated_high += c->want[i] == 127;
    }
    printf("  tables: %d LOGISTIC, %d TANH, %d HARD_SWISH cases x 256 inputs equal TFLite Micro's reference "
           "(%d outputs at -128, %d at 127)\n",
           per_op[0], per_op[1], per_op[2], saturated_low, saturated_high);
    assert_true(per_op[0] >= 60 && per_op[1] >= 60 && per_op[2] >= 60);
    assert_true(saturated_low > 0 && saturated_high > 0);
}

static void test_refusals(void **state)
{
    (void)state;
    int8_t t[256];
    reef_error err;
    assert_int_equal(reef_lut_logistic(0.0f, 0, t, &err), -1);
    assert_int_equal(reef_lut_logistic(1e-12f, 0, t, &err), -1); /* shift < 0: TFLite Micro's radius is undefined */
    assert_int_equal(reef_lut_tanh(0.1f, 200, t, &err), -1);
    assert_int_equal(reef_lut_hard_swish(0.1f, 0, 1e-4f, 0, t, &err), -1); /* output multiplier > 1 */
    assert_int_equal(reef_lut_hard_swish(0.1f, 0, 0.1f, -129, t, &err), -1);
    assert_int_equal(reef_lut_hard_swish(NAN, 0, 0.1f, 0, t, &err), -1);
}

/* ---- the chain model ---------------------------------------------------- */

static const lut_case *find_case(const char *op, float in_scale, int in_zp, float out_scale, int out_zp)
{
    for (int k = 0; k < ncases; k++)
        if (!strcmp(cases[k].op, op) && cases[k].in_scale == in_scale && cases[k].in_zp == in_zp &&
            cases[k].out_scale == out_scale && cases[k].out_zp == out_zp)
            return &cases[k];
    fail_msg("no TFLite Micro vector for %s %g %d", op, (double)in_scale, in_zp);
    return NULL;
}

static int add_tensor(reef_graph *g, const char *name, const int32_t *shape, float scale, int64_t zp)
{
    reef_error err;
    int i = reef_graph_add_tensor(g, name, REEF_INT8, 4, shape, &err);
    assert_true(i >= 0);
    assert_int_equal(reef_graph_set_quant(g, i, 1, &scale, &zp, 0, &err), 0);
    return i;
}

enum { N_IN = 6 * 6 * 8, N_VECTORS = 4 };

static void build_chain(reef_graph *g)
{
    reef_error err;
    reef_op_options o;
    const int32_t shape[4] = {1, 6, 6, 8};
    assert_int_equal(reef_graph_init(g, "lut", &err), 0);
    int32_t t[4] = {add_tensor(g, "x", shape, 0.05f, -3), add_tensor(g, "hs", shape, 0.03f, -100),
                    add_tensor(g, "th", shape, 1.0f / 128, 0), add_tensor(g, "y", shape, 1.0f / 256, -128)};
    const int32_t ops[3] = {REEF_OP_HARD_SWISH, REEF_OP_TANH, REEF_OP_LOGISTIC};
    for (int k = 0; k < 3; k++) {
        reef_op_options_init(&o);
        assert_true(reef_graph_add_op(g, ops[k], &t[k], 1, &t[k + 1], 1, &o, &err) >= 0);
    }
    assert_int_equal(reef_graph_set_io(g, &t[0], 1, &t[3], 1, &err), 0);
}

static void test_chain_model(void **state)
{
    (void)state;
    load_cases();
    const lut_case *hs = find_case("HARD_SWISH", 0.05f, -3, 0.03f, -100);
    const lut_case *th = find_case("TANH", 0.03f, -100, 1.0f / 128, 0);
    const lut_case *lg = find_case("LOGISTIC", 1.0f / 128, 0, 1.0f / 256, -128);
    static int8_t in[N_VECTORS][N_IN], want[N_VECTORS][N_IN], got[N_VECTORS][N_IN];
    reef_rng r;
    reef_rng_seed(&r, 16);
    for (int v = 0; v < N_VECTORS; v++)
        for (int i = 0; i < N_IN; i++) {
            /* vector 0 sweeps every input value; the others are random */
            in[v][i] = (int8_t)(v == 0 ? i % 256 - 128 : (int)(reef_rng_u32(&r) % 256) - 128);
            want[v][i] = lg->want[th->want[hs->want[in[v][i] + 128] + 128] + 128];
        }
    reef_graph g, back;
    reef_lowered_model m;
    reef_error err;
    uint8_t *bytes;
    size_t size;
    build_chain(&g);
    assert_int_equal(reef_tflite_serialize(&g, &bytes, &size, &err), 0);
    if (reef_tflite_read_buffer(bytes, size, "lut.tflite", &back, &err)) fail_msg("%s", err.msg);
    if (reef_lower(&back, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(m.nsteps, 3);
    for (int s = 0; s < 3; s++) assert_int_equal(m.steps[s].kind, REEF_STEP_LUT);
    for (int v = 0; v < N_VECTORS; v++) {
        assert_int_equal(reef_lowered_invoke(&m, in[v], got[v]), 0);
        assert_memory_equal(got[v], want[v], N_IN);
    }
    int emulated = run_targets(&m, "lut", &in[0][0], N_VECTORS, N_IN, &want[0][0], 1);
    printf("  chain HARD_SWISH -> TANH -> LOGISTIC: interpreter%s equal TFLite Micro's tables\n",
           emulated ? ", generated C on the host and on qemu-m4" : "");
    free(bytes);
    reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- PRELU -------------------------------------------------------------- */

/* Every case of data/tflm_prelu_vectors.txt as a .tflite (input an
 * activation, alpha a constant broadcast over it) through the writer,
 * reader, lowering and interpreter; the first case also as generated C on
 * qemu-m4 and the host. */
static void test_prelu_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[16384], hin[8192], hal[8192], hout[8192];
    FILE *fp = open_vectors("tflm_prelu_vectors.txt", path, sizeof path);
    int n = 0, emulated = 0, negative_alpha = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        float is, as, os;
        int iz, az, oz, ar, in_shape[4], al_shape[4];
        if (sscanf(line, "PRELU %a %d %a %d %a %d %d %d %d %d %d %d %d %d %d %8191s %8191s %8191s", &is, &iz, &as, &az,
                   &os, &oz, &in_shape[0], &in_shape[1], &in_shape[2], &in_shape[3], &ar, &al_shape[0], &al_shape[1],
                   &al_shape[2], &al_shape[3], hin, hal, hout) != 18)
            fail_msg("%s: malformed case %d", path, n + 1);
        size_t nin = (size_t)in_shape[0] * in_shape[1] * in_shape[2] * in_shape[3], nal = 1;
        for (int i = 0; i < ar; i++) nal *= (size_t)al_shape[i];
        int8_t *x = hex_bytes(hin, nin), *alpha = hex_bytes(hal, nal), *want = hex_bytes(hout, nin);
        if (!x || !alpha || !want) fail_msg("%s: case %d has the wrong number of bytes", path, n + 1);
        for (size_t i = 0; i < nal; i++) negative_alpha += alpha[i] - az < 0;
        reef_graph g, back;
        reef_error err;
        int32_t shape[4] = {in_shape[0], in_shape[1], in_shape[2], in_shape[3]}, ashape[4];
        for (int i = 0; i < ar; i++) ashape[i] = al_shape[i];
        assert_int_equal(reef_graph_init(&g, "prelu", &err), 0);
        int64_t zp;
        int32_t tx = reef_graph_add_tensor(&g, "x", REEF_INT8, 4, shape, &err);
        zp = iz, assert_int_equal(reef_graph_set_quant(&g, tx, 1, &is, &zp, 0, &err), 0);
        int32_t ta = reef_graph_add_tensor(&g, "alpha", REEF_INT8, ar, ashape, &err);
        zp = az, assert_int_equal(reef_graph_set_quant(&g, ta, 1, &as, &zp, 0, &err), 0);
        assert_int_equal(reef_graph_set_data(&g, ta, alpha, nal, &err), 0);
        int32_t ty = reef_graph_add_tensor(&g, "y", REEF_INT8, 4, shape, &err);
        zp = oz, assert_int_equal(reef_graph_set_quant(&g, ty, 1, &os, &zp, 0, &err), 0);
        int32_t ins[2] = {tx, ta};
        reef_op_options o;
        reef_op_options_init(&o);
        assert_true(reef_graph_add_op(&g, REEF_OP_PRELU, ins, 2, &ty, 1, &o, &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &ty, 1, &err), 0);
        uint8_t *bytes;
        size_t size;
        reef_lowered_model m;
        assert_int_equal(reef_tflite_serialize(&g, &bytes, &size, &err), 0);
        if (reef_tflite_read_buffer(bytes, size, "prelu.tflite", &back, &err)) fail_msg("%s", err.msg);
        if (reef_lower(&back, &m, &err)) fail_msg("case %d: %s", n + 1, err.msg);
        assert_int_equal(m.nsteps, 1);
        assert_int_equal(m.steps[0].kind, REEF_STEP_PRELU);
        int8_t *got = malloc(nin);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        for (size_t i = 0; i < nin; i++)
            if (got[i] != want[i])
                fail_msg("PRELU case %d element %zu: input %d gives %d, TFLite Micro %d", n + 1, i, x[i], got[i], want[i]);
        if (n == 0) emulated = run_targets(&m, "prelu", x, 1, nin, want, 0);
        free(got), free(bytes), free(x), free(alpha), free(want);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
        n++;
    }
    fclose(fp);
    printf("  PRELU: %d cases (alpha [C], [1,1,C], [H,W,C]; %d negative alphas) equal TFLite Micro's reference%s\n", n,
           negative_alpha, emulated ? ", the first also on qemu-m4" : "");
    assert_true(n >= 10 && negative_alpha > 0);
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- TRANSPOSE and SLICE (the STRIDED step) ----------------------------- */

/* Random TRANSPOSE and SLICE graphs (rank 1..4, int32 or int64 perm,
 * begin and size, size -1 included) against a reference that walks the
 * output by multi-index: out[i0..] = in[perm-mapped or begin-shifted
 * index]. Pure copies, so this is TFLite Micro's result by definition
 * (transpose.h, slice.h). One TRANSPOSE also on qemu-m4. */
static void test_movement_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 39);
    int n = testing_sanitizer_run() ? 40 : 300, per_op[2] = {0}, emulated = 0;
    for (int k = 0; k < n; k++) {
        const int transpose = k % 2 == 0, rank = 1 + (int)reef_rng_below(&r, 4), is64 = (int)reef_rng_below(&r, 2);
        int32_t in_shape[4], out_shape[4];
        int64_t a[4], b[4];
        int in_count = 1, out_count = 1;
        for (int i = 0; i < rank; i++) in_shape[i] = 1 + (int)reef_rng_below(&r, 6), in_count *= in_shape[i];
        if (transpose) {
            for (int i = 0; i < rank; i++) a[i] = i;
            for (int i = rank - 1; i > 0; i--) { /* Fisher-Yates */
                int j = (int)reef_rng_below(&r, (uint32_t)i + 1);
                int64_t t = a[i];
                a[i] = a[j], a[j] = t;
            }
            for (int i = 0; i < rank; i++) out_shape[i] = in_shape[a[i]];
        } else {
            for (int i = 0; i < rank; i++) {
                a[i] = reef_rng_below(&r, (uint32_t)in_shape[i]);
                out_shape[i] = 1 + (int)reef_rng_below(&r, (uint32_t)(in_shape[i] - a[i]));
                b[i] = reef_rng_below(&r, 4) == 0 ? (out_shape[i] = in_shape[i] - (int32_t)a[i], -1) : out_shape[i];
            }
        }
        for (int i = 0; i < rank; i++) out_count *= out_shape[i];
        int8_t *x = malloc((size_t)in_count), *want = malloc((size_t)out_count), *got = malloc((size_t)out_count);
        for (int i = 0; i < in_count; i++) x[i] = (int8_t)reef_rng_u32(&r);
        /* reference: walk output multi-indices */
        for (int o = 0; o < out_count; o++) {
            int idx[4], rem = o, src = 0;
            for (int i = rank - 1; i >= 0; i--) idx[i] = rem % out_shape[i], rem /= out_shape[i];
            int in_idx[4];
            for (int i = 0; i < rank; i++) {
                if (transpose)
                    in_idx[a[i]] = idx[i];
                else
                    in_idx[i] = idx[i] + (int)a[i];
            }
            for (int i = 0; i < rank; i++) src = src * in_shape[i] + in_idx[i];
            want[o] = x[src];
        }
        reef_graph g, back;
        reef_error err;
        float scale = 0.05f;
        int64_t zp = -7;
        assert_int_equal(reef_graph_init(&g, "move", &err), 0);
        int32_t tx = reef_graph_add_tensor(&g, "x", REEF_INT8, rank, in_shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, tx, 1, &scale, &zp, 0, &err), 0);
        int32_t ty = reef_graph_add_tensor(&g, "y", REEF_INT8, rank, out_shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, ty, 1, &scale, &zp, 0, &err), 0);
        int32_t ins[3] = {tx, add_int_const(&g, transpose ? "perm" : "begin", a, rank, is64), -1};
        if (!transpose) ins[2] = add_int_const(&g, "size", b, rank, is64);
        reef_op_options o;
        reef_op_options_init(&o);
        assert_true(reef_graph_add_op(&g, transpose ? REEF_OP_TRANSPOSE : REEF_OP_SLICE, ins, transpose ? 2 : 3, &ty,
                                      1, &o, &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &ty, 1, &err), 0);
        uint8_t *bytes;
        size_t size;
        reef_lowered_model m;
        assert_int_equal(reef_tflite_serialize(&g, &bytes, &size, &err), 0);
        if (reef_tflite_read_buffer(bytes, size, "move.tflite", &back, &err)) fail_msg("%s", err.msg);
        if (reef_lower(&back, &m, &err)) fail_msg("case %d: %s", k, err.msg);
        assert_int_equal(m.steps[0].kind, REEF_STEP_STRIDED);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        if (memcmp(got, want, (size_t)out_count))
            fail_msg("%s case %d (rank %d): interpreter differs from the reference", transpose ? "TRANSPOSE" : "SLICE",
                     k, rank);
        if (transpose && rank == 4 && !emulated) emulated = run_targets(&m, "transpose", x, 1, (size_t)in_count, want, 0);
        per_op[!transpose]++;
        free(bytes), free(x), free(want), free(got);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    printf("  TRANSPOSE %d, SLICE %d random graphs (rank 1-4) equal the multi-index reference%s\n", per_op[0],
           per_op[1], emulated ? "; one rank-4 TRANSPOSE also on qemu-m4" : "");
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- REDUCE_MAX ---------------------------------------------------------- */

/* Random REDUCE_MAX graphs: rank 1..4, a random non-empty set of axes
 * written as positive or negative indices (some repeated), keep_dims or
 * not; the reference takes, for every output multi-index, the largest
 * input over the reduced axes (reduce_common.cc: raw int8 max). */
static void test_reduce_max_random(void **state)
{
    (void)state;
    reef_rng r;
    reef_rng_seed(&r, 82);
    int n = testing_sanitizer_run() ? 40 : 300, emulated = 0;
    for (int k = 0; k < n; k++) {
        const int rank = 1 + (int)reef_rng_below(&r, 4), keep = (int)reef_rng_below(&r, 2);
        int32_t in_shape[4], out_shape[4];
        int reduced[4] = {0}, nred = 0, out_rank = 0, in_count = 1, out_count = 1;
        int64_t axes[8];
        for (int i = 0; i < rank; i++) in_shape[i] = 1 + (int)reef_rng_below(&r, 5), in_count *= in_shape[i];
        int naxes = 1 + (int)reef_rng_below(&r, (uint32_t)rank + 1);
        for (int j = 0; j < naxes; j++) {
            int ax = (int)reef_rng_below(&r, (uint32_t)rank);
            reduced[ax] = 1;
            axes[j] = reef_rng_below(&r, 2) ? ax : ax - rank;
        }
        for (int i = 0; i < rank; i++) {
            nred += reduced[i];
            if (!reduced[i] || keep) out_shape[out_rank++] = reduced[i] ? 1 : in_shape[i];
            if (!reduced[i]) out_count *= in_shape[i];
        }
        if (out_rank == 0) out_shape[out_rank++] = 1; /* a scalar as shape [1] */
        int8_t *x = malloc((size_t)in_count), *want = malloc((size_t)out_count), *got = malloc((size_t)out_count);
        for (int i = 0; i < in_count; i++) x[i] = (int8_t)reef_rng_u32(&r);
        for (int o = 0; o < out_count; o++) want[o] = -128;
        for (int i = 0; i < in_count; i++) {
            int idx[4], rem = i, o = 0;
            for (int d = rank - 1; d >= 0; d--) idx[d] = rem % in_shape[d], rem /= in_shape[d];
            for (int d = 0; d < rank; d++)
                if (!reduced[d]) o = o * in_shape[d] + idx[d];
            if (x[i] > want[o]) want[o] = x[i];
        }
        reef_graph g, back;
        reef_error err;
        float scale = 0.02f;
        int64_t zp = 11;
        assert_int_equal(reef_graph_init(&g, "rmax", &err), 0);
        int32_t tx = reef_graph_add_tensor(&g, "x", REEF_INT8, rank, in_shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, tx, 1, &scale, &zp, 0, &err), 0);
        int32_t ty = reef_graph_add_tensor(&g, "y", REEF_INT8, out_rank, out_shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, ty, 1, &scale, &zp, 0, &err), 0);
        int32_t ins[2] = {tx, add_int_const(&g, "axes", axes, naxes, 0)};
        reef_op_options o;
        reef_op_options_init(&o), o.keep_dims = keep;
        assert_true(reef_graph_add_op(&g, REEF_OP_REDUCE_MAX, ins, 2, &ty, 1, &o, &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &ty, 1, &err), 0);
        uint8_t *bytes;
        size_t size;
        reef_lowered_model m;
        assert_int_equal(reef_tflite_serialize(&g, &bytes, &size, &err), 0);
        if (reef_tflite_read_buffer(bytes, size, "rmax.tflite", &back, &err)) fail_msg("%s", err.msg);
        if (reef_lower(&back, &m, &err)) fail_msg("case %d: %s", k, err.msg);
        assert_int_equal(m.steps[0].kind, REEF_STEP_REDUCE_MAX);
        assert_int_equal(back.ops[0].opt.keep_dims, keep); /* ReducerOptions written and read back */
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        if (memcmp(got, want, (size_t)out_count))
            fail_msg("REDUCE_MAX case %d (rank %d, %d axes reduced): interpreter differs from the reference", k, rank, nred);
        if (rank == 4 && nred == 2 && !emulated) emulated = run_targets(&m, "reduce_max", x, 1, (size_t)in_count, want, 0);
        free(bytes), free(x), free(want), free(got);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    printf("  REDUCE_MAX: %d random graphs (rank 1-4, any axes, keep_dims both) equal the reference%s\n", n,
           emulated ? "; one also on qemu-m4" : "");
    if (!emulated && !testing_sanitizer_run()) skip();
}

/* ---- MEAN ---------------------------------------------------------------- */

/* Every case of data/tflm_mean_vectors.txt (axes (1, 2) of a 4-D tensor,
 * keep_dims 0 and 1, H*W 1 to 49, zero points at both ends, scale ratios
 * over five decades) through the writer, reader, lowering and interpreter,
 * against TFLite Micro's int8 MEAN (QuantizedMeanOrSum, 1 / (H * W) folded
 * into the multiplier; TFLite's older reference_integer_ops::Mean, which
 * reef ran before, divided after requantizing and missed 3 of 183 outputs
 * here by one). The first keep_dims=0 case of 16 or more pixels also on
 * qemu-m4. */
static void test_mean_match_tflm(void **state)
{
    (void)state;
    char path[1024];
    static char line[16384], hin[8192], hout[256];
    FILE *fp = open_vectors("tflm_mean_vectors.txt", path, sizeof path);
    int n = 0, outputs = 0, keep_cases[2] = {0, 0}, emulated = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        int keep, iz, oz, s[4];
        float is, os;
        if (sscanf(line, "MEAN %d %a %d %a %d %d %d %d %d %8191s %255s", &keep, &is, &iz, &os, &oz, &s[0], &s[1], &s[2],
                   &s[3], hin, hout) != 11)
            fail_msg("%s: malformed case %d", path, n + 1);
        const int in_count = s[0] * s[1] * s[2] * s[3], out_count = s[0] * s[3];
        int8_t *x = hex_bytes(hin, (size_t)in_count), *want = hex_bytes(hout, (size_t)out_count);
        if (!x || !want) fail_msg("%s: case %d has the wrong number of bytes", path, n + 1);
        reef_graph g, back;
        reef_error err;
        int64_t zi = iz, zo = oz, axes[2] = {1, 2};
        const int32_t in_shape[4] = {s[0], s[1], s[2], s[3]};
        const int32_t out_shape[4] = {s[0], keep ? 1 : s[3], 1, s[3]};
        assert_int_equal(reef_graph_init(&g, "mean", &err), 0);
        int32_t tx = reef_graph_add_tensor(&g, "x", REEF_INT8, 4, in_shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, tx, 1, &is, &zi, 0, &err), 0);
        int32_t ty = reef_graph_add_tensor(&g, "y", REEF_INT8, keep ? 4 : 2, out_shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, ty, 1, &os, &zo, 0, &err), 0);
        int32_t ins[2] = {tx, add_int_const(&g, "axes", axes, 2, 0)};
        reef_op_options o;
        reef_op_options_init(&o), o.keep_dims = keep;
        assert_true(reef_graph_add_op(&g, REEF_OP_MEAN, ins, 2, &ty, 1, &o, &err) >= 0);
        assert_int_equal(reef_graph_set_io(&g, &tx, 1, &ty, 1, &err), 0);
        reef_lowered_model m;
        round_trip_lower(&g, &back, &m, "mean", n + 1);
        assert_int_equal(back.ops[0].opt.keep_dims, keep);
        int8_t *got = malloc((size_t)out_count);
        assert_int_equal(reef_lowered_invoke(&m, x, got), 0);
        for (int i = 0; i < out_count; i++)
            if (got[i] != want[i]) fail_msg("MEAN case %d output %d: %d, TFLite Micro %d", n + 1, i, got[i], want[i]);
        if (!keep && s[1] * s[2] >= 16 && !emulated) emulated = run_targets(&m, "mean", x, 1, (size_t)in_count, want, 0);
        outputs += out_count, keep_cases[keep]++, n++;
        free(x), free(want), free(got);
        reef_lowered_free(&m), reef_graph_free(&back), reef_graph_free(&g);
    }
    fclose(fp);
    printf("  MEAN over (1, 2): %d cases (%d keep_dims=0, %d keep_dims=1), %d outputs equal TFLite Micro's reference%s\n",
           n, keep_cases[0], keep_cases[1], outputs, emulated ? "; one keep_dims=0 case also on qemu-m4" : "");
    assert_true(keep_cases[0] >= 20 && keep_cases[1] >= 20);
    if (!emulated && !testing_sanitizer_run()) skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_match_tflm),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_chain_model),
        cmocka_unit_test(test_prelu_match_tflm),
        cmocka_unit_test(test_movement_random),
        cmocka_unit_test(test_reduce_max_random),
        cmocka_unit_test(test_mean_match_tflm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
