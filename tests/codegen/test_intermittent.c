/* Intermittent execution on the host (issue 13): the runtime's resumable
 * step table (reef/resume.h) with power failures injected into the NVM
 * writes, on a small model with a residual branch and on MLPerf Tiny KWS;
 * whole steps and tiles (a budget that forces tiling). After each failure
 * the arena is poisoned (SRAM is lost) and the "MCU" reboots.
 *
 * Why failing at NVM writes covers every instant: between two NVM writes
 * the NVM does not change and SRAM is lost anyway, so a failure anywhere
 * between write j and write j + 1 leaves the same state as one just before
 * write j + 1. Failing before every write call, inside each call at a
 * random byte (the byte in flight torn), and at random bytes covers them. */
#include "testing.h"

#include <setjmp.h>

#include "codegen/intermittent.h"
#include "codegen/lower.h"
#include "mlperf.h"
#include "reef/nvm.h"
#include "reef/resume.h"
#include "small_model.h"

/* ---- a host NVM that loses power ---------------------------------------- */

typedef struct power {
    uint8_t *mem;
    uint32_t size;
    long budget;    /* bytes still written before the failure; < 0 never */
    long calls, bytes;
    uint64_t rng;
    jmp_buf *off;   /* where a failure jumps (the boot loop) */
} power;

static uint32_t rand32(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static int p_read(void *ctx, uint32_t at, void *dst, uint32_t n)
{
    power *p = ctx;
    assert_true(at + n <= p->size);
    memcpy(dst, p->mem + at, n);
    return 0;
}

static int p_write(void *ctx, uint32_t at, const void *src, uint32_t n)
{
    power *p = ctx;
    const uint8_t *in = src;
    assert_true(at + n <= p->size);
    p->calls++;
    for (uint32_t i = 0; i < n; i++) {
        if (p->budget == 0) { /* the byte in flight: each bit old or new */
            uint8_t mask = (uint8_t)rand32(&p->rng);
            p->mem[at + i] = (uint8_t)((p->mem[at + i] & ~mask) | (in[i] & mask));
            p->budget = -1;
            longjmp(*p->off, 1);
        }
        if (p->budget > 0) p->budget--;
        p->mem[at + i] = in[i];
        p->bytes++;
    }
    return 0;
}

static void power_nvm(power *p, reef_nvm *nvm)
{
    memset(nvm, 0, sizeof *nvm);
    nvm->ctx = p, nvm->size = p->size, nvm->write_unit = 1;
    nvm->read = p_read, nvm->write = p_write;
}

/* About the STM32L4R5 at 120 MHz (25.08 mW: 0.209 nJ a cycle), a 1 ms boot,
 * FRAM at 30 MHz polled (8 nJ a byte, 40 nJ a command). */
#define FRAM_COSTS ((reef_intermittent_costs){25.08e-3 / 120e6 * 1e6, 30, 0.008, 0.04, 0.008, 0.04})

/* ---- running jobs through failures -------------------------------------- */

typedef struct rig {
    reef_lowered_model m;
    reef_intermittent_plan plan;
    uint8_t *arena;
    reef_resumable r;
    power pw;
    reef_nvm nvm;
} rig;

static void rig_plan(rig *g, double budget)
{
    reef_error err = {{0}};
    reef_intermittent_options o = {0};
    o.budget_uj = budget;
    /* FRAM at 30 MHz with a 25 mW MCU, about: docs/intermittent.md */
    o.costs = FRAM_COSTS;
    o.write_unit = 1;
    reef_intermittent_plan_free(&g->plan); /* a rig is re-planned with another budget */
    if (reef_intermittent_plan_make(&g->m, &o, &g->plan, &err)) fail_msg("%s", err.msg);
    g->arena = realloc(g->arena, g->m.arena_size + 4);
    reef_intermittent_resumable(&g->m, &g->plan, g->arena, &g->r);
    free(g->pw.mem);
    g->pw = (power){calloc(1, g->plan.nvm_bytes + 64), g->plan.nvm_bytes + 64, -1, 0, 0, 1, NULL};
    power_nvm(&g->pw, &g->nvm);
}

static void rig_free(rig *g)
{
    reef_intermittent_plan_free(&g->plan);
    reef_lowered_free(&g->m);
    free(g->arena);
    free(g->pw.mem);
}

/* Runs jobs 0..njobs-1 to the end, failing whenever `fail_next` says (a
 * byte budget for each boot, < 0 for none); returns the number of reboots.
 * Fails the test on a hang (more than 10000 boots). */
typedef long (*fail_fn)(void *state, int boot);

static int run_jobs(rig *g, const int8_t *inputs, int8_t *outputs, int njobs, fail_fn fail_next, void *state)
{
    jmp_buf off;
    volatile int boots = 0;
    volatile uint32_t job = 0;
    g->pw.off = &off;
    setjmp(off);
    for (;;) {
        assert_true(boots < 10000);
        memset(g->arena, 0xA5 ^ boots, g->m.arena_size); /* SRAM after a power failure */
        g->pw.budget = fail_next(state, boots++);
        reef_resume res;
        assert_int_equal(reef_resume_boot(&res, &g->r, &g->nvm), REEF_RESUME_OK);
        /* the harness's own progress: the job NVM names, else where it was */
        uint32_t j = res.has_progress ? res.job : 0;
        if (j < job) j = job;
        for (; j < (uint32_t)njobs; j++) {
            job = j;
            int rc = reef_resume_run(&res, j, inputs + (size_t)j * g->m.input_bytes,
                                     outputs + (size_t)j * g->m.output_bytes);
            assert_int_equal(rc, REEF_RESUME_OK);
        }
        g->pw.off = NULL;
        return boots - 1;
    }
}

static long never(void *state, int boot) { (void)state, (void)boot; return -1; }

typedef struct once {
    long at;
} once;
static long fail_once(void *state, int boot) { return boot == 0 ? ((once *)state)->at : -1; }

typedef struct random_fail {
    uint64_t rng;
    long span;
} random_fail;
static long fail_random(void *state, int boot)
{
    random_fail *f = state;
    (void)boot;
    return rand32(&f->rng) % 4 == 0 ? -1 : (long)(rand32(&f->rng) % (uint32_t)f->span);
}

static void continuous(rig *g, const int8_t *inputs, int8_t *want, int njobs)
{
    for (int j = 0; j < njobs; j++)
        assert_int_equal(reef_lowered_invoke_bytes(&g->m, g->arena, inputs + (size_t)j * g->m.input_bytes,
                                                   want + (size_t)j * g->m.output_bytes),
                         0);
}

/* Plan invariant: saves after unit c never touch NVM bytes point c
 * restores (so a failure in unit c or its saves leaves point c intact). */
static void check_plan_idempotent(const reef_intermittent_plan *p)
{
    for (int c = 0; c < p->nunits; c++)
        for (uint32_t s = p->save_index[c + 1]; s < p->save_index[c + 2]; s++)
            for (uint32_t r = p->restore_index[c]; r < p->restore_index[c + 1]; r++) {
                const reef_span *a = &p->saves[s], *b = &p->restores[r];
                int overlap = a->nvm_at < b->nvm_at + b->bytes && b->nvm_at < a->nvm_at + a->bytes;
                if (overlap) fail_msg("unit %d's save %u overlaps point %d's restore %u in NVM", c, s, c, r);
            }
}

/* Every failure point class on one plan; returns the cases run. */
static long failures_everywhere(rig *g, const int8_t *inputs, int njobs, long max_points, long random_cases)
{
    size_t out_bytes = (size_t)njobs * g->m.output_bytes;
    int8_t *want = malloc(out_bytes), *got = malloc(out_bytes);
    continuous(g, inputs, want, njobs);
    check_plan_idempotent(&g->plan);
    /* no failure: count the writes */
    memset(g->pw.mem, 0, g->pw.size);
    g->pw.calls = g->pw.bytes = 0;
    assert_int_equal(run_jobs(g, inputs, got, njobs, never, NULL), 0);
    assert_memory_equal(got, want, out_bytes);
    long total_bytes = g->pw.bytes, cases = 1;
    /* A failure before each byte when small, else before each of a stride
     * of bytes (every write call still gets cut at its start or inside). */
    long stride = total_bytes > max_points ? total_bytes / max_points : 1;
    for (long at = 0; at < total_bytes; at += stride, cases++) {
        memset(g->pw.mem, 0, g->pw.size);
        once o = {at};
        assert_int_equal(run_jobs(g, inputs, got, njobs, fail_once, &o), 1);
        if (memcmp(got, want, out_bytes)) fail_msg("failure at NVM byte %ld of %ld: outputs differ", at, total_bytes);
    }
    /* many failures per run, at random bytes of each boot */
    long reboots = 0;
    for (long k = 0; k < random_cases; k++, cases++) {
        memset(g->pw.mem, 0, g->pw.size);
        random_fail f = {(uint64_t)k * 7919u + 1u, total_bytes / njobs + 1};
        reboots += run_jobs(g, inputs, got, njobs, fail_random, &f);
        if (memcmp(got, want, out_bytes)) fail_msg("random case %ld: outputs differ", k);
    }
    printf("[ INFO     ] %d units, %ld NVM bytes per %d jobs: %ld failure cases (%ld reboots in random runs), "
           "all outputs equal the continuous run\n",
           g->plan.nunits, total_bytes, njobs, cases, reboots);
    free(want), free(got);
    return cases;
}

static int8_t *random_inputs(const rig *g, int njobs, uint64_t seed)
{
    int8_t *in = malloc((size_t)njobs * g->m.input_bytes);
    for (size_t i = 0; i < (size_t)njobs * g->m.input_bytes; i++) in[i] = (int8_t)rand32(&seed);
    return in;
}

static void test_small_model_step_units(void **state)
{
    (void)state;
    rig g = {0};
    reef_graph gr;
    reef_error err = {{0}};
    build_small(&gr, 0);
    if (reef_lower(&gr, &g.m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&gr);
    rig_plan(&g, 0);
    assert_int_equal(g.plan.nunits, g.m.nsteps);
    int8_t *in = random_inputs(&g, 3, 11);
    failures_everywhere(&g, in, 3, 100000, testing_sanitizer_run() ? 50 : 300);
    free(in);
    rig_free(&g);
}

/* A budget just above the smallest that makes progress: steps get tiled. */
static void test_small_model_tiled(void **state)
{
    (void)state;
    rig g = {0};
    reef_graph gr;
    reef_error err = {{0}};
    build_small(&gr, 0);
    if (reef_lower(&gr, &g.m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&gr);
    reef_intermittent_options o = {0};
    o.costs = FRAM_COSTS;
    o.write_unit = 1;
    double min = reef_intermittent_min_budget(&g.m, &o);
    assert_true(min > 30);
    rig_plan(&g, min * 1.01);
    assert_true(g.plan.tiled_steps > 0);
    for (int u = 0; u < g.plan.nunits; u++) assert_true(g.plan.worst_charge_uj[u] <= min * 1.01);
    int8_t *in = random_inputs(&g, 2, 12);
    failures_everywhere(&g, in, 2, 100000, testing_sanitizer_run() ? 50 : 300);
    free(in);
    /* below the minimum: a plain refusal naming the step */
    reef_intermittent_plan p;
    o.budget_uj = min * 0.9;
    assert_int_equal(reef_intermittent_plan_make(&g.m, &o, &p, &err), -1);
    if (!strstr(err.msg, "cannot make progress") && !strstr(err.msg, "needs"))
        fail_msg("unexpected message: %s", err.msg);
    rig_free(&g);
}

/* Stale progress of another model is ignored; progress of this one resumes. */
static void test_other_model_progress_ignored(void **state)
{
    (void)state;
    rig g = {0};
    reef_graph gr;
    reef_error err = {{0}};
    build_small(&gr, 0);
    if (reef_lower(&gr, &g.m, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&gr);
    rig_plan(&g, 0);
    int8_t *in = random_inputs(&g, 1, 5), want[64], got[64];
    continuous(&g, in, want, 1);
    once o = {40};
    assert_int_equal(run_jobs(&g, in, got, 1, fail_once, &o), 1);
    reef_resume res;
    g.r.model_id ^= 1; /* a different model flashed */
    assert_int_equal(reef_resume_boot(&res, &g.r, &g.nvm), REEF_RESUME_OK);
    assert_int_equal(res.has_progress, 0);
    assert_int_equal(reef_resume_run(&res, 0, in, got), REEF_RESUME_OK);
    assert_memory_equal(got, want, g.m.output_bytes);
    free(in);
    rig_free(&g);
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
            reef_intermittent_options o = {0};
            o.costs = FRAM_COSTS;
            o.write_unit = 1;
            rig_plan(&g, reef_intermittent_min_budget(&g.m, &o) * 1.02);
            assert_true(g.plan.tiled_steps > 0);
        }
        failures_everywhere(&g, in, 1, testing_sanitizer_run() ? 300 : 2000, testing_sanitizer_run() ? 10 : 100);
    }
    free(in);
    rig_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_model_step_units),
        cmocka_unit_test(test_small_model_tiled),
        cmocka_unit_test(test_other_model_progress_ignored),
        cmocka_unit_test(test_kws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
