/* A whole personalization on the tiny fixture model (tests/run/fixture_run.h):
 *  - the tail cut from the int8 model computes what the int8 steps compute,
 *    through requantization, within a few output quantization steps;
 *  - the update (a sparse mask) trains: the loss falls;
 *  - the guard ("never below before") puts the old weights back when the
 *    update does not answer enough held-back frames better: the newest
 *    copy in the NVM store when there is one, else the deployed weights;
 *  - the update on qemu-m4, from generated C, gives weights bit-identical
 *    to the host's (SKIPPED without the Arm tools): the float tail over
 *    the camera's stream (the temporal session `reef gen --trainable`
 *    writes for a temporal plan), and scheme a;
 *  - the NUCLEO-L4R5ZI firmware taking records on LPUART1 links;
 *  - bad input: a site of another shape, more labelled frames than the site
 *    has or than the plan keeps, a RAM budget no plan fits: clear errors,
 *    and no file written. */
#include "testing.h"

#include <math.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../run/fixture_run.h"
#include "codegen/lower.h"
#include "personal/emit.h"
#include "personal/personal.h"
#include "personal/run.h"
#include "data/background.h"
#include "util/io.h"

typedef struct fixture {
    reef_dataset train, site;
    reef_graph g;
    reef_lowered_model m;
} fixture;

static fixture fx;
/* a firmware build run as a child process (see "the firmware jobs") */
typedef struct m4_job {
    pid_t pid;
    reef_pplan plan;
    char dir[256];
} m4_job;
static m4_job job_int8, job_board;
static void stream_job_start(void);
static void stream_job_cleanup(void);
static int skipped; /* a test could not run: exit 77, CTest says SKIPPED */
#define SKIP() do { skipped = 1; skip(); } while (0)

static int setup(void **state)
{
    (void)state;
    reef_model model;
    reef_error err;
    fixture_run_dataset(&fx.train, 96, 11);
    fixture_run_dataset(&fx.site, 40, 12);
    /* the site looks different: darker */
    uint8_t *px = (uint8_t *)fx.site.pixels;
    for (size_t i = 0; i < (size_t)fx.site.count * FIX_H * FIX_W; i++) px[i] = (uint8_t)(px[i] / 2);
    fixture_run_model(&model);
    fixture_run_train(&model, &fx.train, 3);
    fixture_run_quantize(&model, &fx.train, &fx.g);
    reef_model_free(&model);
    if (reef_lower(&fx.g, &fx.m, &err)) fail_msg("%s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* a job whose test never ran (a failure before it) */
    m4_job *jobs[2] = {&job_int8, &job_board};
    for (int i = 0; i < 2; i++)
        if (jobs[i]->pid > 0) kill(jobs[i]->pid, SIGTERM), waitpid(jobs[i]->pid, NULL, 0), jobs[i]->pid = 0;
    stream_job_cleanup();
    reef_lowered_free(&fx.m);
    reef_graph_free(&fx.g);
    reef_dataset_free(&fx.train);
    reef_dataset_free(&fx.site);
    return 0;
}

static void plan_for_scheme(reef_pplan *p, int scheme)
{
    reef_error err;
    reef_pplan_default(p);
    p->scheme = scheme;
    p->hp.epochs = 3;
    p->hp.batch_site = 4;
    p->hp.batch_replay = 4;
    p->hp.lr = 0.05f;
    p->site_cap = 16;
    p->replay_count = 8;
    reef_pplan_budget no_limits = {.clock_mhz = 120.0, .power_mw = 55.0};
    if (reef_pplan_choose(&fx.g, &fx.m, &no_limits, p, &err)) fail_msg("%s", err.msg);
}

static void plan_for(reef_pplan *p) { plan_for_scheme(p, REEF_SCHEME_FLOAT); }

/* A session on the fixture without replay: the plan (site_cap 0 keeps its
 * own), its float tail, the input map and the session over them. */
static void open_without_replay(reef_pplan *p, int site_cap, reef_ptail *t, reef_input_map *map, reef_psession *s)
{
    reef_error err;
    plan_for(p);
    p->replay_count = 0, p->hp.batch_replay = 0;
    if (site_cap) p->site_cap = site_cap;
    if (reef_ptail_build(&fx.g, &fx.m, p->boundary_step, p->train, p->ntrain, t, &err)) fail_msg("%s", err.msg);
    if (reef_input_map_from_graph(&fx.g, map, &err)) fail_msg("%s", err.msg);
    if (reef_psession_init(s, &fx.m, t, p, NULL, NULL, &err)) fail_msg("%s", err.msg);
}

/* The float tail with the deployed weights against the int8 steps: the
 * logits agree within 3 output quantization steps (requantization rounds
 * once per layer). */
static void test_tail_matches_int8(void **state)
{
    (void)state;
    reef_pplan p;
    reef_ptail t;
    reef_error err;
    plan_for(&p);
    if (reef_ptail_build(&fx.g, &fx.m, p.boundary_step, NULL, 0, &t, &err)) fail_msg("%s", err.msg);
    reef_input_map map;
    assert_int_equal(reef_input_map_from_graph(&fx.g, &map, &err), 0);
    /* the logits tensor: the fully connected step's output */
    const reef_lowered_step *fc = &fx.m.steps[t.steps[t.tail.nlayers - 1]];
    const reef_tensor *lt = &fx.g.tensors[fc->output_tensor];
    float scale = lt->scale[0];
    int32_t zp = (int32_t)lt->zero_point[0];
    uint8_t *arena = malloc(fx.m.arena_size);
    float *acts = malloc(t.tail.act_count * sizeof(float));
    int8_t boundary[4096];
    double worst = 0;
    for (uint32_t i = 0; i < fx.site.count; i++) {
        reef_input_map_apply(&map, reef_dataset_sample(&fx.site, i), (size_t)fx.m.input_size, (int8_t *)(arena + fx.m.input_at));
        assert_int_equal(reef_lowered_run_steps(&fx.m, arena, 0, t.boundary_step), 0);
        memcpy(boundary, arena + t.boundary_at, (size_t)t.tail.in_count);
        assert_int_equal(reef_lowered_run_steps(&fx.m, arena, t.boundary_step, fc - fx.m.steps - t.boundary_step + 1), 0);
        const float *logits = reef_tail_forward(&t.tail, NULL, t.params0, boundary, acts);
        const int8_t *q = (const int8_t *)(arena + fx.m.tensor_at[fc->output_tensor]);
        for (int k = 0; k < t.tail.nclasses; k++) {
            double steps = fabs((double)logits[k] / scale - (double)(q[k] - zp));
            if (steps > worst) worst = steps;
        }
    }
    printf("float tail vs int8 steps: max %.2f output steps apart\n", worst);
    assert_true(worst <= 3.0);
    free(arena);
    free(acts);
    reef_ptail_free(&t);
}

/* 3 of the 12 labelled frames are held back for the GUARD (margin 0), so
 * the qemu-m4 run checks that path bit-identical too. */
/* session 11's settings for the next run_case_refit (the qemu-m4 test sets them) */
static float case_lr_decay;
static int case_guard_replay, case_replay_groups;

static void run_case_refit(const char *target, int scheme, int balance, int refit_epochs, int margin,
                           reef_prun_report *r, int expect_ok)
{
    reef_pplan p;
    reef_error err;
    plan_for_scheme(&p, scheme);
    p.hp.balance = balance;
    p.hp.lr_decay = case_lr_decay, p.hp.guard_replay = case_guard_replay, p.replay_groups = case_replay_groups;
    /* sparse: every bias and the classifier's weights */
    for (int k = 0; k < p.ntrain; k++) p.train[k] = REEF_TRAIN_BIAS;
    p.train[p.ntrain - 1] = REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS;
    reef_prun_options o = {.model_path = "fixture", .site_path = "site", .target = target, .labelled = 12,
                           .hold_back = 3, .guard_margin = margin, .refit_epochs = refit_epochs, .draw_seed = 3,
                           .source = &fx.train, .test = &fx.train};
    int rc = reef_prun(&fx.g, &fx.m, &p, &fx.site, &o, r, &err);
    if (expect_ok && rc) fail_msg("%s", err.msg);
}

static void run_case_balanced(const char *target, int scheme, int balance, reef_prun_report *r, int expect_ok)
{
    run_case_refit(target, scheme, balance, 0, 0, r, expect_ok);
}

static void run_case_scheme(const char *target, int scheme, reef_prun_report *r, int expect_ok)
{
    run_case_balanced(target, scheme, 0, r, expect_ok);
}

static void run_case(const char *target, reef_prun_report *r, int expect_ok)
{
    run_case_scheme(target, REEF_SCHEME_FLOAT, r, expect_ok);
}

/* Class-balanced batches (hp.balance): 3 samples of class 0 among 12, in
 * a shuffled order; the positions take class 0 and class 1 in turn, each
 * class its samples in the order's sequence, wrapping round (the rarer
 * class twice per epoch); without balance the order itself. */
static void test_balanced_site_pick(void **state)
{
    (void)state;
    reef_tail tail = {.nclasses = 2};
    uint8_t labels[12] = {1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1};
    uint16_t order[12] = {5, 9, 0, 2, 11, 7, 6, 1, 3, 10, 4, 8};
    reef_personal p = {.tail = &tail, .site_labels = labels, .order = order, .site_count = 12, .site_cap = 12};
    const int32_t want[12] = {9, 5, 2, 0, 6, 11, 9, 7, 2, 1, 6, 3};
    int zeros = 0;
    for (int32_t i = 0; i < 12; i++) assert_int_equal(reef_personal_site_pick(&p, i), order[i]);
    p.hp.balance = 1;
    for (int32_t i = 0; i < 12; i++) {
        int32_t at = reef_personal_site_pick(&p, i);
        assert_int_equal(at, want[i]);
        assert_int_equal(labels[at], i % 2 == 0 ? 0 : 1);
        zeros += labels[at] == 0;
    }
    assert_int_equal(zeros, 6);
    for (int k = 0; k < 12; k++) labels[k] = 1; /* one class present: it takes every position */
    for (int32_t i = 0; i < 12; i++) assert_int_equal(reef_personal_site_pick(&p, i), order[i]);
}

/* Scheme a: the int8 tail's forward runs the deployed steps, so with the
 * deployed weights (params NULL, or params holding their trained copy) its
 * logits are the int8 model's, exactly. */
static void test_int8_tail_is_inference(void **state)
{
    (void)state;
    reef_pplan p;
    reef_ptail t;
    reef_error err;
    plan_for_scheme(&p, REEF_SCHEME_INT8);
    for (int k = 0; k < p.ntrain; k++) p.train[k] = REEF_TRAIN_BIAS | REEF_TRAIN_WEIGHTS;
    if (reef_ptail_build_scheme(&fx.g, &fx.m, REEF_SCHEME_INT8, p.boundary_step, p.train, p.ntrain, &t, &err))
        fail_msg("%s", err.msg);
    assert_non_null(t.tail.q);
    assert_int_equal(t.tail.param_count, 0); /* no second copy of the weights */
    reef_input_map map;
    assert_int_equal(reef_input_map_from_graph(&fx.g, &map, &err), 0);
    const reef_lowered_step *last = &fx.m.steps[t.steps[t.tail.nlayers - 1]];
    const reef_tensor *lt = &fx.g.tensors[last->output_tensor];
    uint8_t *arena = malloc(fx.m.arena_size);
    float *acts = malloc(t.tail.act_count * sizeof(float)), *params = malloc(t.tail.train_count * sizeof(float));
    int8_t boundary[4096];
    reef_tail_deployed(&t.tail, NULL, params);
    for (uint32_t i = 0; i < fx.site.count; i++) {
        reef_input_map_apply(&map, reef_dataset_sample(&fx.site, i), (size_t)fx.m.input_size, (int8_t *)(arena + fx.m.input_at));
        assert_int_equal(reef_lowered_run_steps(&fx.m, arena, 0, t.boundary_step), 0);
        memcpy(boundary, arena + t.boundary_at, (size_t)t.tail.in_count);
        assert_int_equal(reef_lowered_run_steps(&fx.m, arena, t.boundary_step, last - fx.m.steps - t.boundary_step + 1), 0);
        const int8_t *q = (const int8_t *)(arena + fx.m.tensor_at[last->output_tensor]);
        for (int pass = 0; pass < 2; pass++) {
            const float *logits = reef_tail_forward(&t.tail, pass ? params : NULL, NULL, boundary, acts);
            for (int k = 0; k < t.tail.nclasses; k++)
                assert_true(logits[k] == lt->scale[0] * (float)(q[k] - (int32_t)lt->zero_point[0]));
        }
    }
    free(arena), free(acts), free(params);
    reef_ptail_free(&t);
}

static void test_int8_update_on_host(void **state)
{
    (void)state;
    reef_prun_report r;
    run_case_scheme("host", REEF_SCHEME_INT8, &r, 1);
    printf("int8 host: loss %.4f -> %.4f, site %d/%d -> %d/%d, %u trained of %u\n", (double)r.first_loss,
           (double)r.last_loss, r.site.int8_correct, r.site.count, r.site.after_correct, r.site.count, r.trainable,
           r.param_count);
    assert_true(r.last_loss < r.first_loss);
    assert_true(r.trainable > 0 && r.trainable < r.param_count); /* sparse */
    reef_prun_report_free(&r);
}

/* The plan file carries the scheme: an int8 plan reads back as int8, a
 * float plan is written without the key (files from before are unchanged). */
static void test_plan_file_scheme(void **state)
{
    (void)state;
    char dir[256], path[300];
    reef_pplan p, back;
    reef_error err;
    testing_tmpdir(dir, sizeof dir, "personal-plan");
    snprintf(path, sizeof path, "%s/p.plan", dir);
    for (int scheme = REEF_SCHEME_FLOAT; scheme <= REEF_SCHEME_INT8; scheme++) {
        plan_for_scheme(&p, scheme);
        if (reef_pplan_save(path, &p, "m.tflite", &err)) fail_msg("%s", err.msg);
        if (reef_pplan_load(path, &back, &err)) fail_msg("%s", err.msg);
        assert_int_equal(back.scheme, scheme);
        assert_int_equal(back.boundary_step, p.boundary_step);
        FILE *fp = fopen(path, "r");
        char text[4096];
        size_t n = fread(text, 1, sizeof text - 1, fp);
        text[n] = '\0';
        fclose(fp);
        assert_true((strstr(text, "\nscheme int8\n") != NULL) == (scheme == REEF_SCHEME_INT8));
        if (scheme == REEF_SCHEME_INT8) assert_true(back.hp.momentum == 0.0f);
        assert_int_equal(back.refit_epochs, p.refit_epochs);
        assert_true((strstr(text, "\nrefit_epochs ") != NULL) == (p.refit_epochs > 0));
        /* session 11's keys round-trip; the planner's default replay is by habitat */
        assert_int_equal(p.replay_groups, 1);
        assert_int_equal(back.replay_groups, 1);
    }
    /* a plan file without replay_groups (before session 11) keeps its
     * class-balanced replay, and the new keys read back */
    plan_for(&p);
    p.replay_groups = 0, p.hp.lr_decay = 0.5f, p.hp.guard_replay = 3, p.hp.guard_forget = 1, p.temporal = 1;
    if (reef_pplan_save(path, &p, "m.tflite", &err)) fail_msg("%s", err.msg);
    if (reef_pplan_load(path, &back, &err)) fail_msg("%s", err.msg);
    assert_int_equal(back.replay_groups, 0);
    assert_int_equal(back.temporal, 1); /* session 13 */
    assert_true(back.hp.lr_decay == 0.5f);
    assert_int_equal(back.hp.guard_replay, 3);
    assert_int_equal(back.hp.guard_forget, 1);
    /* a guard holding every replay sample leaves the steps none: refused */
    FILE *fp = fopen(path, "a");
    fprintf(fp, "guard_replay %d\n", p.replay_count);
    fclose(fp);
    assert_int_not_equal(reef_pplan_load(path, &back, &err), 0);
    assert_non_null(strstr(err.msg, "guard_replay"));
    /* session 16: distill and distill_t round-trip (written only when on,
     * so a plan without them trains on hard labels; flash counts the
     * teacher logits), and bad values are refused */
    plan_for(&p);
    p.hp.distill = 0.0f;
    if (reef_pplan_save(path, &p, "m.tflite", &err) || reef_pplan_load(path, &back, &err)) fail_msg("%s", err.msg);
    assert_true(back.hp.distill == 0.0f && back.hp.distill_t == 1.0f);
    p.hp.distill = 0.5f, p.hp.distill_t = 2.0f;
    if (reef_pplan_save(path, &p, "m.tflite", &err) || reef_pplan_load(path, &back, &err)) fail_msg("%s", err.msg);
    assert_true(back.hp.distill == 0.5f && back.hp.distill_t == 2.0f);
    {
        reef_ptail t;
        reef_pplan off = p;
        off.hp.distill = 0.0f;
        if (reef_ptail_build(&fx.g, &fx.m, p.boundary_step, p.train, p.ntrain, &t, &err)) fail_msg("%s", err.msg);
        reef_pplan_cost(&p, &fx.m, &t, NULL), reef_pplan_cost(&off, &fx.m, &t, NULL);
        assert_int_equal(p.flash_update - off.flash_update, (uint32_t)p.replay_count * (uint32_t)t.tail.nclasses * 4u);
        reef_ptail_free(&t);
    }
    static const char *const bad[] = {"distill 1.5\n", "distill -0.25\n", "distill_t 0\n", "distill_t -2\n",
                                      "distill x\n", "distill 0.5\nbatch_replay 0\n", "distill 0.5\nscheme int8\nmomentum 0\n",
                                      "distill 0.5\nreplay 0\nbatch_replay 0\n"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        plan_for(&p);
        if (reef_pplan_save(path, &p, "m.tflite", &err)) fail_msg("%s", err.msg);
        fp = fopen(path, "a");
        fputs(bad[k], fp);
        fclose(fp);
        if (reef_pplan_load(path, &back, &err) == 0) fail_msg("plan with '%s' was accepted", bad[k]);
        assert_non_null(strstr(err.msg, path));
        assert_non_null(strstr(err.msg, "distill"));
    }
    testing_rm_tree(dir);
}

/* The planner adds refit epochs (up to 3 since session 11, with 8 replay
 * samples per step) only while the whole update's estimate fits the time
 * and energy budget, and never changes the cut or mask for them: without
 * limits the float plan gets 3 (scheme a none); with an energy budget between its
 * estimates with 2 and 3 refit epochs, 2, at the same cut, and the
 * estimate stays within the budget. */
static void test_plan_refit_within_budget(void **state)
{
    (void)state;
    reef_pplan free_plan, tight;
    reef_error err;
    plan_for_scheme(&free_plan, REEF_SCHEME_INT8);
    assert_int_equal(free_plan.refit_epochs, 0);
    plan_for(&free_plan);
    assert_int_equal(free_plan.refit_epochs, 3);
    assert_int_equal(free_plan.hp.batch_replay, 8);
    reef_ptail t;
    if (reef_ptail_build(&fx.g, &fx.m, free_plan.boundary_step, free_plan.train, free_plan.ntrain, &t, &err))
        fail_msg("%s", err.msg);
    double seconds[5];
    for (int e = 0; e <= 4; e++) {
        reef_pplan q = free_plan;
        q.refit_epochs = e;
        reef_pplan_cost(&q, &fx.m, &t, NULL);
        seconds[e] = q.cycles_update / 120e6;
        if (e > 1) assert_true(seconds[e] > seconds[e - 1]); /* each refit epoch costs */
    }
    reef_ptail_free(&t);
    /* the same starting plan (plan_for's), a budget between 2 and 3 refit epochs */
    double joules = (seconds[2] + seconds[3]) / 2 * 55.0 * 1e-3;
    reef_pplan_default(&tight);
    tight.hp.epochs = 3, tight.hp.batch_site = 4, tight.hp.batch_replay = 4, tight.hp.lr = 0.05f;
    tight.site_cap = 16, tight.replay_count = 8;
    reef_pplan_budget b = {.clock_mhz = 120.0, .power_mw = 55.0, .max_joules = joules};
    if (reef_pplan_choose(&fx.g, &fx.m, &b, &tight, &err)) fail_msg("%s", err.msg);
    printf("refit: %d epochs within %.3g J (2: %.3g s, 3: %.3g s)\n", tight.refit_epochs, joules, seconds[2],
           seconds[3]);
    assert_int_equal(tight.boundary_step, free_plan.boundary_step);
    assert_int_equal(tight.refit_epochs, 2);
    assert_int_equal(tight.hp.batch_replay, 8);
    assert_true(tight.cycles_update / 120e6 * 55.0 * 1e-3 <= joules);
}

/* ---- the firmware jobs --------------------------------------------------
 * The three M4 checks each build a firmware (arm-none-eabi-gcc over the
 * whole runtime: about 8 s of CPU each on a quiet machine, most of this
 * test's time; a loaded full run once took 280 s). Scheme a on qemu-m4 and
 * the NUCLEO-L4R5ZI build start as child processes at the group's first
 * test (fork: each inherits the fixture and its plan, computed in the
 * parent), so they overlap the host tests and the float qemu-m4 run; their
 * tests wait for them and assert what the child found. A child never
 * calls cmocka: it reports by its exit status. */

/* Scheme a on qemu-m4: the weights (int8 and int32 bytes) trained on the
 * emulated M4 equal the host's bit for bit (reef_prun fails otherwise). */
static int int8_job(m4_job *j)
{
    reef_prun_report r;
    reef_error err;
    reef_prun_options o = {.model_path = "fixture", .site_path = "site", .target = "qemu-m4", .labelled = 12,
                           .hold_back = 3, .draw_seed = 3, .source = &fx.train, .test = &fx.train};
    if (reef_prun(&fx.g, &fx.m, &j->plan, &fx.site, &o, &r, &err)) return fprintf(stderr, "int8 qemu-m4: %s\n", err.msg), 1;
    int ok = r.emulated && r.bit_identical && r.update_insns > 0 && r.flash_params0 == 0;
    printf("int8 qemu-m4: emulated %d, bit-identical %d, %llu update instructions\n", r.emulated, r.bit_identical,
           (unsigned long long)r.update_insns);
    reef_prun_report_free(&r);
    return !ok;
}

/* The NUCLEO-L4R5ZI firmware that takes its records on LPUART1 builds and
 * links for the chip (no board needed; running it needs one). */
static int board_job(m4_job *j)
{
    reef_prun_report r;
    reef_error err;
    reef_prun_options o = {.model_path = "fixture", .site_path = "site", .target = "stm32l4r5", .work = j->dir,
                           .labelled = 12, .draw_seed = 3, .source = &fx.train};
    if (reef_prun(&fx.g, &fx.m, &j->plan, &fx.site, &o, &r, &err)) return fprintf(stderr, "board: %s\n", err.msg), 1;
    int ok = r.board_built && !r.board_ran && access(r.board_elf, R_OK) == 0;
    reef_prun_report_free(&r);
    return !ok;
}

static void job_start(m4_job *j, int (*run)(m4_job *))
{
    fflush(stdout), fflush(stderr);
    j->pid = fork();
    assert_true(j->pid >= 0);
    if (j->pid == 0) {
        int rc = run(j);
        fflush(stdout), fflush(stderr);
        _exit(rc); /* no atexit handlers (cmocka's, the leak checker's): the parent owns them */
    }
}

static void job_wait(m4_job *j)
{
    int status;
    assert_true(j->pid > 0);
    assert_int_equal(waitpid(j->pid, &status, 0), j->pid);
    j->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_m4_jobs_start(void **state)
{
    (void)state;
    if (!testing_have_arm_tools() || !testing_source_dir()) return; /* their tests skip */
    plan_for_scheme(&job_int8.plan, REEF_SCHEME_INT8);
    /* sparse: every bias and the classifier's weights */
    for (int k = 0; k < job_int8.plan.ntrain; k++) job_int8.plan.train[k] = REEF_TRAIN_BIAS;
    job_int8.plan.train[job_int8.plan.ntrain - 1] = REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS;
    plan_for(&job_board.plan);
    testing_tmpdir(job_board.dir, sizeof job_board.dir, "personal-board");
    stream_job_start();
    job_start(&job_int8, int8_job);
    job_start(&job_board, board_job);
}

static void test_int8_qemu_bit_identical(void **state)
{
    (void)state;
    if (!testing_have_arm_tools() || !testing_source_dir()) SKIP();
    job_wait(&job_int8);
}

static void test_update_on_host(void **state)
{
    (void)state;
    reef_prun_report r;
    run_case("host", &r, 1);
    printf("host: loss %.4f -> %.4f, site %d/%d -> %d/%d\n", (double)r.first_loss, (double)r.last_loss,
           r.site.int8_correct, r.site.count, r.site.after_correct, r.site.count);
    assert_true(r.last_loss < r.first_loss);
    assert_true(r.trainable < r.param_count); /* sparse */
    assert_int_equal(r.hold_back, 3);
    assert_true(r.held_correct_after >= 0 && r.held_correct_after <= 3);
    reef_prun_report_free(&r);
}

/* A margin above the held-back count cannot be met: the device must put
 * the old (deployed) weights back and answer with its int8 model, so
 * "after" equals the int8 model on every frame of the site and of the
 * test split (session 11; the float tail's "before" can differ by a
 * frame). */
static void test_guard_puts_old_back(void **state)
{
    (void)state;
    reef_pplan p;
    reef_error err;
    reef_prun_report r;
    plan_for(&p);
    for (int k = 0; k < p.ntrain; k++) p.train[k] = REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS;
    reef_prun_options o = {.model_path = "fixture", .site_path = "site", .target = "host", .labelled = 12,
                           .hold_back = 4, .guard_margin = 5, .draw_seed = 3, .source = &fx.train,
                           .test = &fx.train};
    if (reef_prun(&fx.g, &fx.m, &p, &fx.site, &o, &r, &err)) fail_msg("%s", err.msg);
    printf("guard: held back %d, correct after %d, before %d, kept %d\n", r.hold_back, r.held_correct_after,
           r.held_correct_before, r.guard_kept);
    assert_int_equal(r.guard_kept, 0);
    assert_true(r.last_loss < r.first_loss); /* it did train */
    assert_int_equal(r.site.after_correct, r.site.int8_correct); /* the deployed int8 model answers */
    assert_int_equal(r.test.after_correct, r.test.int8_correct);
    reef_prun_report_free(&r);
}

/* REFIT after a GUARD that kept the update: the held-back samples join
 * the training samples (all of them, in the bottom of the site buffer,
 * none overwritten on the way), and the STEPs after it train again. A
 * GUARD before any STEP compares equal parameters: a tie, kept. */
static void test_refit_moves_held_back(void **state)
{
    (void)state;
    reef_pplan p;
    reef_ptail t;
    reef_input_map map;
    reef_psession s;
    open_without_replay(&p, 12, &t, &map, &s); /* full: the held-back block touches the training block */
    int32_t n = t.tail.in_count;
    int8_t rec[4096] = {0}, out[REEF_PERSONAL_OUT];
    assert_true(reef_precord_size(&fx.m) <= sizeof rec);
    int8_t *expect = malloc((size_t)12 * n);
    uint8_t expect_labels[12];
    for (int i = 0; i < 12; i++) { /* 5 held back, 7 trained */
        int held = i % 2 == 1 && i < 10;
        rec[0] = held ? REEF_PERSONAL_HOLD : REEF_PERSONAL_ADD;
        rec[1] = (int8_t)fx.site.labels[i];
        reef_input_map_apply(&map, reef_dataset_sample(&fx.site, i), (size_t)fx.m.input_size, rec + REEF_PERSONAL_HEADER);
        assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    }
    assert_int_equal(s.p.site_count, 7);
    assert_int_equal(s.p.hold_count, 5);
    /* what REFIT must leave: the 7 trained, then the held-back block as it lies */
    memcpy(expect, s.p.site, (size_t)7 * n);
    memcpy(expect + (size_t)7 * n, s.p.site + (size_t)7 * n, (size_t)5 * n);
    memcpy(expect_labels, s.p.site_labels, 12);
    memset(rec, 0, REEF_PERSONAL_HEADER);
    rec[0] = REEF_PERSONAL_GUARD;
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    assert_int_equal(out[0], 1); /* equal parameters: kept */
    /* the buffer is full: the held-back block already starts at
     * site_count (the gap case follows) */
    rec[0] = REEF_PERSONAL_REFIT;
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    assert_int_equal(out[0], 12);
    assert_int_equal(s.p.site_count, 12);
    assert_int_equal(s.p.hold_count, 0);
    assert_memory_equal(s.p.site, expect, (size_t)12 * n);
    assert_memory_equal(s.p.site_labels, expect_labels, 12);
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 2); /* nothing held back any more */
    /* a gap between the blocks: 3 trained, 6 held back in a buffer of 12 */
    rec[0] = REEF_PERSONAL_RESET;
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    for (int i = 0; i < 9; i++) {
        rec[0] = i < 3 ? REEF_PERSONAL_ADD : REEF_PERSONAL_HOLD;
        rec[1] = (int8_t)fx.site.labels[i];
        reef_input_map_apply(&map, reef_dataset_sample(&fx.site, i), (size_t)fx.m.input_size, rec + REEF_PERSONAL_HEADER);
        assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    }
    memcpy(expect, s.p.site, (size_t)3 * n);
    memcpy(expect + (size_t)3 * n, s.p.site + (size_t)6 * n, (size_t)6 * n); /* top block: slots 6..11 */
    memcpy(expect_labels, s.p.site_labels, 3);
    memcpy(expect_labels + 3, s.p.site_labels + 6, 6);
    memset(rec, 0, REEF_PERSONAL_HEADER);
    rec[0] = REEF_PERSONAL_GUARD;
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    assert_int_equal(out[0], 1);
    rec[0] = REEF_PERSONAL_REFIT;
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    assert_int_equal(out[0], 9);
    assert_memory_equal(s.p.site, expect, (size_t)9 * n);
    assert_memory_equal(s.p.site_labels, expect_labels, 9);
    /* the STEPs after it train on all 9: one epoch is ceil(9 / batch) steps */
    assert_int_equal(reef_personal_steps_per_epoch(&s.p), (9 + p.hp.batch_site - 1) / p.hp.batch_site);
    float *before = malloc((size_t)t.tail.train_count * 4);
    memcpy(before, s.p.params, (size_t)t.tail.train_count * 4);
    rec[0] = REEF_PERSONAL_STEP;
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    assert_true(memcmp(before, s.p.params, (size_t)t.tail.train_count * 4) != 0);
    free(before);
    free(expect);
    reef_psession_free(&s);
    reef_ptail_free(&t);
}

/* A refused update stays refused: REFIT and the STEPs after it change
 * nothing, so "after" is still "before" on every frame. */
static void test_refit_after_refusal_is_nothing(void **state)
{
    (void)state;
    reef_prun_report r;
    run_case_refit("host", REEF_SCHEME_FLOAT, 0, 2, 4, &r, 1); /* margin 4 > 3 held back: refused */
    assert_int_equal(r.guard_kept, 0);
    assert_true(r.refit_steps > 0);
    assert_int_equal(r.site.after_correct, r.site.int8_correct); /* the deployed int8 model answers */
    assert_int_equal(r.test.after_correct, r.test.int8_correct);
    reef_prun_report_free(&r);
}

/* A session on the fixture for the record-level tests below: the plan's
 * tail, the site's first n frames added (HOLD for the last hold of them)
 * with their labels, flipped when flip is set. */
typedef struct small_session {
    reef_ptail t;
    reef_psession s;
    reef_input_map map;
    int8_t *replay;
    uint8_t *replay_labels;
} small_session;

static void small_session_open(small_session *ss, const reef_pplan *p, int n, int hold, int flip)
{
    reef_error err;
    memset(ss, 0, sizeof *ss);
    if (reef_ptail_build(&fx.g, &fx.m, p->boundary_step, p->train, p->ntrain, &ss->t, &err)) fail_msg("%s", err.msg);
    if (reef_input_map_from_graph(&fx.g, &ss->map, &err)) fail_msg("%s", err.msg);
    if (p->replay_count > 0) {
        ss->replay = malloc((size_t)p->replay_count * (size_t)ss->t.tail.in_count);
        ss->replay_labels = malloc((size_t)p->replay_count);
        if (reef_replay_build(&fx.g, &fx.m, &ss->t, &fx.train, p->replay_count, p->hp.seed, p->replay_groups, ss->replay,
                              ss->replay_labels, &err))
            fail_msg("%s", err.msg);
    }
    if (reef_psession_init(&ss->s, &fx.m, &ss->t, p, ss->replay, ss->replay_labels, &err)) fail_msg("%s", err.msg);
    int8_t rec[4096] = {0}, out[REEF_PERSONAL_OUT];
    assert_true(reef_precord_size(&fx.m) <= sizeof rec);
    for (int i = 0; i < n; i++) {
        rec[0] = i >= n - hold ? REEF_PERSONAL_HOLD : REEF_PERSONAL_ADD;
        rec[1] = (int8_t)(flip ? 1 - fx.site.labels[i] : fx.site.labels[i]);
        reef_input_map_apply(&ss->map, reef_dataset_sample(&fx.site, i), (size_t)fx.m.input_size, rec + REEF_PERSONAL_HEADER);
        assert_int_equal(reef_personal_record(&ss->s.p, rec, out, sizeof out), 0);
    }
}

static void small_session_close(small_session *ss)
{
    reef_psession_free(&ss->s);
    reef_ptail_free(&ss->t);
    free(ss->replay);
    free(ss->replay_labels);
}

static int send_command(small_session *ss, int command, int8_t *out)
{
    int8_t rec[4096] = {(int8_t)command};
    return reef_personal_record(&ss->s.p, rec, out, REEF_PERSONAL_OUT);
}

static void run_epochs(small_session *ss, int epochs)
{
    int8_t out[REEF_PERSONAL_OUT];
    int steps = epochs * reef_personal_steps_per_epoch(&ss->s.p);
    for (int k = 0; k < steps; k++) assert_int_equal(send_command(ss, REEF_PERSONAL_STEP, out), 0);
}

/* hp.lr_decay: the e-th epoch (counted since RESET, across REFIT) trains
 * at lr * decay^e. A session at lr 0.2 with decay 0.5 equals, bit for bit,
 * one at a constant lr set by hand to 0.2, 0.1 (after one epoch) and 0.05
 * (after the REFIT) (0.5 scales a float exactly), and differs from one left
 * at 0.2. */
static void test_lr_decay_per_epoch(void **state)
{
    (void)state;
    reef_pplan p;
    plan_for(&p);
    p.hp.lr = 0.2f;
    p.replay_count = 0, p.hp.batch_replay = 0;
    small_session decayed, by_hand, constant;
    p.hp.lr_decay = 0.5f;
    small_session_open(&decayed, &p, 12, 4, 0);
    p.hp.lr_decay = 0.0f;
    small_session_open(&by_hand, &p, 12, 4, 0);
    small_session_open(&constant, &p, 12, 4, 0);
    size_t bytes = (size_t)decayed.t.tail.train_count * 4;
    run_epochs(&decayed, 1), run_epochs(&by_hand, 1), run_epochs(&constant, 1);
    assert_memory_equal(decayed.s.p.params, constant.s.p.params, bytes); /* epoch 0: lr itself */
    by_hand.s.p.hp.lr = 0.1f;
    run_epochs(&decayed, 1), run_epochs(&by_hand, 1), run_epochs(&constant, 1);
    assert_int_equal(decayed.s.p.epoch, 2);
    assert_memory_equal(decayed.s.p.params, by_hand.s.p.params, bytes);
    assert_true(memcmp(decayed.s.p.params, constant.s.p.params, bytes) != 0);
    int8_t out[REEF_PERSONAL_OUT];
    int8_t guard[4096] = {REEF_PERSONAL_GUARD};
    assert_int_equal(reef_personal_record(&decayed.s.p, guard, out, REEF_PERSONAL_OUT), 0);
    int kept = out[0];
    assert_int_equal(reef_personal_record(&by_hand.s.p, guard, out, REEF_PERSONAL_OUT), 0);
    assert_int_equal(out[0], kept);
    if (kept) { /* the refit's epoch is the third: 0.05 */
        assert_int_equal(send_command(&decayed, REEF_PERSONAL_REFIT, out), 0);
        assert_int_equal(send_command(&by_hand, REEF_PERSONAL_REFIT, out), 0);
        by_hand.s.p.hp.lr = 0.05f;
        run_epochs(&decayed, 1), run_epochs(&by_hand, 1);
        assert_int_equal(decayed.s.p.epoch, 3);
        assert_memory_equal(decayed.s.p.params, by_hand.s.p.params, bytes);
    }
    assert_int_equal(send_command(&decayed, REEF_PERSONAL_RESET, out), 0);
    assert_int_equal(decayed.s.p.epoch, 0);
    small_session_close(&decayed), small_session_close(&by_hand), small_session_close(&constant);
}

/* Session 16, weight averaging. A flash-like backend: a write only clears
 * bits (programming), an erase sets whole 256-byte pages to 0xFF; it
 * starts dirty (0x00), so a snapshot written without its erase reads back
 * as zeros. */
typedef struct test_flash {
    uint8_t mem[16384];
    int erases;
} test_flash;
static int flash_read(void *ctx, uint32_t at, void *dst, uint32_t bytes)
{
    memcpy(dst, ((test_flash *)ctx)->mem + at, bytes);
    return 0;
}
static int flash_write(void *ctx, uint32_t at, const void *src, uint32_t bytes)
{
    for (uint32_t i = 0; i < bytes; i++) ((test_flash *)ctx)->mem[at + i] &= ((const uint8_t *)src)[i];
    return 0;
}
static int flash_erase(void *ctx, uint32_t at, uint32_t bytes)
{
    memset(((test_flash *)ctx)->mem + at, 0xFF, bytes);
    ((test_flash *)ctx)->erases += (int)(bytes / 256);
    return 0;
}

/* SNAP after epochs 1 and 2, AVERAGE after epoch 3: the parameters are
 * (p1 + p2 + p3) / 3 of the same session's parameters after each epoch,
 * computed here in float in that order; on the memory backend (the host's)
 * and on the flash-like one, twice (the second round must erase again). */
static void test_average_is_mean_of_epochs(void **state)
{
    (void)state;
    reef_pplan p;
    plan_for(&p);
    p.replay_count = 0, p.hp.batch_replay = 0, p.hp.lr = 0.2f, p.average = 3;
    small_session plain, mem, fl;
    small_session_open(&plain, &p, 12, 0, 0);
    small_session_open(&mem, &p, 12, 0, 0);
    small_session_open(&fl, &p, 12, 0, 0);
    uint32_t n = plain.t.tail.train_count;
    assert_int_equal(mem.s.p.avg_slots, 2);
    assert_true(n * 4 * 2 <= 16384 - 512);
    static test_flash flash;
    memset(&flash, 0, sizeof flash);
    reef_nvm fnvm = {.ctx = &flash, .size = sizeof flash.mem, .write_unit = 8, .erase_size = 256,
                     .read = flash_read, .write = flash_write, .erase = flash_erase};
    fl.s.p.avg = &fnvm, fl.s.p.avg_at = 256, fl.s.p.avg_slots = 2;
    float *snap[3], *expect = malloc(n * 4);
    int8_t out[REEF_PERSONAL_OUT];
    for (int e = 0; e < 3; e++) snap[e] = malloc(n * 4);
    for (int round = 0; round < 2; round++) {
        for (int e = 0; e < 3; e++) {
            run_epochs(&plain, 1), run_epochs(&mem, 1), run_epochs(&fl, 1);
            memcpy(snap[e], plain.s.p.params, n * 4);
            if (e < 2) {
                assert_int_equal(send_command(&mem, REEF_PERSONAL_SNAP, out), 0);
                assert_int_equal(out[0], e + 1);
                assert_int_equal(send_command(&fl, REEF_PERSONAL_SNAP, out), 0);
            }
        }
        assert_int_equal(send_command(&fl, REEF_PERSONAL_SNAP, out), 2); /* a third: every slot full */
        assert_int_equal(send_command(&mem, REEF_PERSONAL_SNAP, out), 2);
        assert_int_equal(send_command(&mem, REEF_PERSONAL_AVERAGE, out), 0);
        assert_int_equal(out[0], 3);
        assert_int_equal(send_command(&fl, REEF_PERSONAL_AVERAGE, out), 0);
        for (uint32_t k = 0; k < n; k++) expect[k] = (snap[0][k] + snap[1][k] + snap[2][k]) / 3.0f;
        assert_memory_equal(mem.s.p.params, expect, n * 4);
        assert_memory_equal(fl.s.p.params, expect, n * 4);
        assert_true(memcmp(expect, snap[2], n * 4) != 0); /* it moved the weights */
        memcpy(plain.s.p.params, expect, n * 4); /* the next round trains on from the average */
        assert_int_equal(mem.s.p.avg_count, 0);
    }
    /* round 1 erased pages 1.. up to the slots' end, round 2 the same again */
    assert_int_equal(flash.erases, 2 * (int)((256 + 2 * ((n * 4 + 7) / 8 * 8) + 255) / 256 - 1));
    /* nothing to average: out 1, params unchanged */
    memcpy(expect, mem.s.p.params, n * 4);
    assert_int_equal(send_command(&mem, REEF_PERSONAL_AVERAGE, out), 0);
    assert_int_equal(out[0], 1);
    assert_memory_equal(mem.s.p.params, expect, n * 4);
    /* no area: SNAP refused */
    plain.s.p.avg = NULL;
    assert_int_equal(send_command(&plain, REEF_PERSONAL_SNAP, out), 2);
    for (int e = 0; e < 3; e++) free(snap[e]);
    free(expect);
    small_session_close(&plain), small_session_close(&mem), small_session_close(&fl);
}

/* Where the host puts SNAP and AVERAGE (reef_precords_average): after
 * the STEPs that end the last E - 1 epochs and the last, per phase. */
static void test_average_records_placed(void **state)
{
    (void)state;
    const char *in = "AAASSSSSSGRSSSSV", *want = "AAASSnSSnSSaGRSSnSSaV"; /* S STEP, G GUARD, R REFIT, V SAVE */
    int count = (int)strlen(in);
    uint8_t *rec = calloc((size_t)count, 4);
    for (int k = 0; k < count; k++)
        rec[k * 4] = in[k] == 'A' ? REEF_PERSONAL_ADD : in[k] == 'S' ? REEF_PERSONAL_STEP : in[k] == 'G' ? REEF_PERSONAL_GUARD
                   : in[k] == 'R' ? REEF_PERSONAL_REFIT : REEF_PERSONAL_SAVE;
    /* 3 epochs of 2 steps averaged over 3, then 2 refit epochs of 2 steps averaged over 5 (all 2 of them) */
    rec = reef_precords_average(rec, &count, 4, 3, 2, 5, 2);
    assert_non_null(rec);
    char got[64] = "";
    for (int k = 0; k < count && k < 63; k++) {
        int c = rec[k * 4];
        got[k] = c == REEF_PERSONAL_ADD ? 'A' : c == REEF_PERSONAL_STEP ? 'S' : c == REEF_PERSONAL_GUARD ? 'G'
               : c == REEF_PERSONAL_REFIT ? 'R' : c == REEF_PERSONAL_SNAP ? 'n' : c == REEF_PERSONAL_AVERAGE ? 'a' : 'V';
    }
    assert_string_equal(got, want);
    /* E below 2: nothing added */
    int before = count;
    rec = reef_precords_average(rec, &count, 4, 0, 2, 1, 2);
    assert_int_equal(count, before);
    free(rec);
}

/* hp.guard_replay: an update trained on the site's frames with every label
 * flipped "gains" on the held-back frames (flipped too), so the guard on
 * them alone keeps it; scored on the source's replay samples as well, it
 * forgets, and is refused: the deployed parameters are back. The replay
 * counts it answers are the ones the tail gives. */
static void test_guard_judges_replay(void **state)
{
    (void)state;
    reef_pplan p;
    plan_for(&p);
    for (int k = 0; k < p.ntrain; k++) p.train[k] = REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS;
    p.hp.lr = 0.5f, p.hp.momentum = 0.0f, p.hp.batch_replay = 0, p.replay_count = 8;
    small_session held_only, with_replay;
    small_session_open(&held_only, &p, 16, 4, 1);
    p.hp.guard_replay = 8, p.hp.guard_forget = 0;
    small_session_open(&with_replay, &p, 16, 4, 1);
    run_epochs(&held_only, 6), run_epochs(&with_replay, 6);
    size_t bytes = (size_t)held_only.t.tail.train_count * 4;
    assert_memory_equal(held_only.s.p.params, with_replay.s.p.params, bytes); /* the same update */
    /* what the guard must see on the replay samples */
    int32_t n = with_replay.t.tail.in_count, right_new = 0, right_old = 0;
    float *acts = malloc(with_replay.t.tail.act_count * sizeof(float));
    for (int k = 0; k < 8; k++) {
        const int8_t *b = with_replay.replay + (size_t)k * n;
        right_new += reef_tail_predict(&with_replay.t.tail, with_replay.s.p.params, with_replay.t.params0, b, acts) ==
                     with_replay.replay_labels[k];
        right_old += reef_tail_predict(&with_replay.t.tail, NULL, with_replay.t.params0, b, acts) ==
                     with_replay.replay_labels[k];
    }
    free(acts);
    printf("flipped update: replay %d of 8 right after, %d before\n", right_new, right_old);
    assert_true(right_new < right_old); /* the fixture forgets: else the test proves nothing */
    int8_t out[REEF_PERSONAL_OUT];
    assert_int_equal(send_command(&held_only, REEF_PERSONAL_GUARD, out), 0);
    assert_int_equal(out[0], 1); /* the flipped held-back frames vote for it */
    assert_int_equal(send_command(&with_replay, REEF_PERSONAL_GUARD, out), 0);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[3], right_new);
    assert_int_equal(out[4], right_old);
    float *deployed = malloc(bytes);
    reef_tail_deployed(&with_replay.t.tail, with_replay.t.params0, deployed);
    assert_memory_equal(with_replay.s.p.params, deployed, bytes);
    free(deployed);
    /* refused: EVAL answers what the whole int8 model answers, frame by frame */
    uint8_t *arena = malloc(fx.m.arena_size);
    int8_t rec[4096] = {REEF_PERSONAL_EVAL};
    for (uint32_t i = 0; i < fx.site.count; i++) {
        int8_t *in = (int8_t *)(arena + fx.m.input_at);
        reef_input_map_apply(&with_replay.map, reef_dataset_sample(&fx.site, i), (size_t)fx.m.input_size, in);
        assert_int_equal(reef_lowered_run_steps(&fx.m, arena, 0, fx.m.nsteps), 0);
        const int8_t *y = (const int8_t *)(arena + fx.m.output_at);
        int best = 0;
        for (int k = 1; k < fx.m.output_size; k++)
            if (y[k] > y[best]) best = k;
        memcpy(rec + REEF_PERSONAL_HEADER, in, (size_t)fx.m.input_size);
        assert_int_equal(reef_personal_record(&with_replay.s.p, rec, out, REEF_PERSONAL_OUT), 0);
        assert_int_equal(out[0], best);
    }
    free(arena);
    /* the steps mix in only the replay samples GUARD does not hold: with
     * 3 of 8 held, the round robin runs over the other 5 */
    p.hp.batch_replay = 2, p.hp.guard_replay = 3;
    small_session mixing;
    small_session_open(&mixing, &p, 16, 4, 0);
    run_epochs(&mixing, 1);
    int steps = reef_personal_steps_per_epoch(&mixing.s.p);
    assert_int_equal(mixing.s.p.replay_next, steps * 2 % 5);
    small_session_close(&mixing);
    p.hp.batch_replay = 0, p.hp.guard_replay = 8;
    /* allowed to forget that many: kept */
    small_session_close(&with_replay);
    p.hp.guard_forget = right_old - right_new;
    small_session_open(&with_replay, &p, 16, 4, 1);
    run_epochs(&with_replay, 6);
    assert_int_equal(send_command(&with_replay, REEF_PERSONAL_GUARD, out), 0);
    assert_int_equal(out[0], 1);
    small_session_close(&held_only), small_session_close(&with_replay);
}

/* Replay chosen by habitat and class (replay_groups): a habitat of 2
 * samples among 96 gets its turn in the first round of strata, so one of
 * its two samples is replay sample 4 ((0, c0) (0, c1) (1, c0) (1, c1)
 * (2, c0)); a source without habitats is one habitat: the class-balanced
 * choice. */
static void test_replay_by_habitat(void **state)
{
    (void)state;
    reef_pplan p;
    reef_error err;
    reef_ptail t;
    plan_for(&p);
    if (reef_ptail_build(&fx.g, &fx.m, p.boundary_step, p.train, p.ntrain, &t, &err)) fail_msg("%s", err.msg);
    reef_dataset src = fx.train;
    uint16_t groups[96];
    assert_true(src.count == 96);
    for (uint32_t i = 0; i < src.count; i++) groups[i] = (uint16_t)(i / 2 % 2); /* both classes in each */
    groups[10] = groups[20] = 2; /* both class 0 (even index) */
    src.groups = groups, src.num_groups = 3;
    int32_t n = t.tail.in_count;
    int8_t *replay = malloc((size_t)8 * n), *rare = malloc((size_t)2 * n);
    uint8_t labels[8], rare_labels[2];
    if (reef_replay_build(&fx.g, &fx.m, &t, &src, 8, 1, 1, replay, labels, &err)) fail_msg("%s", err.msg);
    for (int k = 0; k < 2; k++) { /* the two rare samples' boundaries, one at a time */
        reef_dataset one = src;
        uint32_t at = k ? 20 : 10;
        one.count = 1, one.pixels = reef_dataset_sample(&src, at), one.labels = src.labels + at, one.groups = groups + at;
        if (reef_replay_build(&fx.g, &fx.m, &t, &one, 1, 1, 0, rare + (size_t)k * n, rare_labels + k, &err))
            fail_msg("%s", err.msg);
    }
    assert_int_equal(labels[0], 0), assert_int_equal(labels[1], 1), assert_int_equal(labels[4], 0);
    assert_true(!memcmp(replay + (size_t)4 * n, rare, (size_t)n) || !memcmp(replay + (size_t)4 * n, rare + n, (size_t)n));
    src.groups = NULL, src.num_groups = 1;
    int8_t *plain = malloc((size_t)8 * n);
    uint8_t plain_labels[8];
    if (reef_replay_build(&fx.g, &fx.m, &t, &src, 8, 1, 1, replay, labels, &err)) fail_msg("%s", err.msg);
    if (reef_replay_build(&fx.g, &fx.m, &t, &src, 8, 1, 0, plain, plain_labels, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(replay, plain, (size_t)8 * n);
    assert_memory_equal(labels, plain_labels, 8);
    free(replay), free(rare), free(plain);
    reef_ptail_free(&t);
}

/* Session 16, distillation on replay (hp.distill): the session's teacher
 * logits are the deployed tail's own outputs on the replay samples, bit for
 * bit; with alpha 1 a step on replay samples alone moves nothing at the
 * deployed weights (the soft targets are what the model answers), with
 * alpha 0.5 it does; a distill plan at alpha 0 trains the same bits as a
 * plan without it; and alpha 0.5 changes what a session with replay mixed
 * into every step trains. */
static void test_distill_on_replay(void **state)
{
    (void)state;
    reef_pplan p;
    plan_for(&p);
    assert_true(p.hp.distill == 0.5f && p.hp.distill_t == 1.0f); /* the planner's default since session 16 */
    p.hp.distill = 0.0f;
    small_session plain, zero, half;
    small_session_open(&plain, &p, 12, 0, 0);
    assert_null(plain.s.p.replay_teacher);
    p.hp.distill = 0.0f, p.hp.distill_t = 2.0f;
    small_session_open(&zero, &p, 12, 0, 0);
    p.hp.distill = 0.5f;
    small_session_open(&half, &p, 12, 0, 0);
    const reef_tail *t = &half.t.tail;
    const int32_t nc = t->nclasses, in = t->in_count;
    assert_non_null(half.s.p.replay_teacher);
    float *acts = calloc((size_t)t->act_count + 1, sizeof *acts);
    for (int k = 0; k < p.replay_count; k++) {
        const float *logits = reef_tail_forward(t, NULL, half.t.params0, half.replay + (size_t)k * in, acts);
        assert_memory_equal(half.s.p.replay_teacher + (size_t)k * nc, logits, (size_t)nc * sizeof *logits);
    }
    /* a replay-only batch at the deployed weights */
    reef_tail_state st = {.params = half.s.p.params, .params0 = half.s.p.params0, .grads = calloc(t->train_count, 4),
                          .acts = acts, .delta_a = acts + t->ping_at, .delta_b = acts + t->ping_at + t->delta_count};
    const int8_t *batch[4];
    const float *teachers[4];
    for (int k = 0; k < 4; k++)
        batch[k] = half.replay + (size_t)k * in, teachers[k] = half.s.p.replay_teacher + (size_t)k * nc;
    size_t bytes = (size_t)t->train_count * 4;
    float *before = malloc(bytes);
    memcpy(before, st.params, bytes);
    reef_tail_hparams hp = half.s.p.hp;
    hp.distill = 1.0f;
    assert_true(reef_tail_train_batch_distill(t, &st, &hp, batch, half.replay_labels, teachers, 4) >= 0.0f);
    assert_memory_equal(st.params, before, bytes);
    hp.distill = 0.5f;
    reef_tail_train_batch_distill(t, &st, &hp, batch, half.replay_labels, teachers, 4);
    assert_true(memcmp(st.params, before, bytes) != 0);
    memcpy(st.params, before, bytes); /* back to the deployed weights */
    /* whole epochs, replay mixed into every step (one under the sanitizers) */
    const int epochs = testing_sanitizer_run() ? 1 : 2;
    run_epochs(&plain, epochs), run_epochs(&zero, epochs), run_epochs(&half, epochs);
    assert_memory_equal(zero.s.p.params, plain.s.p.params, bytes);
    assert_true(memcmp(half.s.p.params, plain.s.p.params, bytes) != 0);
    free(before), free((void *)st.grads), free(acts);
    small_session_close(&plain), small_session_close(&zero), small_session_close(&half);
}

/* "Old" is the newest valid copy in the NVM store when one exists: a
 * first update is saved, a second one the guard refuses (margin above the
 * held-back count) leaves exactly that saved copy, bit for bit, not the
 * deployed weights. */
static void run_session(reef_psession *s, const reef_lowered_model *m, const reef_input_map *map, const reef_pplan *p,
                        const reef_ptail *t, int hold, int margin, float *params)
{
    reef_error err;
    uint8_t is_labelled[64];
    int count = 0, nsteps = reef_psteps_total(p, 12 - hold);
    assert_true(fx.site.count <= sizeof is_labelled);
    if (reef_pdraw(&fx.site, 12, 3, 0, is_labelled, &err)) fail_msg("%s", err.msg);
    uint8_t *rec = reef_precords(m, map, &fx.site, is_labelled, NULL, hold, margin, nsteps, 0, t->tail.train_count, NULL, &count);
    assert_non_null(rec);
    int8_t reset[4096] = {REEF_PERSONAL_RESET}, out[REEF_PERSONAL_OUT];
    assert_true(reef_precord_size(m) <= sizeof reset);
    assert_int_equal(reef_personal_record(&s->p, reset, out, sizeof out), 0);
    if (reef_prun_host(s, rec, count, reef_precord_size(m), params, NULL, NULL, &err)) fail_msg("%s", err.msg);
    free(rec);
}

/* PSEUDO (session 15): the device keeps an unlabelled frame as a training
 * sample, labelled with its own answer, only when the answer's top
 * probability reaches the record's threshold, its class is under the cap
 * and the buffer has room; the records put the pool frames between GUARD
 * and REFIT. */
static void send_pseudo(reef_psession *s, const reef_input_map *map, int i, int cap, int conf, int8_t *out)
{
    int8_t rec[4096] = {0};
    rec[0] = REEF_PERSONAL_PSEUDO, rec[1] = (int8_t)cap, rec[3] = (int8_t)(uint8_t)conf;
    reef_input_map_apply(map, reef_dataset_sample(&fx.site, (uint32_t)i), (size_t)fx.m.input_size, rec + REEF_PERSONAL_HEADER);
    assert_int_equal(reef_personal_record(&s->p, rec, out, REEF_PERSONAL_OUT), 0);
}

static void test_pseudo_keeps_confident(void **state)
{
    (void)state;
    reef_pplan p;
    reef_ptail t;
    reef_input_map map;
    reef_psession s;
    open_without_replay(&p, 8, &t, &map, &s);
    int8_t rec[4096] = {0}, out[REEF_PERSONAL_OUT];
    float *acts = malloc((size_t)t.tail.act_count * sizeof(float));
    for (int i = 0; i < 4; i++) { /* 3 trained, 1 held back */
        rec[0] = i == 3 ? REEF_PERSONAL_HOLD : REEF_PERSONAL_ADD;
        rec[1] = (int8_t)fx.site.labels[i];
        reef_input_map_apply(&map, reef_dataset_sample(&fx.site, i), (size_t)fx.m.input_size, rec + REEF_PERSONAL_HEADER);
        assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    }
    send_pseudo(&s, &map, 10, 0, 0, out); /* cap 0: answers, keeps nothing */
    assert_int_equal(out[1], 0);
    assert_int_equal(s.p.site_count, 3);
    int answer = out[0], q = (uint8_t)out[2];
    assert_true(answer >= 0 && answer < t.tail.nclasses);
    assert_true(q >= 255 / t.tail.nclasses - 1); /* the top class's probability */
    if (q <= 253) { /* above its probability: not kept */
        send_pseudo(&s, &map, 10, 255, q + 2, out);
        assert_int_equal(out[1], 0);
        assert_int_equal(s.p.site_count, 3);
    }
    rec[0] = REEF_PERSONAL_STEP;
    memset(rec + 1, 0, 3);
    assert_int_equal(reef_personal_record(&s.p, rec, out, sizeof out), 0);
    assert_int_equal(s.p.step, 1);
    send_pseudo(&s, &map, 10, 255, q, out); /* at it: kept, with its own answer as the label */
    assert_int_equal(out[1], 1);
    assert_int_equal(s.p.step, 0); /* the next STEP begins an epoch over all 4 */
    assert_int_equal(s.p.site_count, 4);
    assert_int_equal(s.p.site_labels[3], answer);
    assert_int_equal(reef_tail_predict(&t.tail, s.p.params, t.params0, s.p.site + (size_t)3 * t.tail.in_count, acts), answer);
    int have = 0;
    for (int k = 0; k < 4; k++) have += s.p.site_labels[k] == answer;
    send_pseudo(&s, &map, 10, have, 0, out); /* the class is at its cap */
    assert_int_equal(out[1], 0);
    assert_int_equal(s.p.site_count, 4);
    for (int k = 0; k < 6; k++) send_pseudo(&s, &map, 11 + k, 255, 0, out); /* room for 3 more (1 held back) */
    assert_int_equal(s.p.site_count, 7);
    assert_int_equal(s.p.site_count + s.p.hold_count, p.site_cap);
    assert_int_equal(out[1], 0);
    /* the records: PSEUDO frames of the pool after GUARD, before REFIT */
    uint8_t is_labelled[64] = {0}, pool[64] = {0};
    assert_true(fx.site.count <= sizeof pool);
    for (int i = 0; i < 10; i++) is_labelled[i] = 1;
    for (int i = 20; i < 30; i++) pool[i] = 1;
    reef_ppseudo ps = {.pool = pool, .frames = 4, .class_cap = 9, .conf = 200, .after_steps = -1};
    int count = 0, kinds[16] = {0};
    uint8_t *all = reef_precords(&fx.m, &map, &fx.site, is_labelled, NULL, 3, 1, 5, 4, t.tail.train_count, &ps, &count);
    assert_non_null(all);
    size_t rs = reef_precord_size(&fx.m);
    int guard_at = -1, refit_at = -1, first = -1, last = -1;
    for (int k = 0; k < count; k++) {
        const uint8_t *r = all + (size_t)k * rs;
        kinds[r[0] & 15]++;
        if (r[0] == REEF_PERSONAL_GUARD) guard_at = k;
        if (r[0] == REEF_PERSONAL_REFIT) refit_at = k;
        if (r[0] != REEF_PERSONAL_PSEUDO) continue;
        if (first < 0) first = k;
        last = k;
        assert_int_equal(r[1], 9), assert_int_equal(r[3], 200);
    }
    assert_int_equal(kinds[REEF_PERSONAL_PSEUDO], 4);
    assert_true(guard_at < first && last < refit_at && refit_at - first == 4);
    /* the pool's frames 20, 22, 25, 27 (spread evenly), as the input map gives them */
    int8_t *in = malloc((size_t)fx.m.input_size);
    reef_input_map_apply(&map, reef_dataset_sample(&fx.site, 25), (size_t)fx.m.input_size, in);
    assert_memory_equal(all + (size_t)(first + 2) * rs + REEF_PERSONAL_HEADER, in, (size_t)fx.m.input_size);
    free(all);
    ps.after_steps = 2; /* before the guard: 2 STEPs, the 4 PSEUDO, the other 3 STEPs, GUARD */
    int again = 0;
    all = reef_precords(&fx.m, &map, &fx.site, is_labelled, NULL, 3, 1, 5, 4, t.tail.train_count, &ps, &again);
    assert_non_null(all);
    assert_int_equal(again, count);
    for (int k = 10; k < 19; k++)
        assert_int_equal(all[(size_t)k * rs], k < 12 || k >= 16 ? REEF_PERSONAL_STEP : k < 16 ? REEF_PERSONAL_PSEUDO : 0);
    assert_int_equal(all[(size_t)19 * rs], REEF_PERSONAL_GUARD);
    free(in), free(all), free(acts);
    reef_psession_free(&s);
    reef_ptail_free(&t);
}

/* --labelled-balance (session 12): the draw takes the classes in equal
 * shares; a class with fewer frames than its share gives the rest to the
 * other; the plain draw is unchanged by the option's existence (same seed,
 * same frames as before). */
static void test_draw_balanced(void **state)
{
    (void)state;
    enum { N = 40 };
    uint16_t labels[N];
    uint8_t plain[N], balanced[N], again[N];
    reef_error err;
    for (int i = 0; i < N; i++) labels[i] = i < 30 ? 1 : 0; /* 10 of class 0, 30 of class 1 */
    reef_dataset ds = {.count = N, .num_classes = 2, .labels = labels};
    assert_int_equal(reef_pdraw(&ds, 12, 5, 1, balanced, &err), 0);
    assert_int_equal(reef_pdraw(&ds, 12, 5, 1, again, &err), 0);
    assert_memory_equal(balanced, again, N); /* the seed decides */
    int per[2] = {0, 0}, total = 0;
    for (int i = 0; i < N; i++) per[labels[i]] += balanced[i], total += balanced[i];
    assert_int_equal(total, 12);
    assert_int_equal(per[0], 6);
    assert_int_equal(per[1], 6);
    assert_int_equal(reef_pdraw(&ds, 30, 5, 1, balanced, &err), 0); /* class 0 has 10: class 1 takes 20 */
    per[0] = per[1] = 0;
    for (int i = 0; i < N; i++) per[labels[i]] += balanced[i];
    assert_int_equal(per[0], 10);
    assert_int_equal(per[1], 20);
    assert_int_equal(reef_pdraw(&ds, 12, 5, 0, plain, &err), 0);
    per[0] = per[1] = 0;
    for (int i = 0; i < N; i++) per[labels[i]] += plain[i];
    assert_int_equal(per[0] + per[1], 12);
    assert_int_not_equal(reef_pdraw(&ds, N, 5, 1, balanced, &err), 0); /* nothing left to measure on */
}

static void test_guard_old_copy_from_nvm(void **state)
{
    (void)state;
    reef_pplan p;
    reef_ptail t;
    reef_input_map map;
    reef_psession s;
    open_without_replay(&p, 0, &t, &map, &s);
    static uint8_t mem[1 << 16];
    reef_nvm nvm;
    reef_nvm_record rec;
    reef_nvm_mem_init(&nvm, mem, sizeof mem);
    uint32_t slot = reef_nvm_record_slot_size(&nvm, t.tail.train_count * 4);
    assert_true(2 * slot <= sizeof mem);
    assert_true(reef_nvm_record_init(&rec, &nvm, 0, slot) >= 0);
    s.p.store = &rec;
    size_t bytes = (size_t)t.tail.train_count * 4;
    float *first = malloc(bytes), *second = malloc(bytes), *deployed = malloc(bytes);
    assert_true(first && second && deployed);
    reef_tail_deployed(&t.tail, t.params0, deployed);
    run_session(&s, &fx.m, &map, &p, &t, 0, 0, first); /* no guard: saved as trained */
    assert_true(memcmp(first, deployed, bytes) != 0);
    run_session(&s, &fx.m, &map, &p, &t, 3, 255, second); /* refused */
    assert_memory_equal(second, first, bytes);
    free(first), free(second), free(deployed);
    reef_psession_free(&s);
    reef_ptail_free(&t);
}

/* Session 13: a temporal session (reef/personal.h) forms the model's [d, s]
 * input on the device from raw gray frames (reef_temporal_step, as the
 * inference firmware does, the frames not labelled sent as SEE), and its
 * update equals, bit for bit, the one from the inputs reef prep writes
 * (running-diff-slow over the clip) for the same labelled frames. Two
 * clips of 24 frames, stored second clip first (the stream is sent in clip
 * order); a stream of another frame size is refused. */
/* The tiny temporal fixture: 48 gray frames in two clips of 24 (stored
 * second clip first), their running-diff-slow inputs [d, s], and an int8
 * net trained on them. */
static void tiny_temporal(reef_dataset *gray, reef_dataset *slow, reef_graph *g, reef_lowered_model *m)
{
    static char names[48][16];
    reef_error err;
    fixture_run_dataset(gray, 48, 21);
    for (int i = 0; i < 48; i++) {
        snprintf(names[i], sizeof names[i], "c%d_f%d", 1 - i / 24, i % 24);
        ((const char **)gray->ids)[i] = names[i];
    }
    if (reef_dataset_with_background(gray, REEF_BG_DIFF_SLOW, slow, &err)) fail_msg("%s", err.msg);
    reef_arch a;
    reef_model model;
    if (reef_arch_parse("name tiny2; input 8x8x2; stem k3 s2 c8 relu6; mbconv k3 e2 c8 s1 skip; head c16 relu6; gap; fc",
                        "test", &a, &err) ||
        reef_model_build(&model, &a, FIX_H, FIX_W, 2, 2, 7, &err))
        fail_msg("%s", err.msg);
    reef_norm_from_dataset(&model.norm, slow);
    fixture_run_train(&model, slow, 2);
    fixture_run_quantize(&model, slow, g);
    reef_model_free(&model);
    if (reef_lower(g, m, &err)) fail_msg("%s", err.msg);
}

static void test_stream_is_prep(void **state)
{
    (void)state;
    reef_dataset gray, slow, small;
    reef_error err;
    reef_graph g;
    reef_lowered_model m;
    tiny_temporal(&gray, &slow, &g, &m);
    reef_pplan p;
    reef_pplan_default(&p);
    p.hp.epochs = 2, p.hp.batch_site = 4, p.hp.batch_replay = 0, p.hp.lr = 0.05f, p.site_cap = 16, p.replay_count = 0;
    reef_pplan_budget no_limits = {.clock_mhz = 120.0, .power_mw = 55.0};
    if (reef_pplan_choose(&g, &m, &no_limits, &p, &err)) fail_msg("%s", err.msg);
    p.hp.batch_replay = 0, p.replay_count = 0;
    /* planned as a temporal session, the RAM counts the two backgrounds
     * after the inference arena, shared with the transient buffers (here
     * the larger: the tiny net's backgrounds are 256 bytes) */
    reef_ptail t;
    if (reef_ptail_build(&g, &m, p.boundary_step, p.train, p.ntrain, &t, &err)) fail_msg("%s", err.msg);
    reef_pplan_cost(&p, &m, &t, NULL);
    uint32_t plain_ram = p.ram_update;
    p.temporal = 1;
    reef_pplan_cost(&p, &m, &t, NULL);
    uint32_t transient = reef_personal_transient_bytes(&t.tail), intake = ((uint32_t)m.arena_size + 15u) / 16u * 16u + 2u * (uint32_t)m.input_size;
    assert_int_equal(p.ram_update - plain_ram, intake > transient ? intake - (m.arena_size > transient ? (uint32_t)m.arena_size : transient) : 0);
    reef_ptail_free(&t);
    reef_prun_options o = {.model_path = "tiny2", .site_path = "site", .target = "host", .labelled = 12,
                           .hold_back = 3, .refit_epochs = 1, .draw_seed = 2, .stream = &gray};
    reef_prun_report r;
    if (reef_prun(&g, &m, &p, &slow, &o, &r, &err)) fail_msg("%s", err.msg);
    printf("stream: %d frames fed for 12 labelled, same as prep: %d\n", r.stream_frames, r.stream_same_as_prep);
    assert_int_equal(r.stream_same_as_prep, 1);
    assert_true(r.stream_frames > 12 && r.stream_frames <= 48); /* SEE frames moved the backgrounds */
    reef_prun_report_free(&r);
    small = gray, small.width = FIX_W / 2, small.height = FIX_H * 2;
    o.stream = &small;
    assert_int_not_equal(reef_prun(&g, &m, &p, &slow, &o, &r, &err), 0);
    assert_non_null(strstr(err.msg, "--stream"));
    reef_prun_report_free(&r);
    reef_lowered_free(&m);
    reef_graph_free(&g);
    reef_dataset_free(&slow);
    reef_dataset_free(&gray);
}

/* The two files (NAME_personal.{c,h}) in folders a and b are the same bytes. */
static void assert_same_file(const char *a, const char *b, const char *name)
{
    char pa[1200], pb[1200];
    uint8_t *da, *db;
    size_t na, nb;
    reef_error err;
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    if (reef_read_file(pa, &da, &na, &err) || reef_read_file(pb, &db, &nb, &err)) fail_msg("%s", err.msg);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    free(da), free(db);
}

/* The float update on qemu-m4 over the camera's stream (session 14): the
 * device forms [d, s] from raw gray frames with the temporal step, and its
 * weights equal the host's bit for bit (reef_prun fails otherwise), with
 * class-balanced batches, two refit epochs after the guard, a decaying lr,
 * a guard that also scores replay samples (session 11) and replay mixed
 * into every step, trained towards the deployed model's outputs too
 * (distillation, session 16: alpha 0.5, T 2), and (session 16) weight
 * averaging over both epochs of
 * the update (SNAP, AVERAGE: the guard judges the average) and over both
 * refit epochs, its snapshots in the flash area the firmware reserves
 * (.reef_flash_scratch, counted apart from RAM). The C it ran is what `reef gen --trainable` writes for
 * the same plan (temporal 1) and replay data, byte for byte; gen refuses
 * a temporal plan for a model whose input is not [d, s]. One firmware
 * build covers the stream path and the float tail on the M4. */
/* The stream job's findings, in memory the child shares with the parent. */
typedef struct stream_result {
    int done, emulated, bit_identical, same_as_prep, guard_replay, stream_frames, costed, averaged;
    char msg[1100];
} stream_result;
typedef struct stream_job {
    m4_job job;
    reef_dataset gray, slow;
    reef_graph g;
    reef_lowered_model m;
    stream_result *result; /* MAP_SHARED */
} stream_job;
static stream_job job_stream;

static int stream_run(m4_job *j)
{
    (void)j;
    stream_job *sj = &job_stream;
    stream_result *res = sj->result;
    reef_error err;
    reef_prun_report r;
    reef_prun_options o = {.model_path = "tiny2", .site_path = "site", .target = "qemu-m4", .work = sj->job.dir,
                           .labelled = 12, .hold_back = 3, .refit_epochs = 2, .draw_seed = 2, .stream = &sj->gray,
                           .source = &sj->slow, .test = &sj->slow};
    if (reef_prun(&sj->g, &sj->m, &sj->job.plan, &sj->slow, &o, &r, &err)) {
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
        return 1;
    }
    printf("qemu-m4 stream: %d frames fed, guard kept %d, replay %d -> %d of %d right\n", r.stream_frames,
           r.guard_kept, r.replay_correct_before, r.replay_correct_after, r.guard_replay);
    res->emulated = r.emulated, res->bit_identical = r.bit_identical, res->same_as_prep = r.stream_same_as_prep;
    res->guard_replay = r.guard_replay, res->stream_frames = r.stream_frames;
    res->costed = r.update_insns > 0 && r.total_energy_j > 0 && r.ram_total > 0;
    /* session 16: SNAP and AVERAGE ran (the weights are the host's), the flash area is counted apart */
    res->averaged = r.flash_scratch >= 4096 && r.avg_flash_s > 0.0;
    res->done = 1;
    reef_prun_report_free(&r);
    return 0;
}

static void stream_job_cleanup(void)
{
    stream_job *sj = &job_stream;
    if (sj->job.pid > 0) kill(sj->job.pid, SIGTERM), waitpid(sj->job.pid, NULL, 0), sj->job.pid = 0;
    reef_lowered_free(&sj->m); /* each a no-op once test_qemu_bit_identical freed and cleared them */
    reef_graph_free(&sj->g);
    reef_dataset_free(&sj->slow);
    reef_dataset_free(&sj->gray);
    if (sj->result && sj->result != MAP_FAILED) munmap(sj->result, sizeof *sj->result);
    sj->result = NULL;
}

/* Starts the stream job: the tiny temporal model and its plan are made
 * here, in the parent (cmocka may fail here, not in the child). */
static void stream_job_start(void)
{
    stream_job *sj = &job_stream;
    reef_error err;
    tiny_temporal(&sj->gray, &sj->slow, &sj->g, &sj->m);
    reef_pplan *p = &sj->job.plan;
    reef_pplan_default(p);
    p->hp.epochs = 2, p->hp.batch_site = 4, p->hp.batch_replay = 4, p->hp.lr = 0.05f, p->site_cap = 16, p->replay_count = 8;
    reef_pplan_budget no_limits = {.clock_mhz = 120.0, .power_mw = 55.0};
    if (reef_pplan_choose(&sj->g, &sj->m, &no_limits, p, &err)) fail_msg("%s", err.msg);
    p->hp.epochs = 2, p->hp.batch_site = 4, p->hp.batch_replay = 4, p->replay_count = 8;
    p->hp.balance = 1, p->hp.lr_decay = 0.7f, p->hp.guard_replay = 4, p->temporal = 1;
    p->hp.distill = 0.5f, p->hp.distill_t = 2.0f; /* session 16: the replay samples' teacher logits in flash */
    p->average = 2, p->refit_epochs = 2, p->average_refit = 2; /* session 16: both phases averaged */
    sj->result = mmap(NULL, sizeof *sj->result, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sj->result != MAP_FAILED);
    memset(sj->result, 0, sizeof *sj->result);
    testing_tmpdir(sj->job.dir, sizeof sj->job.dir, "personal-qemu");
    job_start(&sj->job, stream_run);
}

static void test_qemu_bit_identical(void **state)
{
    (void)state;
    if (!testing_have_arm_tools() || !testing_source_dir()) SKIP();
    stream_job *sj = &job_stream;
    reef_error err;
    char gen[256], path[512], data[512];
    int status;
    assert_true(sj->job.pid > 0);
    assert_int_equal(waitpid(sj->job.pid, &status, 0), sj->job.pid);
    sj->job.pid = 0;
    if (!sj->result->done) fail_msg("the qemu-m4 stream run failed: %s", sj->result->msg);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(sj->result->emulated && sj->result->bit_identical && sj->result->same_as_prep);
    assert_int_equal(sj->result->guard_replay, 4);
    assert_true(sj->result->stream_frames > 12);
    assert_true(sj->result->costed);
    assert_true(sj->result->averaged);
    const reef_pplan p = sj->job.plan;
    char dir[256];
    memcpy(dir, sj->job.dir, sizeof dir);
    dir[sizeof dir - 1] = 0;
    reef_graph g = sj->g;
    reef_lowered_model m = sj->m;
    reef_dataset slow = sj->slow, gray = sj->gray;
    testing_tmpdir(gen, sizeof gen, "personal-gen");
    /* reef gen --trainable with the same plan and replay data */
    snprintf(path, sizeof path, "%s/p.plan", gen);
    snprintf(data, sizeof data, "%s/slow.ds", gen);
    if (reef_pplan_save(path, &p, "tiny2", &err) || reef_dataset_save(data, &slow, &err) ||
        reef_pgen(gen, "fish", "tiny2", &g, &m, path, data, &err))
        fail_msg("%s", err.msg);
    assert_same_file(dir, gen, "fish_personal.c");
    assert_same_file(dir, gen, "fish_personal.h");
    /* a temporal plan for the 1-channel fixture model */
    reef_pplan q;
    plan_for(&q);
    q.replay_count = 0, q.hp.batch_replay = 0, q.temporal = 1, q.hp.distill = 0.0f;
    if (reef_pplan_save(path, &q, "fixture", &err)) fail_msg("%s", err.msg);
    assert_int_not_equal(reef_pgen(gen, "fx", "fixture", &fx.g, &fx.m, path, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "temporal"));
    testing_rm_tree(dir);
    testing_rm_tree(gen);
    reef_lowered_free(&m);
    reef_graph_free(&g);
    reef_dataset_free(&slow);
    reef_dataset_free(&gray);
    memset(&sj->g, 0, sizeof sj->g), memset(&sj->m, 0, sizeof sj->m);
    memset(&sj->slow, 0, sizeof sj->slow), memset(&sj->gray, 0, sizeof sj->gray);
}

static void test_board_firmware_builds(void **state)
{
    (void)state;
    if (!testing_have_arm_tools() || !testing_source_dir()) SKIP();
    job_wait(&job_board);
    testing_rm_tree(job_board.dir);
}

/* ---- bad input through the CLI: clear errors, nothing written ----------- */

static void run_cli_expect_error(const char *args, const char *needle, const char *must_not_exist)
{
    const char *bin = getenv("REEF_BIN");
    if (!bin) SKIP();
    char cmd[8192], out[8192] = "";
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *fp = popen(cmd, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, sizeof out - 1, fp);
    out[n] = '\0';
    int status = pclose(fp);
    if (status == 0) fail_msg("'%s' succeeded; expected an error", args);
    if (!strstr(out, needle)) fail_msg("'%s': expected '%s' in:\n%s", args, needle, out);
    if (must_not_exist && access(must_not_exist, F_OK) == 0) fail_msg("'%s' wrote %s", args, must_not_exist);
}

static void append_to_plan(const char *plan, const char *lines)
{
    FILE *pf = fopen(plan, "a");
    assert_non_null(pf);
    fputs(lines, pf);
    fclose(pf);
}

/* `reef personalize` with these inputs must fail with `needle`, writing nothing */
static void expect_update_refused(const char *model, const char *plan, const char *site, int labelled, const char *extra,
                                  const char *train, const char *nothing, const char *needle)
{
    char args[4096];
    snprintf(args, sizeof args, "personalize --model %s --plan %s --site %s --labelled %d%s --source %s --params-out %s",
             model, plan, site, labelled, extra, train, nothing);
    run_cli_expect_error(args, needle, nothing);
}

static void test_cli_bad_input(void **state)
{
    (void)state;
    char dir[256], model[300], plan[300], site[300], other[300], train[300], args[4096], nothing[300], cmd[5000];
    if (!getenv("REEF_BIN")) {
        printf("[  SKIPPED ] REEF_BIN (the reef command) is not set\n");
        SKIP();
    }
    reef_error err;
    testing_tmpdir(dir, sizeof dir, "personal");
    snprintf(model, sizeof model, "%s/m.tflite", dir);
    snprintf(plan, sizeof plan, "%s/p.plan", dir);
    snprintf(site, sizeof site, "%s/site.ds", dir);
    snprintf(other, sizeof other, "%s/other.ds", dir);
    snprintf(train, sizeof train, "%s/train.ds", dir);
    snprintf(nothing, sizeof nothing, "%s/out.bin", dir);
    assert_int_equal(reef_tflite_write(model, &fx.g, &err), 0);
    assert_int_equal(reef_dataset_save(site, &fx.site, &err), 0);
    assert_int_equal(reef_dataset_save(train, &fx.train, &err), 0);
    /* a dataset of another shape: 8x4 frames */
    reef_dataset small = fx.site;
    small.width = FIX_W / 2;
    small.count = fx.site.count / 2;
    small.owner_ = NULL;
    assert_int_equal(reef_dataset_save(other, &small, &err), 0);
    /* a RAM budget no plan fits */
    snprintf(args, sizeof args, "personalize plan --model %s --ram 100 -o %s", model, plan);
    run_cli_expect_error(args, "no plan fits 100 bytes of RAM", plan);
    /* an energy budget no update meets (the RAM would do) */
    snprintf(args, sizeof args, "personalize plan --model %s --ram 1M --max-joules 0.000001 -o %s", model, plan);
    run_cli_expect_error(args, "no plan fits the flash, time or energy budget", plan);
    snprintf(args, sizeof args, "personalize plan --model %s --ram 1M --max-seconds -1 -o %s", model, plan);
    run_cli_expect_error(args, "--max-seconds wants a number >= 0", plan);
    snprintf(args, sizeof args, "personalize plan --model %s --ram 1M -o %s", model, plan);
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null", getenv("REEF_BIN"), args);
    assert_int_equal(system(cmd), 0);
    /* plan --tune (session 14): without --source/--test, refused and nothing written; with them, the
     * recipes run on the site (one draw) and the plan written is one of reef_pplan_recipes' */
    snprintf(args, sizeof args, "personalize plan --model %s --ram 1M --tune %s -o %s", model, site, nothing);
    run_cli_expect_error(args, "--tune needs --source", nothing);
    snprintf(args, sizeof args, "personalize plan --model %s --ram 1M --tune %s --source %s --test %s --labelled 12 "
             "--tune-draws 1 -o %s", model, site, train, train, nothing);
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", getenv("REEF_BIN"), args);
    assert_int_equal(system(cmd), 0);
    {
        reef_pplan tuned, chosen, recipes[32];
        reef_device_profile prof; /* the CLI's budget: its profile's clock, power and flash */
        assert_int_equal(reef_profile_load("stm32l4r5", &prof, &err), 0);
        reef_pplan_budget budget = {.ram_bytes = 1u << 20, .max_seconds = 30.0, .max_joules = 1.0, .clock_mhz = prof.clock_mhz,
                                    .power_mw = reef_profile_run_power_mw(&prof), .profile = &prof};
        assert_int_equal(reef_pplan_load(nothing, &tuned, &err), 0);
        reef_pplan_default(&chosen);
        assert_int_equal(reef_pplan_choose(&fx.g, &fx.m, &budget, &chosen, &err), 0);
        int n = reef_pplan_recipes(&fx.g, &fx.m, &budget, &chosen, recipes, 32, &err), found = 0;
        assert_true(n >= 2);
        for (int k = 0; k < n; k++)
            found |= recipes[k].ntrain == tuned.ntrain && !memcmp(recipes[k].train, tuned.train, sizeof tuned.train[0] * (size_t)tuned.ntrain) &&
                     recipes[k].hp.lr == tuned.hp.lr && recipes[k].hp.batch_replay == tuned.hp.batch_replay &&
                     recipes[k].hp.epochs == tuned.hp.epochs && recipes[k].average == tuned.average;
        assert_true(found);
        remove(nothing);
    }
    /* session 16: weight averaging over 1 epoch (no averaging), over more epochs than the plan has, a
     * refit average without the refit epochs: refused naming the plan */
    append_to_plan(plan, "average 1\n");
    expect_update_refused(model, plan, site, 5, "", train, nothing, "average 1: 0 (off) or 2..epochs");
    append_to_plan(plan, "average 1000\n");
    expect_update_refused(model, plan, site, 5, "", train, nothing, "average 1000: 0 (off) or 2..epochs");
    append_to_plan(plan, "average 0\naverage_refit 1001\n");
    expect_update_refused(model, plan, site, 5, "", train, nothing, "average_refit 1001: 0 (off) or 2..refit_epochs");
    append_to_plan(plan, "average_refit 0\n");
    append_to_plan(plan, "site_cap 16\nreplay 8\n"); /* a smaller site buffer and replay set */
    expect_update_refused(model, plan, other, 5, "", train, nothing, "frames are 8x4x1");
    expect_update_refused(model, plan, site, 40, "", train, nothing, "the site has only 40 frames");
    expect_update_refused(model, plan, site, 20, "", train, nothing, "site buffer holds");
    expect_update_refused(model, plan, site, 5, " --hold-back 5", train, nothing, "--hold-back 5");
    snprintf(args, sizeof args, "personalize plan --model %s --ram 1M --scheme int16 -o %s", model, nothing);
    run_cli_expect_error(args, "--scheme wants float or int8", nothing);
    append_to_plan(plan, "scheme int8\nmomentum 0.9\n"); /* QAS has no momentum */
    expect_update_refused(model, plan, site, 5, "", train, nothing, "scheme int8 (QAS) has no momentum");
    testing_rm_tree(dir);
}

/* plan --tune's rule (session 16, docs/personalization.md "The selection
 * rule"): eligible = fits, D <= 1.0, W <= 3.0; B = the eligible best S;
 * of B and the eligible recipes within B's paired noise (mean(d) <= 2
 * sd(d) / sqrt(n), sample sd), the lowest D, a tie at 0.01 to the lower
 * energy; none eligible: the lowest D. */
#define PICK_RUNS 48
static double pick_site[6][PICK_RUNS];

/* recipe k's runs: B's site figure less mean + (+a, -a alternately) */
static void pick_runs(int k, double mean, double a)
{
    for (int i = 0; i < PICK_RUNS; i++) pick_site[k][i] = pick_site[0][i] - mean - (i % 2 ? a : -a);
}

static reef_tune_result pick_recipe(int k, double drop_mean, double drop_worst, double joules)
{
    double s = 0.0;
    for (int i = 0; i < PICK_RUNS; i++) s += pick_site[k][i];
    return (reef_tune_result){.site = pick_site[k], .runs = PICK_RUNS, .site_mean = s / PICK_RUNS,
                              .drop_mean = drop_mean, .drop_worst = drop_worst, .joules = joules, .fits = 1};
}

static void test_tune_pick(void **state)
{
    (void)state;
    reef_tune_result r[6];
    for (int i = 0; i < PICK_RUNS; i++) pick_site[0][i] = 90.0 + (i % 4) * 2.0;
    /* 1: 0.5 points below B on average but +-3 per run: within noise (bound 0.88), lower D wins */
    pick_runs(1, 0.5, 3.0);
    /* 2: 0.5 below, +-0.1 per run: outside the noise (bound 0.03), so its lower D does not count */
    pick_runs(2, 0.5, 0.1);
    r[0] = pick_recipe(0, 0.80, 2.5, 0.9), r[1] = pick_recipe(1, 0.60, 2.0, 0.9), r[2] = pick_recipe(2, 0.10, 1.0, 0.5);
    assert_int_equal(reef_pplan_pick(r, 3), 1);
    assert_true(r[0].eligible && r[0].within_noise && r[1].within_noise && !r[2].within_noise && r[2].eligible);
    assert_true(r[2].noise_mean > 0.49 && r[2].noise_mean < 0.51 && r[2].noise_bound < 0.04);
    /* without 1, B stays: 2 is better at D but outside the noise */
    assert_int_equal(reef_pplan_pick(r, 1), 0);
    r[1].drop_mean = 0.9;
    assert_int_equal(reef_pplan_pick(r, 3), 0);
    /* the bound's exact form: +-1 per run gives 2 * sqrt(48/47) / sqrt(48) = 2 / sqrt(47) = 0.2917
     * (the population sd would give 0.2887, one sd 0.1459): a mean of 0.29 is within, 0.295 is not */
    pick_runs(1, 0.29, 1.0);
    r[1] = pick_recipe(1, 0.60, 2.0, 0.9);
    assert_int_equal(reef_pplan_pick(r, 2), 1);
    assert_true(r[1].noise_bound > 0.2916 && r[1].noise_bound < 0.2918);
    pick_runs(1, 0.295, 1.0);
    r[1] = pick_recipe(1, 0.60, 2.0, 0.9);
    assert_int_equal(reef_pplan_pick(r, 2), 0);
    /* a tie in D at 0.01 points (0.604 and 0.596 both print 0.60) goes to the lower energy */
    pick_runs(1, 0.5, 3.0);
    r[0] = pick_recipe(0, 0.604, 2.5, 0.95), r[1] = pick_recipe(1, 0.596, 2.0, 0.97);
    assert_int_equal(reef_pplan_pick(r, 2), 0);
    r[1].joules = 0.90;
    assert_int_equal(reef_pplan_pick(r, 2), 1);
    /* eligibility: a better S with W 3.01, over the budgets, or D 1.01 is not B */
    pick_runs(3, -2.0, 0.0), pick_runs(4, -3.0, 0.0), pick_runs(5, -4.0, 0.0);
    r[0] = pick_recipe(0, 0.80, 2.5, 0.9), r[1] = pick_recipe(2, 0.70, 1.0, 0.5);
    r[2] = pick_recipe(3, 0.10, 3.01, 0.9), r[3] = pick_recipe(4, 0.10, 1.0, 1.2), r[4] = pick_recipe(5, 1.01, 1.0, 0.9);
    r[3].fits = 0;
    assert_int_equal(reef_pplan_pick(r, 5), 0);
    assert_true(!r[2].eligible && !r[3].eligible && !r[4].eligible && !r[2].within_noise);
    /* nothing eligible: the lowest D */
    r[0].drop_worst = 3.5, r[1].drop_mean = 1.2, r[2].drop_mean = 1.5, r[4].drop_mean = 1.1;
    r[3].drop_mean = 0.3;
    assert_int_equal(reef_pplan_pick(r, 5), 3);
    r[3].drop_mean = 1.3;
    assert_int_equal(reef_pplan_pick(r, 5), 0); /* 0.80, W 3.5 */
    assert_int_equal(reef_pplan_pick(r, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_m4_jobs_start),
        cmocka_unit_test(test_tail_matches_int8),
        cmocka_unit_test(test_balanced_site_pick),
        cmocka_unit_test(test_update_on_host),
        cmocka_unit_test(test_guard_puts_old_back),
        cmocka_unit_test(test_guard_old_copy_from_nvm),
        cmocka_unit_test(test_refit_moves_held_back),
        cmocka_unit_test(test_refit_after_refusal_is_nothing),
        cmocka_unit_test(test_pseudo_keeps_confident),
        cmocka_unit_test(test_lr_decay_per_epoch),
        cmocka_unit_test(test_draw_balanced),
        cmocka_unit_test(test_tune_pick),
        cmocka_unit_test(test_average_is_mean_of_epochs),
        cmocka_unit_test(test_average_records_placed),
        cmocka_unit_test(test_guard_judges_replay),
        cmocka_unit_test(test_replay_by_habitat),
        cmocka_unit_test(test_distill_on_replay),
        cmocka_unit_test(test_stream_is_prep),
        cmocka_unit_test(test_qemu_bit_identical),
        cmocka_unit_test(test_int8_tail_is_inference),
        cmocka_unit_test(test_int8_update_on_host),
        cmocka_unit_test(test_plan_file_scheme),
        cmocka_unit_test(test_plan_refit_within_budget),
        cmocka_unit_test(test_int8_qemu_bit_identical),
        cmocka_unit_test(test_board_firmware_builds),
        cmocka_unit_test(test_cli_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    return rc ? rc : skipped ? 77 : 0;
}
