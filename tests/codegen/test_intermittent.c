/* Intermittent execution on the host (issue 13): the runtime's resumable
 * step table (reef/resume.h) with power failures injected into the NVM
 * writes by codegen/intermittent_host.h (the campaign `reef run
 * --intermittent --target host` runs), on a small model with a residual
 * branch and on MLPerf Tiny KWS; whole steps and tiles (a budget that
 * forces tiling). After each failure the arena is poisoned (SRAM is lost)
 * and the "MCU" reboots.
 *
 * Why failing at NVM writes covers every instant: between two NVM writes
 * the NVM does not change and SRAM is lost anyway, so a failure anywhere
 * between write j and write j + 1 leaves the same state as one just before
 * write j + 1. So a failure before every write call and inside it at every
 * byte (the byte in flight torn) covers every instant of a run; the random
 * campaign adds failures during the boots that resume. */
#include "testing.h"

#include "codegen/intermittent.h"
#include "codegen/intermittent_host.h"
#include "codegen/lower.h"
#include "mlperf.h"
#include "reef/nvm.h"
#include "reef/resume.h"
#include "small_model.h"

static uint32_t rand32(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* About the STM32L4R5 at 120 MHz (25.08 mW: 0.209 nJ a cycle), a 1 ms boot,
 * FRAM at 30 MHz polled (8 nJ a byte, 40 nJ a command). */
#define FRAM_COSTS ((reef_intermittent_costs){25.08e-3 / 120e6 * 1e6, 30, 0.008, 0.04, 0.008, 0.04})

typedef struct rig {
    reef_lowered_model m;
    reef_intermittent_plan plan;
} rig;

/* The planner's options for a charge of budget uJ (0: one unit per step)
 * on FRAM written byte by byte. */
static reef_intermittent_options fram_options(double budget)
{
    reef_intermittent_options o = {0};
    o.budget_uj = budget;
    o.costs = FRAM_COSTS;
    o.write_unit = 1;
    return o;
}

/* The smallest charge (uJ) that makes progress on FRAM. */
static double fram_min_budget(const reef_lowered_model *m)
{
    reef_intermittent_options o = fram_options(0);
    return reef_intermittent_min_budget(m, &o);
}

static void rig_plan(rig *g, double budget)
{
    reef_error err = {{0}};
    reef_intermittent_options o = fram_options(budget);
    reef_intermittent_plan_free(&g->plan); /* a rig is re-planned with another budget */
    if (reef_intermittent_plan_make(&g->m, &o, &g->plan, &err)) fail_msg("%s", err.msg);
}

static void rig_free(rig *g)
{
    reef_intermittent_plan_free(&g->plan);
    reef_lowered_free(&g->m);
}

static void continuous(rig *g, const int8_t *inputs, int8_t *want, int njobs)
{
    for (int j = 0; j < njobs; j++)
        assert_int_equal(reef_lowered_invoke_bytes(&g->m, g->m.arena, inputs + (size_t)j * g->m.input_bytes,
                                                   want + (size_t)j * g->m.output_bytes),
                         0);
}

/* Plan invariant: saves after unit c never touch NVM bytes point c
 * restores (so a failure in unit c or its saves leaves point c intact). */
static int plan_idempotent(const reef_intermittent_plan *p)
{
    for (int c = 0; c < p->nunits; c++)
        for (uint32_t s = p->save_index[c + 1]; s < p->save_index[c + 2]; s++)
            for (uint32_t r = p->restore_index[c]; r < p->restore_index[c + 1]; r++) {
                const reef_span *a = &p->saves[s], *b = &p->restores[r];
                if (a->nvm_at < b->nvm_at + b->bytes && b->nvm_at < a->nvm_at + a->bytes) {
                    print_message("unit %d's save %u overlaps point %d's restore %u in NVM\n", c, s, c, r);
                    return 0;
                }
            }
    /* commits may pass points (reef/resume.h commit_now): nothing saved
     * after point p, at any later point, may touch what p restores */
    for (int pt = 0; pt <= p->nunits; pt++)
        for (uint32_t s = p->save_index[pt + 1]; s < p->save_index[p->nunits + 1]; s++)
            for (uint32_t r = p->restore_index[pt]; r < p->restore_index[pt + 1]; r++) {
                const reef_span *a = &p->saves[s], *b = &p->restores[r];
                if (a->nvm_at < b->nvm_at + b->bytes && b->nvm_at < a->nvm_at + a->bytes) {
                    print_message("save %u (after point %d) overlaps point %d's restore %u in NVM\n", s, pt, pt, r);
                    return 0;
                }
            }
    /* across jobs: the next job's point 0 saves its input while the record
     * still names this job's last point, whose restore reads the output */
    for (uint32_t s = p->save_index[0]; s < p->save_index[1]; s++)
        for (uint32_t r = p->restore_index[p->nunits]; r < p->restore_index[p->nunits + 1]; r++) {
            const reef_span *a = &p->saves[s], *b = &p->restores[r];
            if (a->nvm_at < b->nvm_at + b->bytes && b->nvm_at < a->nvm_at + a->bytes) {
                print_message("the input's save overlaps the last point's restore %u in NVM\n", r);
                return 0;
            }
        }
    return 1;
}

/* Exhaustive failure points (every byte of tensor saves too when
 * every_byte), then `random` random failures: returns the figures. */
static reef_fail_stats campaign_policy(rig *g, const int8_t *inputs, int njobs, int every_byte, long random, int stride,
                                       int policy)
{
    size_t out_bytes = (size_t)njobs * g->m.output_bytes;
    int8_t *want = malloc(out_bytes);
    continuous(g, inputs, want, njobs);
    reef_host_rig h;
    reef_error err = {{0}};
    if (reef_host_rig_init(&h, &g->m, &g->plan, inputs, njobs, want, &err)) fail_msg("%s", err.msg);
    if (policy != REEF_COMMIT_EVERY && reef_host_rig_policy(&h, policy, 99, &err)) fail_msg("%s", err.msg);
    reef_fail_stats st = {0};
    h.point_stride = stride;
    long points = reef_host_fail_exhaustive(&h, every_byte, &st, NULL, NULL, &err);
    if (points < 0) fail_msg("%s", err.msg);
    assert_int_equal(st.failures, points); /* every point lies in the run: each fired once */
    assert_int_equal(st.runs, points);
    if (random && reef_host_fail_random(&h, random, 7, &st, NULL, NULL, &err)) fail_msg("%s", err.msg);
    print_message("%d units, %ld NVM write calls (%ld to the record) and %ld bytes per %d jobs: %ld exhaustive "
                  "points + %ld random failures: %ld failures (%ld in the record, %ld torn), %ld resumes, "
                  "%ld of %ld outputs equal, %ld hangs, %.2f s\n",
                  g->plan.nunits, h.calls_per_run, h.record_calls_per_run, h.bytes_per_run, njobs, points, random,
                  st.failures, st.record_failures, st.torn, st.resumes, st.outputs - st.outputs_differing,
                  st.outputs, st.hangs, st.seconds);
    assert_true(st.failures >= points + random);
    assert_true(st.record_failures > 0 && st.torn > 0 && st.resumes > 0);
    reef_host_rig_free(&h);
    free(want);
    return st;
}

static reef_fail_stats campaign(rig *g, const int8_t *inputs, int njobs, int every_byte, long random, int stride)
{
    return campaign_policy(g, inputs, njobs, every_byte, random, stride, REEF_COMMIT_EVERY);
}

static void expect_identical(const reef_fail_stats *st)
{
    assert_int_equal(st->outputs_differing, 0);
    assert_int_equal(st->hangs, 0);
}

static int8_t *random_inputs(const rig *g, int njobs, uint64_t seed)
{
    int8_t *in = malloc((size_t)njobs * g->m.input_bytes);
    for (size_t i = 0; i < (size_t)njobs * g->m.input_bytes; i++) in[i] = (int8_t)rand32(&seed);
    return in;
}

static void lower_small(rig *g)
{
    reef_graph gr;
    reef_error err = {{0}};
    build_small(&gr, 0);
    if (reef_lower(&gr, &g->m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&gr);
}

static void test_small_model_step_units(void **state)
{
    (void)state;
    rig g = {0};
    lower_small(&g);
    rig_plan(&g, 0);
    assert_int_equal(g.plan.nunits, g.m.nsteps);
    assert_true(plan_idempotent(&g.plan));
    int8_t *in = random_inputs(&g, 3, 11);
    reef_fail_stats st = campaign(&g, in, 3, 1, testing_sanitizer_run() ? 300 : 3000, 1);
    expect_identical(&st);
    free(in);
    rig_free(&g);
}

/* A budget just above the smallest that makes progress: steps get tiled. */
static void test_small_model_tiled(void **state)
{
    (void)state;
    rig g = {0};
    lower_small(&g);
    const double min = fram_min_budget(&g.m);
    assert_true(min > 30);
    rig_plan(&g, min * 1.01);
    assert_true(g.plan.tiled_steps > 0);
    assert_true(plan_idempotent(&g.plan));
    for (int u = 0; u < g.plan.nunits; u++) assert_true(g.plan.worst_charge_uj[u] <= min * 1.01);
    int8_t *in = random_inputs(&g, 2, 12);
    reef_fail_stats st = campaign(&g, in, 2, 1, testing_sanitizer_run() ? 300 : 3000, 1);
    expect_identical(&st);
    free(in);
    /* below the minimum: a plain refusal naming the step */
    reef_intermittent_plan p;
    reef_error err = {{0}};
    reef_intermittent_options o = fram_options(min * 0.9);
    assert_int_equal(reef_intermittent_plan_make(&g.m, &o, &p, &err), -1);
    if (!strstr(err.msg, "cannot make progress") && !strstr(err.msg, "needs"))
        fail_msg("unexpected message: %s", err.msg);
    rig_free(&g);
}

/* The campaign can fail: a layout whose regions all start at the same NVM
 * byte (a unit's save overwrites what its own restore reads) is caught by
 * the invariant check and, independently, by the failures. */
static void test_mutated_layout_caught(void **state)
{
    (void)state;
    rig g = {0};
    lower_small(&g);
    rig_plan(&g, 0);
    for (int s = 0; s < g.plan.nsaves; s++) g.plan.saves[s].nvm_at = g.plan.data_at;
    for (int r = 0; r < g.plan.nrestores; r++) g.plan.restores[r].nvm_at = g.plan.data_at;
    assert_false(plan_idempotent(&g.plan));
    int8_t *in = random_inputs(&g, 1, 13);
    reef_fail_stats st = campaign(&g, in, 1, 0, 0, 1);
    assert_true(st.outputs_differing > 0);
    free(in);
    rig_free(&g);
}

/* Stale progress of another model is ignored; progress of this one resumes. */
static void test_other_model_progress_ignored(void **state)
{
    (void)state;
    rig g = {0};
    lower_small(&g);
    rig_plan(&g, 0);
    int8_t *in = random_inputs(&g, 1, 5), want[64], got[64];
    continuous(&g, in, want, 1);
    reef_host_rig h;
    reef_error err = {{0}};
    if (reef_host_rig_init(&h, &g.m, &g.plan, in, 1, want, &err)) fail_msg("%s", err.msg);
    reef_resume res;
    assert_int_equal(reef_resume_boot(&res, &h.r, &h.pw.nvm), REEF_RESUME_OK);
    assert_int_equal(res.has_progress, 1); /* the rig's failure-free run left its progress */
    h.r.model_id ^= 1;                     /* a different model flashed */
    assert_int_equal(reef_resume_boot(&res, &h.r, &h.pw.nvm), REEF_RESUME_OK);
    assert_int_equal(res.has_progress, 0);
    memset(h.arena, 0xA5, g.m.arena_size);
    assert_int_equal(reef_resume_run(&res, 0, in, got), REEF_RESUME_OK);
    assert_memory_equal(got, want, g.m.output_bytes);
    reef_host_rig_free(&h);
    free(in);
    rig_free(&g);
}

/* Commits that pass points (commit_now, reef/resume.h): a job that only
 * commits its input and output (the supply never low), and one whose
 * points commit or pass at random, per-step and tiled, every byte of every
 * write plus random failures: the continuous results. And the bytes: on
 * continuous power a job writes its input, its output and two records. */
static void test_small_model_commit_policies(void **state)
{
    (void)state;
    rig g = {0};
    lower_small(&g);
    const double min = fram_min_budget(&g.m);
    int8_t *in = random_inputs(&g, 2, 21);
    for (int tiled = 0; tiled < 2; tiled++) {
        rig_plan(&g, tiled ? min * 1.01 : 0);
        assert_true(plan_idempotent(&g.plan));
        for (int policy = REEF_COMMIT_ENDS; policy <= REEF_COMMIT_RANDOM; policy++) {
            reef_fail_stats st = campaign_policy(&g, in, 2, 1, testing_sanitizer_run() ? 200 : 2000, 1, policy);
            expect_identical(&st);
        }
        /* the failure-free run's NVM writes under ENDS: per job the input's
         * save and the output's, and two commits of the record */
        size_t want_bytes = 2 * (size_t)(g.m.input_bytes + g.m.output_bytes);
        int8_t out[2 * 64];
        continuous(&g, in, out, 2);
        reef_host_rig h;
        reef_error err = {{0}};
        if (reef_host_rig_init(&h, &g.m, &g.plan, in, 2, out, &err)) fail_msg("%s", err.msg);
        long every_bytes = h.bytes_per_run, record_bytes = 0;
        long per_commit = h.record_calls_per_run / (2 * (g.plan.nunits + 1)); /* every point commits, 2 jobs */
        assert_int_equal(per_commit * 2 * (g.plan.nunits + 1), h.record_calls_per_run);
        if (reef_host_rig_policy(&h, REEF_COMMIT_ENDS, 0, &err)) fail_msg("%s", err.msg);
        for (long k = 0; k < h.calls_per_run; k++)
            if (h.run_at[k] < h.pw.record_end) record_bytes += h.run_bytes[k];
        assert_int_equal((size_t)(h.bytes_per_run - record_bytes), want_bytes);
        assert_int_equal(h.record_calls_per_run, 2 * 2 * per_commit); /* two commits a job */
        assert_true(h.bytes_per_run < every_bytes);
        reef_host_rig_free(&h);
    }
    free(in);
    rig_free(&g);
}

/* x (1x4x4x6) -> SPLIT_V along the channels into 2, 1 and 3 -> the parts
 * in reverse order -> CONCATENATION (pack 0) or, after UNPACK along the
 * rows, PACK (pack 1) -> y: y is written in parts that interleave. */
static void lower_pieces(rig *g, int pack)
{
    reef_graph gr;
    reef_error err = {{0}};
    float scale = 0.05f;
    int64_t zp = 3;
    const int32_t shape[4] = {1, 4, 4, 6}, extents[3] = {2, 1, 3};
    const int nparts = pack ? 4 : 3, axis = pack ? 1 : 3;
    int32_t parts[4], reversed[4];
    assert_int_equal(reef_graph_init(&gr, "pieces", &err), 0);
    int32_t x = reef_graph_add_tensor(&gr, "x", REEF_INT8, 4, shape, &err);
    assert_int_equal(reef_graph_set_quant(&gr, x, 1, &scale, &zp, 0, &err), 0);
    for (int k = 0; k < nparts; k++) {
        const int32_t part_shape[4] = {1, 4, 4, extents[k % 3]}, row_shape[3] = {1, 4, 6};
        parts[k] = pack ? reef_graph_add_tensor(&gr, "row", REEF_INT8, 3, row_shape, &err)
                        : reef_graph_add_tensor(&gr, "part", REEF_INT8, 4, part_shape, &err);
        assert_int_equal(reef_graph_set_quant(&gr, parts[k], 1, &scale, &zp, 0, &err), 0);
        reversed[nparts - 1 - k] = parts[k];
    }
    int32_t y = reef_graph_add_tensor(&gr, "y", REEF_INT8, 4, shape, &err);
    assert_int_equal(reef_graph_set_quant(&gr, y, 1, &scale, &zp, 0, &err), 0);
    reef_op_options o;
    reef_op_options_init(&o), o.count = nparts, o.axis = axis;
    if (pack) {
        assert_true(reef_graph_add_op(&gr, REEF_OP_UNPACK, &x, 1, parts, nparts, &o, &err) >= 0);
        assert_true(reef_graph_add_op(&gr, REEF_OP_PACK, reversed, nparts, &y, 1, &o, &err) >= 0);
    } else {
        const int32_t one[1] = {1}, three[1] = {3}, axis_value = axis;
        int32_t sizes = reef_graph_add_tensor(&gr, "size_splits", REEF_INT32, 1, three, &err);
        int32_t at = reef_graph_add_tensor(&gr, "axis", REEF_INT32, 1, one, &err);
        assert_int_equal(reef_graph_set_data(&gr, sizes, extents, sizeof extents, &err), 0);
        assert_int_equal(reef_graph_set_data(&gr, at, &axis_value, 4, &err), 0);
        int32_t split_in[3] = {x, sizes, at};
        assert_true(reef_graph_add_op(&gr, REEF_OP_SPLIT_V, split_in, 3, parts, nparts, &o, &err) >= 0);
        assert_true(reef_graph_add_op(&gr, REEF_OP_CONCATENATION, reversed, nparts, &y, 1, &o, &err) >= 0);
    }
    assert_int_equal(reef_graph_set_io(&gr, &x, 1, &y, 1, &err), 0);
    if (reef_lower(&gr, &g->m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&gr);
}

/* CONCATENATION and PACK write their output in parts, one COPY_ROWS step
 * each, and the parts interleave: the planner puts all of them in one unit
 * (no commit point between two parts), and a later point saves and
 * restores the tensor whole. A unit per step otherwise, and the smallest
 * budget; every byte of every write failed plus random failures: the
 * continuous outputs. */
static void test_concat_and_pack(void **state)
{
    (void)state;
    for (int pack = 0; pack < 2; pack++) {
        rig g = {0};
        lower_pieces(&g, pack);
        int parts = 0;
        for (int k = 0; k < g.m.nsteps; k++) parts += g.m.steps[k].writes_part;
        assert_int_equal(parts, pack ? 4 : 3);
        int8_t *in = random_inputs(&g, 2, 31 + (uint64_t)pack);
        for (int budgeted = 0; budgeted < 2; budgeted++) {
            rig_plan(&g, budgeted ? fram_min_budget(&g.m) * 1.01 : 0);
            if (!budgeted) assert_int_equal(g.plan.nunits, g.m.nsteps - parts + 1); /* the parts in one unit */
            for (int u = 0; u + 1 < g.plan.nunits; u++) { /* no unit ends between two parts */
                const int next = g.plan.units[u + 1].step;
                assert_false(g.m.steps[next - 1].writes_part && g.m.steps[next].writes_part &&
                             g.m.steps[next - 1].output_tensor == g.m.steps[next].output_tensor);
            }
            assert_true(plan_idempotent(&g.plan));
            reef_fail_stats st = campaign(&g, in, 2, 1, testing_sanitizer_run() ? 200 : 2000, 1);
            expect_identical(&st);
        }
        free(in);
        rig_free(&g);
    }
}

static void test_kws(void **state)
{
    (void)state;
    mlperf_vector v[MLPERF_MAX_VECTORS];
    int n = mlperf_vectors(v, MLPERF_MAX_VECTORS), k = 0;
    if (!n) skip();
    while (k < n && strcmp(v[k].model, "kws")) k++;
    if (k == n) skip();
    rig g = {0};
    reef_graph gr;
    reef_error err = {{0}};
    if (reef_tflite_read(v[k].model_file, &gr, &err) || reef_lower(&gr, &g.m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&gr);
    int8_t *in = (int8_t *)mlperf_read(v[k].input_file, (size_t)g.m.input_bytes);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) {
            rig_plan(&g, 0);
        } else {
            rig_plan(&g, fram_min_budget(&g.m) * 1.02);
            assert_true(g.plan.tiled_steps > 0);
        }
        assert_true(plan_idempotent(&g.plan));
        reef_fail_stats st = campaign(&g, in, 1, 0, testing_sanitizer_run() ? 20 : 200, testing_sanitizer_run() ? 5 : 1);
        expect_identical(&st);
        st = campaign_policy(&g, in, 1, 0, testing_sanitizer_run() ? 20 : 200, testing_sanitizer_run() ? 5 : 1,
                             pass ? REEF_COMMIT_RANDOM : REEF_COMMIT_ENDS);
        expect_identical(&st);
    }
    free(in);
    rig_free(&g);
}

/* Lowers MLPerf model `name` in `mode` into g; under a budget, the steps
 * written over their input that do not fit one charge whole go back to
 * layer by layer (what reef gen --intermittent does, with the estimate's
 * step cycles): returns the layers so kept. */
static int lower_mlperf_memory(rig *g, const char *name, reef_memory_mode mode, double budget_of_fast,
                               int8_t **input)
{
    static mlperf_vector v[MLPERF_MAX_VECTORS];
    int n = mlperf_vectors(v, MLPERF_MAX_VECTORS), k = 0;
    while (k < n && strcmp(v[k].model, name)) k++;
    if (k == n) return -1;
    reef_graph gr;
    reef_error err = {{0}};
    reef_lower_options lo = {0, mode, REEF_PATCH_AUTO};
    if (reef_tflite_read(v[k].model_file, &gr, &err) || reef_lower_with(&gr, &lo, &g->m, &err)) fail_msg("%s", err.msg);
    double budget = 0;
    if (budget_of_fast > 0) {
        reef_lowered_model fast;
        if (reef_lower(&gr, &fast, &err)) fail_msg("%s", err.msg);
        budget = fram_min_budget(&fast) * budget_of_fast;
        reef_lowered_free(&fast);
    }
    char *plain = calloc((size_t)gr.ntensors, 1);
    int kept = 0;
    reef_intermittent_options o = fram_options(budget);
    for (int marked; (marked = reef_intermittent_memory_fallback(&g->m, &o, plain)) > 0;) {
        kept += marked;
        reef_lowered_free(&g->m);
        if (reef_lower_plain(&gr, &lo, plain, &g->m, &err)) fail_msg("%s", err.msg);
    }
    free(plain);
    rig_plan(g, budget);
    *input = (int8_t *)mlperf_read(v[k].input_file, (size_t)g->m.input_bytes);
    reef_graph_free(&gr);
    return kept;
}

/* --memory balanced and min (depthwise in place, ROWS chains) under the
 * resumable table: every such step is a whole unit whose input the
 * restore brings back from NVM. KWS per step (every point commits, and
 * points passed at random); at a budget that holds none of KWS's steps
 * over their input whole (all fall back to layer by layer and tile); and
 * at the smallest budget tried (1.25x steps) where some fall back and
 * some stay. */
static void test_memory_modes(void **state)
{
    (void)state;
    for (int mode = REEF_MEMORY_BALANCED; mode <= REEF_MEMORY_MIN; mode++)
        for (int pass = 0; pass < 3; pass++) {
            rig g = {0};
            int8_t *in = NULL;
            int kept = 0, over = 0;
            double of_fast = pass == 0 ? 0 : pass == 1 ? 1.02 : 1.25;
            for (;;) {
                kept = lower_mlperf_memory(&g, "kws", (reef_memory_mode)mode, of_fast, &in);
                if (kept < 0) skip();
                over = 0;
                for (int k = 0; k < g.m.nsteps; k++) over += reef_intermittent_step_in_place(&g.m.steps[k]);
                if (pass < 2 || (kept > 0 && over > 0)) break;
                assert_true(of_fast < 50);
                free(in), rig_free(&g), memset(&g, 0, sizeof g);
                of_fast *= 1.25;
            }
            print_message("kws --memory %s, budget %.2fx fast's smallest (0: per step): arena %zu B (layer by layer "
                          "%zu), %d steps over their input (%d in place, %d ROWS), %d layers fallen back, %d units, "
                          "%d tiled\n",
                          reef_memory_mode_name((reef_memory_mode)mode), of_fast, g.m.arena_size,
                          g.m.arena_layer_by_layer, over, g.m.in_place_steps, g.m.rows_steps, kept, g.plan.nunits,
                          g.plan.tiled_steps);
            if (pass == 0) assert_true(over > 0 && kept == 0);
            if (pass == 1) assert_true(kept > 0 && g.plan.tiled_steps > 0);
            /* no step over its input is ever cut */
            for (int u = 0; u < g.plan.nunits; u++)
                if (g.plan.units[u].tile_kind) assert_false(reef_intermittent_step_in_place(&g.m.steps[g.plan.units[u].step]));
            assert_true(plan_idempotent(&g.plan));
            reef_fail_stats st = campaign(&g, in, 1, 0, testing_sanitizer_run() ? 20 : 200, testing_sanitizer_run() ? 5 : 1);
            expect_identical(&st);
            st = campaign_policy(&g, in, 1, 0, testing_sanitizer_run() ? 20 : 200, testing_sanitizer_run() ? 5 : 1,
                                 REEF_COMMIT_RANDOM);
            expect_identical(&st);
            free(in);
            rig_free(&g);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_model_step_units),
        cmocka_unit_test(test_small_model_tiled),
        cmocka_unit_test(test_mutated_layout_caught),
        cmocka_unit_test(test_other_model_progress_ignored),
        cmocka_unit_test(test_small_model_commit_policies),
        cmocka_unit_test(test_concat_and_pack),
        cmocka_unit_test(test_kws),
        cmocka_unit_test(test_memory_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
