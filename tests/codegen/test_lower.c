/* Lowering and the host interpreter: TFLite's parameter arithmetic, a small
 * hand-built model, unsupported-op reports, and whole-model conformance
 * with TFLite Micro's reference outputs (byte for byte) on the MLPerf Tiny
 * models, with a per-op comparison against the reference layer dumps. */
#include "mlperf.h"

#include <math.h>

#include "codegen/lower.h"
#include "codegen/qparams.h"
#include "small_model.h"
#include "util/rng.h"

/* ---- TFLite's arithmetic ------------------------------------------------ */

static void test_quantize_multiplier(void **state)
{
    (void)state;
    int32_t m, s;
    reef_quantize_multiplier(0.5, &m, &s);
    assert_int_equal(m, 1 << 30), assert_int_equal(s, 0);
    reef_quantize_multiplier(1.0, &m, &s);
    assert_int_equal(m, 1 << 30), assert_int_equal(s, 1);
    reef_quantize_multiplier(0.75, &m, &s);
    assert_int_equal(m, 1610612736), assert_int_equal(s, 0);
    reef_quantize_multiplier(0.1, &m, &s); /* 0.8 * 2^-3 */
    assert_int_equal(m, 1717986918), assert_int_equal(s, -3);
    /* q * 2^31 rounds up to 2^31: halve and shift one more. */
    reef_quantize_multiplier(1.0 - ldexp(1, -40), &m, &s);
    assert_int_equal(m, 1 << 30), assert_int_equal(s, 1);
    reef_quantize_multiplier(ldexp(1, -40), &m, &s); /* flushed to zero */
    assert_int_equal(m, 0), assert_int_equal(s, 0);
    reef_quantize_multiplier(0.0, &m, &s);
    assert_int_equal(m, 0), assert_int_equal(s, 0);
}

static void test_activation_and_softmax(void **state)
{
    (void)state;
    int32_t lo, hi;
    assert_int_equal(reef_activation_range(3, 6.0f / 255, -128, &lo, &hi), 0); /* ReLU6 */
    assert_int_equal(lo, -128), assert_int_equal(hi, 127);
    assert_int_equal(reef_activation_range(3, 0.05f, -10, &lo, &hi), 0);
    assert_int_equal(lo, -10), assert_int_equal(hi, 110);
    assert_int_equal(reef_activation_range(1, 0.05f, 5, &lo, &hi), 0); /* ReLU */
    assert_int_equal(lo, 5), assert_int_equal(hi, 127);
    assert_int_equal(reef_activation_range(0, 0.05f, 5, &lo, &hi), 0);
    assert_int_equal(lo, -128), assert_int_equal(hi, 127);
    assert_int_equal(reef_activation_range(7, 0.05f, 5, &lo, &hi), -1);

    int32_t mult, shift, diff_min;
    /* beta * scale * 2^26 = 2^22: multiplier 2^30, shift 23; radius
     * floor(31 * 2^26 / 2^23) = 248. */
    reef_softmax_scaling(1.0, 1.0 / 16, &mult, &shift, &diff_min);
    assert_int_equal(mult, 1 << 30), assert_int_equal(shift, 23), assert_int_equal(diff_min, -248);

    reef_add_quant q;
    assert_int_equal(reef_add_quantize(0.5f, 0.25f, 1.0f, &q), 0);
    assert_int_equal(q.left_shift, 20);
    assert_int_equal(q.input1_multiplier, 1 << 30), assert_int_equal(q.input1_shift, 0);   /* 0.5 */
    assert_int_equal(q.input2_multiplier, 1 << 30), assert_int_equal(q.input2_shift, -1);  /* 0.25 */
    assert_int_equal(q.output_multiplier, 1 << 30), assert_int_equal(q.output_shift, -19); /* 2^-20 */
    assert_int_equal(reef_add_quantize(0.0f, 0.25f, 1.0f, &q), -1);
}

static void test_small_model(void **state)
{
    (void)state;
    reef_graph g;
    reef_error err;
    build_small(&g, 0);
    reef_lowered_model m, plain;
    if (reef_lower(&g, &m, &err)) fail_msg("%s", err.msg);
    reef_lower_options no_reuse = {1, REEF_MEMORY_FAST, REEF_PATCH_AUTO};
    if (reef_lower_with(&g, &no_reuse, &plain, &err)) fail_msg("%s", err.msg);
    /* The reshape aliases its input: 10 ops, 9 steps. */
    assert_int_equal(m.nsteps, 9);
    assert_int_equal(m.tensor_at[g.inputs[0]], m.input_at);
    assert_int_equal(m.input_size, 128), assert_int_equal(m.output_size, 5);
    assert_true(m.arena_size >= m.arena_lower_bound);
    assert_true(m.arena_size < plain.arena_size);
    assert_int_equal(m.macs, 8 * 8 * 4 * 9 * 2 + 4 * 4 * 8 * 9 + 4 * 4 * 8 * 4 + 8 * 5);
    printf("  small model: arena %zu B, lower bound %zu B (%s), no-reuse %zu B\n", m.arena_size,
           m.arena_lower_bound, m.plan_strategy, plain.arena_size);

    /* The planned arena computes what the no-reuse layout computes, on
     * several inputs; the softmax output sums to about 256. */
    reef_rng r;
    reef_rng_seed(&r, 3);
    for (int k = 0; k < 20; k++) {
        int8_t in[128], out[5], want[5];
        for (int i = 0; i < 128; i++) in[i] = (int8_t)reef_rng_u32(&r);
        assert_int_equal(reef_lowered_invoke(&m, in, out), 0);
        assert_int_equal(reef_lowered_invoke(&plain, in, want), 0);
        assert_memory_equal(out, want, 5);
        int total = 0;
        for (int i = 0; i < 5; i++) total += out[i] + 128;
        assert_in_range(total, 250, 262);
    }
    reef_lowered_free(&m);
    reef_lowered_free(&plain);
    reef_graph_free(&g);
}

static void test_unsupported_listed(void **state)
{
    (void)state;
    reef_graph g;
    reef_error err;
    build_small(&g, 1);
    reef_lowered_model m;
    assert_int_equal(reef_lower(&g, &m, &err), -1);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "3 of 13 ops"));
    assert_non_null(strstr(err.msg, "RESIZE_NEAREST_NEIGHBOR"));
    assert_non_null(strstr(err.msg, "op 10"));
    assert_non_null(strstr(err.msg, "broadcasting"));
    assert_null(m.steps);
    reef_graph_free(&g);
}

/* ---- MLPerf Tiny conformance -------------------------------------------- */

typedef struct loaded {
    char file[1024];
    reef_graph g;
    reef_lowered_model m;
} loaded;

static void load_patched(loaded *l, const char *file, reef_memory_mode memory, int patches)
{
    reef_error err;
    reef_lower_options opt = {0, memory, patches};
    if (!strcmp(l->file, file)) return;
    if (l->file[0]) reef_lowered_free(&l->m), reef_graph_free(&l->g);
    snprintf(l->file, sizeof l->file, "%s", file);
    if (reef_tflite_read(file, &l->g, &err)) fail_msg("%s", err.msg);
    if (reef_lower_with(&l->g, &opt, &l->m, &err)) fail_msg("%s", err.msg);
}

static void load_with(loaded *l, const char *file, reef_memory_mode memory)
{
    load_patched(l, file, memory, REEF_PATCH_AUTO);
}

static void load(loaded *l, const char *file) { load_with(l, file, REEF_MEMORY_FAST); }

static void test_mlperf_vectors(void **state)
{
    (void)state;
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    int n = mlperf_vectors(v, MLPERF_MAX_VECTORS);
    if (!n) skip();
    loaded l;
    memset(&l, 0, sizeof l);
    int bad = 0, ran = 0;
    for (int i = 0; i < n; i++) {
        if (testing_sanitizer_run() && !strstr(v[i].name, "lcg0")) continue;
        load(&l, v[i].model_file);
        int8_t *in = (int8_t *)mlperf_read(v[i].input_file, (size_t)l.m.input_size);
        int8_t *want = (int8_t *)mlperf_read(v[i].output_file, (size_t)l.m.output_size);
        int8_t *out = malloc((size_t)l.m.output_size);
        assert_int_equal(reef_lowered_invoke(&l.m, in, out), 0);
        int diff = mlperf_compare(v[i].name, out, want, (size_t)l.m.output_size);
        printf("  %-12s %s\n", v[i].name, diff ? "DIFFERS" : "identical to TFLite Micro");
        bad += diff != 0, ran++;
        free(in), free(want), free(out);
    }
    if (l.file[0]) reef_lowered_free(&l.m), reef_graph_free(&l.g);
    assert_true(ran > 0);
    assert_int_equal(bad, 0);
}

/* Depthwise steps in place and ROWS chains (reef gen --memory min and
 * balanced): every shared vector of the four models (min; lcg0 under
 * balanced) still byte-identical to TFLite Micro,
 * so no step read a value an in-place step had overwritten; min puts every
 * depthwise step of KWS and VWW in place, and no mode's arena is above the
 * layer-by-layer one (balanced: only where it lowers it). */
static void test_mlperf_in_place(void **state)
{
    (void)state;
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    int n = mlperf_vectors(v, MLPERF_MAX_VECTORS);
    if (!n) skip();
    int bad = 0, ran = 0, in_place = 0;
    for (int mode = REEF_MEMORY_BALANCED; mode <= REEF_MEMORY_MIN; mode++) {
        loaded l;
        memset(&l, 0, sizeof l);
        for (int i = 0; i < n; i++) {
            /* every vector under min (ROWS steps), lcg0 under balanced */
            if ((mode != REEF_MEMORY_MIN || testing_sanitizer_run()) && !strstr(v[i].name, "lcg0")) continue;
            if (testing_sanitizer_run() && strstr(v[i].name, "vww")) continue;
            load_with(&l, v[i].model_file, (reef_memory_mode)mode);
            int8_t *in = (int8_t *)mlperf_read(v[i].input_file, (size_t)l.m.input_size);
            int8_t *want = (int8_t *)mlperf_read(v[i].output_file, (size_t)l.m.output_size);
            int8_t *out = malloc((size_t)l.m.output_size);
            assert_int_equal(reef_lowered_invoke(&l.m, in, out), 0);
            int diff = mlperf_compare(v[i].name, out, want, (size_t)l.m.output_size);
            printf("  --memory %-8s %-12s arena %6zu B (layer by layer %6zu), %2d depthwise steps in place, %d ROWS steps: %s\n",
                   reef_memory_mode_name((reef_memory_mode)mode), v[i].name, l.m.arena_size,
                   l.m.arena_layer_by_layer, l.m.in_place_steps, l.m.rows_steps, diff ? "DIFFERS" : "identical to TFLite Micro");
            assert_true(l.m.arena_size <= l.m.arena_layer_by_layer);
            if (mode == REEF_MEMORY_BALANCED && (l.m.in_place_steps || l.m.rows_steps))
                assert_true(l.m.arena_size < l.m.arena_layer_by_layer);
            if (mode == REEF_MEMORY_MIN && (strstr(v[i].name, "kws") || strstr(v[i].name, "vww")))
                assert_true(l.m.in_place_steps + l.m.rows_steps > 0);
            in_place += l.m.in_place_steps + l.m.rows_steps;
            bad += diff != 0, ran++;
            free(in), free(want), free(out);
        }
        if (l.file[0]) reef_lowered_free(&l.m), reef_graph_free(&l.g);
    }
    assert_true(ran > 0 && in_place > 0);
    assert_int_equal(bad, 0);
}

/* Patch-based stages (reef/patch.h) forced on under balanced and min:
 * every shared vector of the models with a conv / depthwise chain (kws,
 * vww, ic) byte-identical to TFLite Micro, so every patch view computes
 * the values layer by layer does; the arena printed against the plan
 * without the stage. */
static void test_mlperf_patches(void **state)
{
    (void)state;
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    int n = mlperf_vectors(v, MLPERF_MAX_VECTORS);
    if (!n) skip();
    int bad = 0, ran = 0, patched = 0;
    for (int mode = REEF_MEMORY_BALANCED; mode <= REEF_MEMORY_MIN; mode++) {
        loaded l;
        memset(&l, 0, sizeof l);
        for (int i = 0; i < n; i++) {
            if (testing_sanitizer_run() && (!strstr(v[i].name, "lcg0") || strstr(v[i].name, "vww"))) continue;
            load_patched(&l, v[i].model_file, (reef_memory_mode)mode, REEF_PATCH_FORCE);
            int8_t *in = (int8_t *)mlperf_read(v[i].input_file, (size_t)l.m.input_size);
            int8_t *want = (int8_t *)mlperf_read(v[i].output_file, (size_t)l.m.output_size);
            int8_t *out = malloc((size_t)l.m.output_size);
            assert_int_equal(reef_lowered_invoke(&l.m, in, out), 0);
            int diff = mlperf_compare(v[i].name, out, want, (size_t)l.m.output_size);
            printf("  --memory %-8s %-12s patches forced: steps %d..%d on %dx%d, arena %6zu B (without %6zu, layer by "
                   "layer %6zu), +%lld MACs: %s\n",
                   reef_memory_mode_name((reef_memory_mode)mode), v[i].name, l.m.patch_start,
                   l.m.patch_start + l.m.patch_layers - 1, l.m.patch_grid_h, l.m.patch_grid_w, l.m.arena_size,
                   l.m.arena_no_patch, l.m.arena_layer_by_layer, (long long)l.m.patch_extra_macs,
                   diff ? "DIFFERS" : "identical to TFLite Micro");
            if (!strstr(v[i].name, "ad")) {
                assert_int_equal(l.m.patch_taken, 1);
                assert_int_equal(l.m.arena_size, l.m.patch_arena);
            }
            patched += l.m.patch_taken;
            bad += diff != 0, ran++;
            free(in), free(want), free(out);
        }
        if (l.file[0]) reef_lowered_free(&l.m), reef_graph_free(&l.g);
    }
    assert_true(ran > 0 && patched > 0);
    assert_int_equal(bad, 0);
}

/* tensors.csv of a layer dump: which tensor files exist. */
static int layer_has(const char *dir, int t)
{
    char path[700];
    snprintf(path, sizeof path, "%s/t%03d.bin", dir, t);
    return access(path, R_OK) == 0;
}

/* Runs the model step by step on the planned arena and compares each step's
 * output with TFLite Micro's; prints the first op that disagrees. */
static int compare_layers(const char *model, const char *dir)
{
    loaded l;
    memset(&l, 0, sizeof l);
    char path[700];
    load(&l, model);
    reef_lowered_model *m = &l.m;
    snprintf(path, sizeof path, "%s/t%03d.bin", dir, m->input_tensor);
    uint8_t *in = mlperf_read(path, (size_t)m->input_size);
    memcpy(m->arena + m->input_at, in, (size_t)m->input_size);
    free(in);
    int first_bad = -1, checked = 0;
    for (int k = 0; k < m->nsteps && first_bad < 0; k++) {
        assert_int_equal(reef_lowered_run_steps(m, m->arena, k, 1), 0);
        int32_t t = m->steps[k].output_tensor;
        if (!layer_has(dir, t)) continue;
        snprintf(path, sizeof path, "%s/t%03d.bin", dir, t);
        uint8_t *want = mlperf_read(path, m->tensor_bytes[t]);
        char what[64];
        snprintf(what, sizeof what, "op %d %s", m->steps[k].op, reef_builtin_name(m->steps[k].builtin));
        if (mlperf_compare(what, (int8_t *)(m->arena + m->tensor_at[t]), (int8_t *)want, m->tensor_bytes[t]))
            first_bad = m->steps[k].op;
        checked++;
        free(want);
    }
    printf("  %s: %d op outputs compared, %s\n", dir, checked, first_bad < 0 ? "all identical" : "MISMATCH");
    reef_lowered_free(&l.m), reef_graph_free(&l.g);
    return first_bad < 0 && checked > 0 ? 0 : -1;
}

static void test_mlperf_layers(void **state)
{
    (void)state;
    static const char *const models[][2] = {
        {"kws", "kws_ref_model.tflite"},
        {"vww", "vww_96_int8.tflite"},
        {"ic", "pretrainedResnet_quant.tflite"},
        {"ad", "ad01_int8.tflite"},
    };
    char dir[512], model[512], rel[128];
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "models/layers/%s_lcg0", models[i][0]);
        if (!testing_shared_path(dir, sizeof dir, rel)) skip();
        snprintf(rel, sizeof rel, "models/models/%s", models[i][1]);
        if (!testing_shared_path(model, sizeof model, rel)) skip();
        if (testing_sanitizer_run() && !strcmp(models[i][0], "vww")) {
            printf("  vww not compared under the sanitizers (minutes); the Release run compares it\n");
            continue;
        }
        bad += compare_layers(model, dir) != 0;
    }
    assert_int_equal(bad, 0);
}

/* The arena next to the lower bound and TFLite Micro's smallest working
 * arena on the Cortex-M4 (../shared/models/tflm-cortex-m4/results.csv). */
static void test_mlperf_arena(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *name;
        long tflm;
    } models[] = {
        {"models/models/kws_ref_model.tflite", "kws", 22832},
        {"models/models/vww_96_int8.tflite", "vww", 100720},
        {"models/models/pretrainedResnet_quant.tflite", "ic", 55008},
        {"models/models/ad01_int8.tflite", "ad", 3024},
    };
    char path[512];
    printf("  %-4s %10s %12s %8s %12s %8s  %s\n", "", "arena B", "lower bnd B", "ratio", "TFLM-M4 B",
           "vs TFLM", "plan");
    for (int i = 0; i < 4; i++) {
        if (!testing_shared_path(path, sizeof path, models[i].file)) skip();
        loaded l;
        memset(&l, 0, sizeof l);
        load(&l, path);
        double ratio = (double)l.m.arena_size / (double)l.m.arena_lower_bound;
        printf("  %-4s %10zu %12zu %8.4f %12ld %7.1f%%  %s\n", models[i].name, l.m.arena_size,
               l.m.arena_lower_bound, ratio, models[i].tflm,
               100.0 * ((double)l.m.arena_size / (double)models[i].tflm - 1), l.m.plan_strategy);
        /* Issue 6's targets. */
        assert_true((long)l.m.arena_size < models[i].tflm);
        assert_true(ratio <= 1.05);
        reef_lowered_free(&l.m), reef_graph_free(&l.g);
        /* Issue 14's: under --memory min (ROWS steps, depthwise in place)
         * the arena, scratch included, is at most half TFLite Micro's
         * smallest on kws, vww and ic */
        memset(&l, 0, sizeof l);
        load_with(&l, path, REEF_MEMORY_MIN);
        printf("  %-4s %10zu under --memory min: %.3fx TFLite Micro's arena\n", models[i].name, l.m.arena_size,
               (double)l.m.arena_size / (double)models[i].tflm);
        if (strcmp(models[i].name, "ad")) assert_true(2 * (long)l.m.arena_size <= models[i].tflm);
        reef_lowered_free(&l.m), reef_graph_free(&l.g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_multiplier), cmocka_unit_test(test_activation_and_softmax),
        cmocka_unit_test(test_small_model),         cmocka_unit_test(test_unsupported_listed),
        cmocka_unit_test(test_mlperf_vectors),      cmocka_unit_test(test_mlperf_layers),
        cmocka_unit_test(test_mlperf_in_place),
        cmocka_unit_test(test_mlperf_patches),
        cmocka_unit_test(test_mlperf_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
