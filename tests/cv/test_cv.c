/* reef cv's library: fold plans, splits without leakage (by sample ID),
 * fold accuracies that a hand computation predicts, results independent of
 * the number of workers, and the int8 path. The data: 8x8 images in four
 * groups (habitats) that differ by a brightness shift the label does not
 * depend on. */
#include "testing.h"

#include <math.h>

#include "cv/cv.h"
#include "data/background.h"
#include "reef/background.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "util/rng.h"

/* |a - b| <= tol */
#define assert_near(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

enum { H = 8, W = 8, PER_GROUP = 40, NGROUPS = 4 };

typedef struct syn_ds {
    reef_dataset ds;
    uint8_t *pixels;
    uint16_t *labels, *groups;
    char (*idbuf)[32];
    const char **ids;
} syn_ds;

static const char *class_names[] = {"no_fish", "fish"};
static const char *group_names[] = {"g0", "g1", "g2", "g3"};

/* Class 1: left half brighter than the right by 80; class 0: the reverse.
 * Group g adds 30 * g - 45 to every pixel; noise +-10. fish(g, i) decides
 * the label of sample i of group g. */
static void syn_make(syn_ds *d, int (*fish)(int g, int i))
{
    const uint32_t n = PER_GROUP * NGROUPS;
    reef_rng rng;
    reef_rng_seed(&rng, 7);
    d->pixels = malloc((size_t)n * H * W);
    d->labels = malloc(n * sizeof *d->labels);
    d->groups = malloc(n * sizeof *d->groups);
    d->idbuf = malloc(n * sizeof *d->idbuf);
    d->ids = malloc(n * sizeof *d->ids);
    for (uint32_t s = 0; s < n; s++) {
        int g = (int)(s % NGROUPS), i = (int)(s / NGROUPS), y = fish(g, i);
        d->labels[s] = (uint16_t)y, d->groups[s] = (uint16_t)g;
        snprintf(d->idbuf[s], sizeof d->idbuf[s], "%s/%03d", group_names[g], i);
        d->ids[s] = d->idbuf[s];
        for (int p = 0; p < H * W; p++) {
            int left = p % W < W / 2;
            int v = 128 + 30 * g - 45 + ((left == y) ? 40 : -40) + (int)reef_rng_below(&rng, 21) - 10;
            d->pixels[(size_t)s * H * W + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    memset(&d->ds, 0, sizeof d->ds);
    d->ds.count = n, d->ds.height = H, d->ds.width = W, d->ds.channels = 1;
    d->ds.num_classes = 2, d->ds.num_groups = NGROUPS;
    d->ds.pixels = d->pixels, d->ds.labels = d->labels, d->ds.groups = d->groups;
    d->ds.class_names = class_names, d->ds.group_names = group_names, d->ds.ids = d->ids;
}

static void syn_free(syn_ds *d)
{
    free(d->pixels), free(d->labels), free(d->groups), free(d->idbuf), free(d->ids);
}

static int half_fish(int g, int i) { (void)g; return i % 2; }
/* Groups 0-2 are all fish; in group 3 the first 15 of 40 are. */
static int fish_but_g3(int g, int i) { return g < 3 || i < 15; }

static void tiny_options(reef_cv_options *o, int epochs)
{
    reef_error err;
    reef_cv_options_default(o);
    if (reef_arch_parse("name tiny; input 8x8x1; stem k3 s1 c8; mbconv k3 e2 c8 s2; gap; fc", "tiny", &o->arch, &err))
        fail_msg("%s", err.msg);
    o->cfg.epochs = epochs, o->cfg.batch = 16, o->cfg.opt.lr = 1e-2f;
    o->cfg.aug = (reef_augment){0};
    o->calib_samples = 64;
}

static void test_plans(void **state)
{
    (void)state;
    syn_ds d;
    syn_make(&d, half_fish);
    reef_error err;
    reef_cv_plan p, q;
    assert_int_equal(reef_cv_plan_groups(&p, &d.ds, &err), 0);
    assert_int_equal(p.nfolds, NGROUPS);
    for (int f = 0; f < p.nfolds; f++)
        for (int g = 0; g < NGROUPS; g++) assert_int_equal(p.held[f * NGROUPS + g], f == g);
    reef_cv_plan_free(&p);
    // random: k distinct groups per fold, the same for the same seed
    assert_int_equal(reef_cv_plan_random(&p, &d.ds, 2, 6, 3, &err), 0);
    assert_int_equal(reef_cv_plan_random(&q, &d.ds, 2, 6, 3, &err), 0);
    assert_int_equal(p.nfolds, 6);
    assert_memory_equal(p.held, q.held, 6 * NGROUPS);
    for (int f = 0; f < 6; f++) {
        int held = 0;
        for (int g = 0; g < NGROUPS; g++) held += p.held[f * NGROUPS + g];
        assert_int_equal(held, 2);
    }
    reef_cv_plan_free(&p);
    reef_cv_plan_free(&q);
    // holding out every group leaves nothing to train on
    assert_int_equal(reef_cv_plan_random(&p, &d.ds, NGROUPS, 1, 3, &err), -1);
    assert_non_null(strstr(err.msg, "from 1 to 3 groups"));
    syn_free(&d);
}

/* Every fold: no training sample ID belongs to a held-out group, and train
 * and test together are the whole dataset, each ID once. */
static void test_no_leakage_by_id(void **state)
{
    (void)state;
    syn_ds d;
    syn_make(&d, half_fish);
    reef_error err;
    reef_cv_plan p;
    assert_int_equal(reef_cv_plan_random(&p, &d.ds, 2, 4, 9, &err), 0);
    uint32_t idx[PER_GROUP * NGROUPS], ntrain, ntest;
    for (int f = 0; f < p.nfolds; f++) {
        reef_dataset train, test;
        reef_cv_split(&p, f, &d.ds, idx, &ntrain, NULL, &ntest);
        assert_int_equal(reef_dataset_subset(&d.ds, idx, ntrain, &train, &err), 0);
        reef_cv_split(&p, f, &d.ds, NULL, &ntrain, idx, &ntest);
        assert_int_equal(reef_dataset_subset(&d.ds, idx, ntest, &test, &err), 0);
        assert_int_equal(train.count + test.count, d.ds.count);
        assert_int_equal(test.count, 2 * PER_GROUP);
        for (uint32_t i = 0; i < train.count; i++) {
            char group[8];
            snprintf(group, sizeof group, "%.2s", train.ids[i]);  // "gN/..." names its group
            for (int g = 0; g < NGROUPS; g++)
                if (p.held[f * NGROUPS + g]) assert_string_not_equal(group, group_names[g]);
            for (uint32_t j = 0; j < test.count; j++) assert_string_not_equal(train.ids[i], test.ids[j]);
        }
        for (uint32_t j = 0; j < test.count; j++) assert_int_equal(p.held[f * NGROUPS + test.groups[j]], 1);
        // the subset's pixels are its samples' pixels
        assert_memory_equal(reef_dataset_sample(&test, 0), reef_dataset_sample(&d.ds, idx[0]), H * W);
        reef_dataset_free(&train);
        reef_dataset_free(&test);
    }
    reef_cv_plan_free(&p);
    syn_free(&d);
}

/* Fold f's float model answered "fish" to all PER_GROUP frames of its
 * held-out group, of which fish are: accuracy fish / PER_GROUP, balanced
 * (100% + 0%) / 2, fish recall 1, no-fish recall 0. */
static void assert_fold_says_fish(const reef_cv_result *r, int f, int fish)
{
    double recall[2];
    reef_cv_score sc = reef_cv_score_of(r, 0, f, -1, recall);
    assert_int_equal(sc.count, PER_GROUP);
    assert_int_equal(sc.correct, fish);
    assert_near(sc.accuracy, (double)fish / PER_GROUP, 1e-12);
    assert_near(sc.balanced, 0.5, 1e-12);
    assert_near(recall[1], 1.0, 1e-12);
    assert_near(recall[0], 0.0, 1e-12);
}

/* Trained only on fish, a net answers "fish" for everything: the fold that
 * holds out g3 (15 fish of 40) scores 15/40 = 37.5% accuracy, balanced
 * accuracy (100% + 0%) / 2 = 50%, fish recall 1, no-fish recall 0. */
static void test_fold_accuracy_by_hand(void **state)
{
    (void)state;
    syn_ds d;
    syn_make(&d, fish_but_g3);
    reef_cv_options o;
    tiny_options(&o, 3);
    reef_error err;
    reef_cv_plan p;
    assert_int_equal(reef_cv_plan_groups(&p, &d.ds, &err), 0);
    reef_cv_result r;
    if (reef_cv_run(&d.ds, &p, &o, &r, &err)) fail_msg("%s", err.msg);
    assert_fold_says_fish(&r, 3, 15);
    double recall[2];
    reef_cv_score sc;
    // folds 0-2 hold out all-fish groups: every answer right, no-fish recall undefined
    for (int f = 0; f < 3; f++) {
        sc = reef_cv_score_of(&r, 0, f, -1, recall);
        assert_int_equal(sc.correct, PER_GROUP);
        assert_near(recall[0], -1, 0);
        assert_int_equal(r.ntrain[f], 3 * PER_GROUP);
    }
    reef_cv_result_free(&r);
    reef_cv_plan_free(&p);
    syn_free(&d);
}

/* --train-data: folds train on another dataset's samples of the groups they
 * do not hold out and score the scored data's held-out group. Trained on
 * fish_but_g3's all-fish groups 0-2, the fold holding out g3 answers "fish"
 * to half_fish's g3 (20 fish of 40): 20 right, balanced 50%. A training set
 * whose groups differ from the scored data's is refused. */
static void test_train_data(void **state)
{
    (void)state;
    syn_ds scored, train;
    syn_make(&scored, half_fish);
    syn_make(&train, fish_but_g3);
    reef_cv_options o;
    tiny_options(&o, 3);
    o.train_data = &train.ds;
    reef_error err;
    assert_int_equal(reef_cv_check_train_data(&scored.ds, &train.ds, &err), 0);
    reef_cv_plan p;
    assert_int_equal(reef_cv_plan_groups(&p, &scored.ds, &err), 0);
    reef_cv_result r;
    if (reef_cv_run(&scored.ds, &p, &o, &r, &err)) fail_msg("%s", err.msg);
    assert_fold_says_fish(&r, 3, PER_GROUP / 2);
    assert_int_equal(r.ntrain[3], 3 * PER_GROUP);
    reef_cv_result_free(&r);
    reef_cv_plan_free(&p);
    const char *renamed[] = {"g0", "g1", "gX", "g3"};
    train.ds.group_names = renamed;
    assert_int_equal(reef_cv_check_train_data(&scored.ds, &train.ds, &err), -1);
    assert_non_null(strstr(err.msg, "group 2 is 'gX'"));
    syn_free(&scored);
    syn_free(&train);
}

/* The label does not depend on the brightness shift: a net trained on three
 * groups recognises the pattern in the fourth, brightest or darkest. The
 * fold's figures equal a training run done by hand on the same split; and
 * 1 or 3 workers give the same confusion counts, float and int8. */
static void test_learnable_and_thread_independent(void **state)
{
    (void)state;
    syn_ds d;
    syn_make(&d, half_fish);
    reef_cv_options o;
    tiny_options(&o, testing_sanitizer_run() ? 6 : 12);
    o.int8 = 1;
    reef_error err;
    reef_cv_plan p;
    assert_int_equal(reef_cv_plan_groups(&p, &d.ds, &err), 0);
    reef_cv_result r1, r3;
    o.jobs = 1;
    if (reef_cv_run(&d.ds, &p, &o, &r1, &err)) fail_msg("%s", err.msg);
    o.jobs = 3;
    if (reef_cv_run(&d.ds, &p, &o, &r3, &err)) fail_msg("%s", err.msg);
    const size_t cells = (size_t)NGROUPS * NGROUPS * 2 * 2;
    assert_memory_equal(r1.confusion[0], r3.confusion[0], cells * sizeof(int64_t));
    assert_memory_equal(r1.confusion[1], r3.confusion[1], cells * sizeof(int64_t));
    for (int f = 0; f < NGROUPS; f++) {
        reef_cv_score fl = reef_cv_score_of(&r1, 0, f, -1, NULL), q8 = reef_cv_score_of(&r1, 1, f, -1, NULL);
        assert_true(fl.accuracy >= 0.9);
        assert_true(q8.accuracy >= 0.85);
    }
    // by hand: fold 0 (hold out g0) trained with the same recipe and seed
    uint32_t idx[PER_GROUP * NGROUPS], ntrain, ntest;
    reef_dataset train, test;
    reef_cv_split(&p, 0, &d.ds, idx, &ntrain, NULL, &ntest);
    assert_int_equal(reef_dataset_subset(&d.ds, idx, ntrain, &train, &err), 0);
    reef_cv_split(&p, 0, &d.ds, NULL, &ntrain, idx, &ntest);
    assert_int_equal(reef_dataset_subset(&d.ds, idx, ntest, &test, &err), 0);
    reef_model m;
    reef_trainer t;
    assert_int_equal(reef_model_build(&m, &o.arch, H, W, 1, 2, o.cfg.seed, &err), 0);
    reef_norm_from_dataset(&m.norm, &train);
    assert_int_equal(reef_model_set_batch(&m, o.cfg.batch, o.cfg.threads, &err), 0);
    assert_int_equal(reef_trainer_init(&t, &m, &train, &o.cfg, &err), 0);
    for (int e = 0; e < o.cfg.epochs; e++) {
        reef_epoch_stats st;
        assert_int_equal(reef_trainer_epoch(&t, &st, NULL, NULL, NULL), 0);
    }
    uint16_t pred[PER_GROUP * NGROUPS];
    double acc = reef_evaluate(&m, &test, pred, NULL);
    assert_near(reef_cv_score_of(&r1, 0, 0, -1, NULL).accuracy, acc, 1e-12);
    reef_trainer_free(&t);
    reef_model_free(&m);
    reef_dataset_free(&train);
    reef_dataset_free(&test);
    double mean, std;
    reef_cv_mean_std(&r1, 0, 0, &mean, &std);
    double sum = 0, sumsq = 0;
    for (int f = 0; f < NGROUPS; f++) {
        double a = reef_cv_score_of(&r1, 0, f, -1, NULL).accuracy;
        sum += a, sumsq += a * a;
    }
    assert_near(mean, sum / NGROUPS, 1e-12);
    double var = (sumsq - NGROUPS * mean * mean) / (NGROUPS - 1);
    assert_near(std, var > 0 ? sqrt(var) : 0, 1e-9);
    reef_cv_result_free(&r1);
    reef_cv_result_free(&r3);
    reef_cv_plan_free(&p);
    syn_free(&d);
}

/* ---- inner calibration of the decision bias (reef cv --calibrate inner) ---- */

/* The offset search on margins whose right shift is known. Group 0: empty
 * frames at margins 0.5 .. 1.5 (the net says "fish" to them), fish at
 * 2.5 .. 3.5; group 1 is separated at 0 already (empty -3 .. -2, fish
 * 2 .. 3). Every d in (-2.5, -1.5] scores both groups perfectly, and the
 * search keeps the one nearest 0: -1.5 (1.5 - 1.5 = 0 is not > 0: empty).
 * Margins that need no shift give 0; all-fish margins of an all-fish group
 * stay at 0 too (any d > -min margin is as good: the smallest |d| is 0). */
static void test_choose_offset_known_shift(void **state)
{
    (void)state;
    float margin[40];
    uint16_t labels[40], groups[40];
    uint32_t n = 0;
    for (int i = 0; i <= 4; i++) {
        margin[n] = 0.5f + 0.25f * i, labels[n] = 0, groups[n++] = 0;
        margin[n] = 2.5f + 0.25f * i, labels[n] = 1, groups[n++] = 0;
        margin[n] = -3.0f + 0.25f * i, labels[n] = 0, groups[n++] = 1;
        margin[n] = 2.0f + 0.25f * i, labels[n] = 1, groups[n++] = 1;
    }
    assert_near(reef_cv_choose_offset(margin, labels, groups, n, 2), -1.5, 0);
    // the same margins lowered by 1.5: nothing to shift
    for (uint32_t i = 0; i < n; i++) margin[i] -= 1.5f;
    assert_near(reef_cv_choose_offset(margin, labels, groups, n, 2), 0, 0);
    // too low by 4 in a group with only fish: shift up by the smallest step that lifts them all (> 3)
    for (uint32_t i = 0; i < 5; i++) margin[i] = -4.0f + 0.25f * i, labels[i] = 1, groups[i] = 0;
    assert_near(reef_cv_choose_offset(margin, labels, groups, 5, 1), 4.0 + 1.0 / 32, 0);
}

/* The offset lands in the classifier's bias: the last class's logit moves
 * by exactly d, the other's not at all, and the quantized model (its int8
 * fc bias) answers accordingly. */
static void test_shift_class_bias(void **state)
{
    (void)state;
    syn_ds d;
    syn_make(&d, half_fish);
    reef_cv_options o;
    tiny_options(&o, 1);
    reef_error err;
    reef_model m;
    assert_int_equal(reef_model_build(&m, &o.arch, H, W, 1, 2, 5, &err), 0);
    reef_norm_from_dataset(&m.norm, &d.ds);
    assert_int_equal(reef_model_set_batch(&m, 8, 1, &err), 0);
    float before[16], after[16];
    reef_model_normalize(&m, reef_dataset_sample(&d.ds, 0), 8);
    reef_model_forward(&m, 8, REEF_MODE_INFER, 0);
    memcpy(before, m.logits, sizeof before);
    assert_int_equal(reef_model_shift_class_bias(&m, 1, 0.75f, &err), 0);
    reef_model_forward(&m, 8, REEF_MODE_INFER, 0);
    memcpy(after, m.logits, sizeof after);
    for (int i = 0; i < 8; i++) {
        assert_near(after[2 * i], before[2 * i], 0);
        assert_near(after[2 * i + 1] - before[2 * i + 1], 0.75, 1e-6);
    }
    assert_int_equal(reef_model_shift_class_bias(&m, 2, 1, &err), -1);
    assert_non_null(strstr(err.msg, "no class 2"));
    // far up: every frame "fish", float and int8; far down: none
    uint16_t pred[PER_GROUP * NGROUPS];
    reef_quant_options q;
    reef_quant_options_default(&q);
    q.samples = 32, q.threads = 1, q.agreement = 0;
    for (int dir = 1; dir >= -1; dir -= 2) {
        assert_int_equal(reef_model_shift_class_bias(&m, 1, dir * 40.0f, &err), 0);
        reef_evaluate(&m, &d.ds, pred, NULL);
        for (uint32_t i = 0; i < d.ds.count; i++) assert_int_equal(pred[i], dir > 0);
        reef_graph g;
        assert_int_equal(reef_quantize(&m, &d.ds, &q, &g, NULL, &err), 0);
        assert_int_equal(reef_int8_predict(&g, &d.ds, NULL, (int)d.ds.count, pred, &err), 0);
        for (uint32_t i = 0; i < d.ds.count; i++) assert_int_equal(pred[i], dir > 0);
        reef_graph_free(&g);
        if (dir > 0) assert_int_equal(reef_model_shift_class_bias(&m, 1, -40.0f, &err), 0);
    }
    reef_model_free(&m);
    syn_free(&d);
}

/* A model trained by hand with cv's recipe on train. */
static void train_by_hand(const reef_cv_options *o, const reef_dataset *train, reef_model *m)
{
    reef_error err;
    reef_trainer t;
    assert_int_equal(reef_model_build(m, &o->arch, H, W, 1, 2, o->cfg.seed, &err), 0);
    reef_norm_from_dataset(&m->norm, train);
    assert_int_equal(reef_model_set_batch(m, o->cfg.batch, o->cfg.threads, &err), 0);
    assert_int_equal(reef_trainer_init(&t, m, train, &o->cfg, &err), 0);
    for (int e = 0; e < o->cfg.epochs; e++) {
        reef_epoch_stats st;
        assert_int_equal(reef_trainer_epoch(&t, &st, NULL, NULL, NULL), 0);
    }
    reef_trainer_free(&t);
}

/* --calibrate inner on the library: each fold's inner groups are training
 * groups (never the held-out one), --keep's "inner" IDs are training IDs of
 * those groups and no test ID; 1 or 3 workers give the same offsets and
 * counts; and fold 0's offset and float accuracy are what a by-hand run
 * says: a model trained on the fold's training groups minus the inner one,
 * its best offset on the inner group's margins, then the fold's model with
 * that offset in its bias, scored on the held-out group. */
static void test_inner_calibration(void **state)
{
    (void)state;
    syn_ds d;
    syn_make(&d, half_fish);
    reef_cv_options o;
    tiny_options(&o, testing_sanitizer_run() ? 2 : 4);
    o.inner_groups = 1;
    reef_error err;
    reef_cv_plan p;
    assert_int_equal(reef_cv_plan_groups(&p, &d.ds, &err), 0);
    char dir[128];
    testing_tmpdir(dir, sizeof dir, "cvinner");
    reef_cv_result r1, r3;
    o.jobs = 1, o.keep_dir = dir;
    if (reef_cv_run(&d.ds, &p, &o, &r1, &err)) fail_msg("%s", err.msg);
    o.jobs = 3, o.keep_dir = NULL;
    if (reef_cv_run(&d.ds, &p, &o, &r3, &err)) fail_msg("%s", err.msg);
    const size_t cells = (size_t)NGROUPS * NGROUPS * 2 * 2;
    assert_memory_equal(r1.confusion[0], r3.confusion[0], cells * sizeof(int64_t));
    assert_memory_equal(r1.offset, r3.offset, NGROUPS * sizeof(double));
    assert_memory_equal(r1.inner, r3.inner, NGROUPS * NGROUPS);
    for (int f = 0; f < NGROUPS; f++) {
        int n = 0;
        for (int g = 0; g < NGROUPS; g++) n += r1.inner[f * NGROUPS + g];
        assert_int_equal(n, 1);
        assert_int_equal(r1.inner[f * NGROUPS + f], 0);  // fold f holds out group f
        // --keep: inner IDs are of the inner group, among the training IDs, never a test ID
        char path[256], line[256];
        snprintf(path, sizeof path, "%s/fold-%02d.txt", dir, f);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        char train_ids[PER_GROUP * NGROUPS][16], test_ids[PER_GROUP * NGROUPS][16];
        int ntrain = 0, ntest = 0, ninner = 0, offset_seen = 0;
        while (fgets(line, sizeof line, fp)) {
            line[strcspn(line, "\n")] = 0;
            if (!strncmp(line, "offset ", 7)) {
                offset_seen = 1;
                assert_near(strtod(line + 7, NULL), r1.offset[f], 1e-5);
            } else if (!strncmp(line, "train ", 6)) snprintf(train_ids[ntrain++], 16, "%.15s", line + 6);
            else if (!strncmp(line, "test ", 5)) snprintf(test_ids[ntest++], 16, "%.15s", line + 5);
            else if (!strncmp(line, "inner ", 6)) {
                const char *id = line + 6;
                ninner++;
                assert_int_equal(r1.inner[f * NGROUPS + (id[1] - '0')], 1);  // "gN/..." names its group
                int in_train = 0;
                for (int i = 0; i < ntrain; i++) in_train |= !strcmp(train_ids[i], id);
                assert_true(in_train);
                for (int i = 0; i < ntest; i++) assert_string_not_equal(test_ids[i], id);
            }
        }
        fclose(fp);
        assert_true(offset_seen);
        assert_int_equal(ninner, PER_GROUP);
        assert_int_equal(ntest, PER_GROUP);
    }
    // by hand: fold 0
    uint8_t inner[NGROUPS];
    assert_int_equal(reef_cv_inner_groups(&p, 0, &d.ds, 1, o.cfg.seed, inner, &err), 0);
    assert_memory_equal(inner, r1.inner, NGROUPS);
    uint32_t fit_idx[PER_GROUP * NGROUPS], score_idx[PER_GROUP * NGROUPS], test_idx[PER_GROUP], nfit = 0, nscore = 0,
             ntrain, ntest;
    for (uint32_t i = 0; i < d.ds.count; i++) {
        if (d.ds.groups[i] == 0) continue;
        if (inner[d.ds.groups[i]]) score_idx[nscore++] = i;
        else fit_idx[nfit++] = i;
    }
    reef_dataset fit, scored, train, test;
    assert_int_equal(reef_dataset_subset(&d.ds, fit_idx, nfit, &fit, &err), 0);
    assert_int_equal(reef_dataset_subset(&d.ds, score_idx, nscore, &scored, &err), 0);
    reef_model m;
    train_by_hand(&o, &fit, &m);
    float margin[PER_GROUP * NGROUPS];
    for (uint32_t i = 0; i < scored.count; i++) {  // one frame at a time (the batch holds 16)
        reef_model_normalize(&m, reef_dataset_sample(&scored, i), 1);
        reef_model_forward(&m, 1, REEF_MODE_INFER, 0);
        margin[i] = m.logits[1] - m.logits[0];
    }
    const double offset = reef_cv_choose_offset(margin, scored.labels, scored.groups, scored.count, NGROUPS);
    assert_near(r1.offset[0], offset, 0);
    reef_model_free(&m);
    uint32_t idx[PER_GROUP * NGROUPS];
    reef_cv_split(&p, 0, &d.ds, idx, &ntrain, test_idx, &ntest);
    assert_int_equal(reef_dataset_subset(&d.ds, idx, ntrain, &train, &err), 0);
    assert_int_equal(reef_dataset_subset(&d.ds, test_idx, ntest, &test, &err), 0);
    train_by_hand(&o, &train, &m);
    assert_int_equal(reef_model_shift_class_bias(&m, 1, (float)offset, &err), 0);
    uint16_t pred[PER_GROUP];
    double acc = reef_evaluate(&m, &test, pred, NULL);
    assert_near(reef_cv_score_of(&r1, 0, 0, -1, NULL).accuracy, acc, 1e-12);
    reef_model_free(&m);
    reef_dataset_free(&fit), reef_dataset_free(&scored), reef_dataset_free(&train), reef_dataset_free(&test);
    reef_cv_result_free(&r1);
    reef_cv_result_free(&r3);
    // more inner groups than a fold can spare are refused
    o.inner_groups = 3, o.jobs = 1;
    assert_int_equal(reef_cv_run(&d.ds, &p, &o, &r3, &err), -1);
    assert_non_null(strstr(err.msg, "from 1 to 2"));
    reef_cv_plan_free(&p);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    syn_free(&d);
}

/* --augment motion=P (a lever for the moving-scene habitats): a training
 * sample gets a random class-0 frame's motion, p - 128 at the same place,
 * added, its label kept. Class-0 frames here are 168 everywhere, class-1
 * frames 128 (still): with P = 1 every input the last batch saw is its own
 * frame plus 40 gray levels, normalized; with P = 0 its own frame. */
static void test_motion_augmentation(void **state)
{
    (void)state;
    enum { N = 16 };
    uint8_t pixels[N * H * W];
    uint16_t labels[N], groups[N];
    const char *ids[N];
    for (int i = 0; i < N; i++) {
        labels[i] = (uint16_t)(i % 2), groups[i] = (uint16_t)(i % NGROUPS), ids[i] = "x";
        memset(pixels + i * H * W, labels[i] ? 128 : 168, H * W);
    }
    reef_dataset ds = {0};
    ds.count = N, ds.height = H, ds.width = W, ds.channels = 1, ds.num_classes = 2, ds.num_groups = NGROUPS;
    ds.pixels = pixels, ds.labels = labels, ds.groups = groups, ds.ids = ids;
    ds.class_names = class_names, ds.group_names = group_names;
    reef_cv_options o;
    tiny_options(&o, 1);
    o.cfg.batch = N;
    char why[256];
    assert_int_equal(reef_train_cfg_set(&o.cfg, "augment", "motion=2", why, sizeof why), -1);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(reef_train_cfg_set(&o.cfg, "augment", pass ? "motion" : "motion=1", why, sizeof why), 0);
        assert_near(o.cfg.aug.motion, pass ? 0.5 : 1.0, 1e-7);
        if (pass) o.cfg.aug.motion = 0;  // off: each input its own frame
        reef_error err;
        reef_model m;
        reef_trainer t;
        assert_int_equal(reef_model_build(&m, &o.arch, H, W, 1, 2, 1, &err), 0);
        reef_norm_from_dataset(&m.norm, &ds);
        assert_int_equal(reef_model_set_batch(&m, N, 1, &err), 0);
        assert_int_equal(reef_trainer_init(&t, &m, &ds, &o.cfg, &err), 0);
        reef_epoch_stats st;
        assert_int_equal(reef_trainer_epoch(&t, &st, NULL, NULL, NULL), 0);
        for (int i = 0; i < N; i++) {
            const double own = t.labels[i] ? 128 : 168, add = pass ? 0 : 40;
            const double want = ((own + add) / 255.0 - m.norm.mean[0]) / m.norm.std[0];
            for (int p = 0; p < H * W; p++) assert_near(m.input[i * H * W + p], want, 1e-4);
        }
        reef_trainer_free(&t);
        reef_model_free(&m);
    }
}

/* The JSON without its timing. */
static void drop_seconds(char *out)
{
    char *s = strstr(out, ",\"seconds\":");
    if (s) *s = 0;
}

/* reef cv end to end on a dataset file: JSON for --jobs 1 and 2 alike, the
 * table, --keep's ID lists, and errors. */
static void test_cli(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char dir[128], cmd[4096], path[400];
    static char out1[65536], out2[65536];
    testing_tmpdir(dir, sizeof dir, "cv");
    syn_ds d;
    syn_make(&d, half_fish);
    reef_error err;
    snprintf(path, sizeof path, "%s/syn.ds", dir);
    assert_int_equal(reef_dataset_save(path, &d.ds, &err), 0);
    const char *arch = "'name tiny; input 8x8x1; stem k3 s1 c8; mbconv k3 e2 c8 s2; gap; fc'";
    snprintf(cmd, sizeof cmd, "%s cv --data %s --arch %s --epochs 3 --batch 16 --augment none --int8 --calib 32 --json --jobs 1",
             bin, path, arch);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 0);
    snprintf(cmd, sizeof cmd, "%s cv --data %s --arch %s --epochs 3 --batch 16 --augment none --int8 --calib 32 --json --jobs 2",
             bin, path, arch);
    assert_int_equal(testing_run(cmd, out2, sizeof out2), 0);
    assert_non_null(strstr(out1, "\"nfolds\":4"));
    assert_non_null(strstr(out1, "\"int8\":{\"mean_accuracy\":"));
    assert_non_null(strstr(out1, "\"held_out\":\"g3\""));
    drop_seconds(out1), drop_seconds(out2);
    assert_string_equal(out1, out2);
    // the table, random folds, and --keep
    snprintf(cmd, sizeof cmd, "%s cv --data %s --arch %s --epochs 1 --batch 16 --folds 2 --repeat 2 --keep %s/k", bin,
             path, arch, dir);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 0);
    assert_non_null(strstr(out1, "fish recall"));
    assert_non_null(strstr(out1, "balanced accuracy"));
    assert_non_null(strstr(out1, "held out"));
    snprintf(path, sizeof path, "%s/k/fold-01.txt", dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[256], held[256] = "";
    int ntrain = 0, ntest = 0;
    while (fgets(line, sizeof line, fp)) {
        if (!strncmp(line, "held_out ", 9)) snprintf(held, sizeof held, "%s", line + 9);
        else if (!strncmp(line, "train ", 6)) {
            ntrain++;
            assert_null(strstr(held, (char[3]){line[6], line[7], 0}));  // a held-out group's sample in training
        } else if (!strncmp(line, "test ", 5)) {
            ntest++;
            assert_non_null(strstr(held, (char[3]){line[5], line[6], 0}));
        }
    }
    fclose(fp);
    assert_int_equal(ntrain, 2 * PER_GROUP);
    assert_int_equal(ntest, 2 * PER_GROUP);
    // errors; --groups
    snprintf(path, sizeof path, "%s/syn.ds", dir);
    snprintf(cmd, sizeof cmd, "%s cv --data %s --arch %s --epochs 1 --batch 16 --groups g1,g3 --json", bin, path, arch);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 0);
    assert_non_null(strstr(out1, "\"nfolds\":2"));
    assert_non_null(strstr(out1, "\"held_out\":\"g3\""));
    assert_null(strstr(out1, "\"held_out\":\"g0\""));
    // --calibrate inner: each fold says its inner groups and offset; bad values refused
    snprintf(cmd, sizeof cmd, "%s cv --data %s --arch %s --epochs 1 --batch 16 --groups g1 --calibrate inner "
             "--inner-groups 2 --json", bin, path, arch);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 0);
    assert_non_null(strstr(out1, "\"inner_groups\":2"));
    assert_non_null(strstr(out1, "\"offset\":"));
    const char *inner = strstr(out1, "\"inner\":\"");
    assert_non_null(inner);
    char names[32];
    snprintf(names, sizeof names, "+%.*s+", (int)strcspn(inner + 9, "\""), inner + 9);
    assert_int_equal(strlen(names), 7);  // two groups: "+gA+gB+"
    assert_null(strstr(names, "+g1+"));  // never the held-out group
    snprintf(cmd, sizeof cmd, "%s cv --data %s --calibrate outer", bin, path);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 2);
    assert_non_null(strstr(out1, "expected inner or none"));
    snprintf(cmd, sizeof cmd, "%s cv --data %s --groups g9", bin, path);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 1);
    assert_non_null(strstr(out1, "no group 'g9'"));
    snprintf(cmd, sizeof cmd, "%s cv --data %s --folds 4", bin, path);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 1);
    assert_non_null(strstr(out1, "from 1 to 3 groups"));
    snprintf(cmd, sizeof cmd, "%s cv --data %s --augment sparkle", bin, path);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 2);
    assert_non_null(strstr(out1, "unknown augmentation 'sparkle'"));
    snprintf(cmd, sizeof cmd, "%s cv --data %s/missing.ds", bin, dir);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 1);
    assert_non_null(strstr(out1, "missing.ds"));
    // --train-data: used (and said in the JSON), a missing or mismatched file refused
    snprintf(cmd, sizeof cmd, "%s cv --data %s --train-data %s --arch %s --epochs 1 --batch 16 --groups g1 --json", bin,
             path, path, arch);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 0);
    assert_non_null(strstr(out1, "\"train_data\":"));
    snprintf(cmd, sizeof cmd, "%s cv --data %s --train-data %s/gone.ds", bin, path, dir);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 1);
    assert_non_null(strstr(out1, "gone.ds"));
    const char *renamed[] = {"g0", "g1", "g2", "gX"};
    d.ds.group_names = renamed;
    snprintf(path, sizeof path, "%s/renamed.ds", dir);
    assert_int_equal(reef_dataset_save(path, &d.ds, &err), 0);
    snprintf(cmd, sizeof cmd, "%s cv --data %s/syn.ds --train-data %s", bin, dir, path);
    assert_int_equal(testing_run(cmd, out1, sizeof out1), 1);
    assert_non_null(strstr(out1, "does not match --data"));
    assert_non_null(strstr(out1, "group 3 is 'gX'"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    syn_free(&d);
}

/* The n numbers after each "key": from p on. */
static int json_numbers(const char *p, const char *key, double *v, int n)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    int got = 0;
    while (got < n && (p = strstr(p, k))) v[got++] = strtod(p += strlen(k), NULL);
    return got;
}

/* reef report --repeat 3: the mean ± std it prints are those of its
 * per-seed figures, which differ from seed to seed (3 real trainings). */
static void test_report_repeat(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char dir[128], cmd[4096], train[256], test[256];
    static char out[65536];
    testing_tmpdir(dir, sizeof dir, "repeat");
    syn_ds d;
    syn_make(&d, half_fish);
    reef_error err;
    // groups 0-2 train, group 3 test
    uint32_t idx[PER_GROUP * NGROUPS], n = 0, m = 0;
    reef_dataset a, b;
    for (uint32_t i = 0; i < d.ds.count; i++) if (d.groups[i] < 3) idx[n++] = i;
    assert_int_equal(reef_dataset_subset(&d.ds, idx, n, &a, &err), 0);
    for (uint32_t i = 0; i < d.ds.count; i++) if (d.groups[i] == 3) idx[m++] = i;
    assert_int_equal(reef_dataset_subset(&d.ds, idx, m, &b, &err), 0);
    snprintf(train, sizeof train, "%s/train.ds", dir);
    snprintf(test, sizeof test, "%s/test.ds", dir);
    assert_int_equal(reef_dataset_save(train, &a, &err), 0);
    assert_int_equal(reef_dataset_save(test, &b, &err), 0);
    const char *arch = "'name tiny; input 8x8x1; stem k3 s1 c8; mbconv k3 e2 c8 s2; gap; fc'";
    snprintf(cmd, sizeof cmd, "%s report --repeat 3 --train %s --data %s --arch %s --epochs 4 --batch 16 --calib 32 --json",
             bin, train, test, arch);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("  %.400s\n", out);
    const char *per = strstr(out, "\"per_seed\"");
    assert_non_null(per);
    double f[3], q[3], fm = 0, fs = 0, qm = 0, qs = 0, dm = 0, ds = 0;
    assert_int_equal(json_numbers(per, "float", f, 3), 3);
    assert_int_equal(json_numbers(per, "int8", q, 3), 3);
    assert_int_equal(json_numbers(out, "float_mean", &fm, 1), 1);
    assert_int_equal(json_numbers(out, "float_std", &fs, 1), 1);
    assert_int_equal(json_numbers(out, "int8_mean", &qm, 1), 1);
    assert_int_equal(json_numbers(out, "int8_std", &qs, 1), 1);
    assert_int_equal(json_numbers(out, "drop_mean", &dm, 1), 1);
    assert_int_equal(json_numbers(out, "drop_std", &ds, 1), 1);
    const double mf = (f[0] + f[1] + f[2]) / 3, mq = (q[0] + q[1] + q[2]) / 3;
    double vf = 0, vq = 0, vd = 0;
    for (int i = 0; i < 3; i++)
        vf += (f[i] - mf) * (f[i] - mf), vq += (q[i] - mq) * (q[i] - mq),
            vd += ((f[i] - q[i]) - (mf - mq)) * ((f[i] - q[i]) - (mf - mq));
    assert_near(fm, mf, 1e-9);
    assert_near(qm, mq, 1e-9);
    assert_near(dm, mf - mq, 1e-9);
    assert_near(fs, sqrt(vf / 2), 1e-9);
    assert_near(qs, sqrt(vq / 2), 1e-9);
    assert_near(ds, sqrt(vd / 2), 1e-9);
    assert_true(f[0] != f[1] || f[1] != f[2]);  // three different trainings
    // the table marks the protocol
    snprintf(cmd, sizeof cmd, "%s report --repeat 2 --train %s --data %s --arch %s --epochs 1 --batch 16 --calib 32", bin,
             train, test, arch);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "| frame-random (test split) | accuracy, mean ± std over 2 seeds |"));
    snprintf(cmd, sizeof cmd, "%s report --repeat 2 --data %s", bin, test);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "--repeat needs --train FILE"));
    reef_dataset_free(&a);
    reef_dataset_free(&b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    syn_free(&d);
}

/* reef_dataset_with_background(in, mode) succeeds with `channels`
 * channels and exactly the pixels want. */
static void expect_background(const reef_dataset *in, reef_bg_mode mode, int channels, const uint8_t *want, size_t size)
{
    reef_dataset out;
    reef_error err;
    assert_int_equal(reef_dataset_with_background(in, mode, &out, &err), 0);
    assert_int_equal(out.channels, channels);
    assert_memory_equal(out.pixels, want, size);
    reef_dataset_free(&out);
}

/* The background channel, by hand: one 1x2 clip of three frames (given out
 * of order) whose first pixel reads 10, 20, 90, and a second clip. */
static void test_background_channel(void **state)
{
    (void)state;
    uint8_t px[] = {90, 0, 10, 0, 20, 0, 50, 50};
    uint16_t labels[4] = {1, 1, 1, 0}, groups[4] = {0};
    const char *ids[4] = {"h/c1_f000009", "h/c1_f000001", "h/c1_f000002", "h/c2_f000001"};
    reef_dataset in = {.count = 4, .height = 1, .width = 2, .channels = 1, .num_classes = 2, .num_groups = 1,
                       .pixels = px, .labels = labels, .groups = groups, .class_names = class_names,
                       .group_names = group_names, .ids = ids};
    reef_dataset out;
    reef_error err;
    // median of 10, 20, 90 is 20: 128 + 2 (p - 20), clamped
    const uint8_t want_median[] = {90, 255, 0, 128, 10, 108, 0, 128, 20, 128, 0, 128, 50, 128, 50, 128};
    expect_background(&in, REEF_BG_MEDIAN, 2, want_median, sizeof want_median);
    // running: frame 1 vs itself (128), frame 2 vs 10 (148), frame 9 vs 10 + 10/16 -> 11 (255)
    const uint8_t want_running[] = {90, 255, 0, 128, 10, 128, 0, 128, 20, 148, 0, 128, 50, 128, 50, 128};
    expect_background(&in, REEF_BG_RUNNING, 2, want_running, sizeof want_running);
    // running-diff: the same difference channel alone
    const uint8_t want_diff[] = {255, 128, 128, 128, 148, 128, 128, 128};
    expect_background(&in, REEF_BG_RUNNING_DIFF, 1, want_diff, sizeof want_diff);
    // over the stream: a split holding frame 9 of c1 and c2's frame, in that
    // order, gets frame 9's difference to the background of frames 1 and 2
    // (255); on its own, frame 9 would be its clip's first frame (128)
    uint8_t part_px[] = {90, 0, 50, 50};
    const char *part_ids[2] = {"h/c1_f000009", "h/c2_f000001"};
    reef_dataset part = in;
    part.count = 2, part.pixels = part_px, part.ids = part_ids;
    assert_int_equal(reef_dataset_with_stream_background(&part, &in, REEF_BG_RUNNING_DIFF, &out, &err), 0);
    const uint8_t want_part[] = {255, 128, 128, 128};
    assert_int_equal(out.count, 2);
    assert_memory_equal(out.pixels, want_part, sizeof want_part);
    assert_ptr_equal(out.ids, part_ids);
    reef_dataset_free(&out);
    assert_int_equal(reef_dataset_with_background(&part, REEF_BG_RUNNING_DIFF, &out, &err), 0);
    assert_int_equal(out.pixels[0], 128);
    reef_dataset_free(&out);
    part_ids[1] = "h/c3_f000001";
    assert_int_equal(reef_dataset_with_stream_background(&part, &in, REEF_BG_RUNNING_DIFF, &out, &err), -1);
    assert_non_null(strstr(err.msg, "'h/c3_f000001' is not among the frames of its clips"));
    // temporal context, [d, s] per pixel: the previous frame (frame 2 vs frame
    // 1: 148; frame 9 vs frame 2: 128 + 140 clamps to 255) or a background 8x
    // slower (frame 9 vs (2560 + 10 * 256 / 128 + 128) >> 8 = 10: 255)
    const uint8_t want_previous[] = {255, 255, 128, 128, 128, 128, 128, 128, 148, 148, 128, 128, 128, 128, 128, 128};
    expect_background(&in, REEF_BG_DIFF_PREVIOUS, 2, want_previous, sizeof want_previous);
    expect_background(&in, REEF_BG_DIFF_SLOW, 2, want_previous, sizeof want_previous);
    ids[3] = "h/no-frame-number";
    assert_int_equal(reef_dataset_with_background(&in, REEF_BG_MEDIAN, &out, &err), -1);
    assert_non_null(strstr(err.msg, "'h/no-frame-number' does not end in _f<frame number>"));
}

/* Temporal context by hand where the two kinds differ: a 1x1 clip 100, 110,
 * 112 given out of order. Frame 3: d = 128 + 2 (112 - 101) = 150 (the mean
 * 25760 after two frames); previous 128 + 2 (112 - 110) = 132; slow
 * background (25620 + 128) >> 8 = 100: 152. Then a random 6x5 clip of 40
 * frames, shuffled, and a second clip: prep's channels equal the runtime's
 * step run over each clip in frame order, byte for byte. */
static void test_background_temporal(void **state)
{
    (void)state;
    uint8_t px[] = {112, 100, 110};
    uint16_t labels[3] = {0}, groups[3] = {0};
    const char *ids[3] = {"h/c_f000003", "h/c_f000001", "h/c_f000002"};
    reef_dataset in = {.count = 3, .height = 1, .width = 1, .channels = 1, .num_classes = 2, .num_groups = 1,
                       .pixels = px, .labels = labels, .groups = groups, .class_names = class_names,
                       .group_names = group_names, .ids = ids};
    reef_dataset out;
    reef_error err;
    const uint8_t want_previous[] = {150, 132, 128, 128, 148, 148};
    expect_background(&in, REEF_BG_DIFF_PREVIOUS, 2, want_previous, sizeof want_previous);
    const uint8_t want_slow[] = {150, 152, 128, 128, 148, 148};
    expect_background(&in, REEF_BG_DIFF_SLOW, 2, want_slow, sizeof want_slow);

    enum { H = 6, W = 5, PX = H * W, FRAMES = 40, N = FRAMES + 3 };
    static uint8_t frames[N * PX], want[N * 2 * PX];
    static uint16_t zero16[N], gr[N];
    static char names[N][32];
    const char *rid[N];
    uint32_t frame_of[N];
    for (uint32_t i = 0; i < N; i++) frame_of[i] = i;
    for (uint32_t i = N - 1; i > 0; i--) { // shuffle the sample order
        const uint32_t j = (i * 7919u + 13u) % (i + 1), t = frame_of[i];
        frame_of[i] = frame_of[j], frame_of[j] = t;
    }
    uint32_t seed = 3;
    for (uint32_t i = 0; i < N; i++) {
        const uint32_t f = frame_of[i]; // clip a: frames 0..FRAMES-1, clip b: the rest
        if (f < FRAMES) snprintf(names[i], sizeof names[i], "h/a_f%06u", f + 1);
        else snprintf(names[i], sizeof names[i], "h/b_f%06u", f - FRAMES + 1);
        rid[i] = names[i];
        for (int p = 0; p < PX; p++) {
            seed = seed * 1103515245u + 12345u;
            frames[(size_t)i * PX + p] = (uint8_t)(60 + (f * 3 + (uint32_t)p) % 50 + ((seed >> 16) % 40));
        }
    }
    reef_dataset clip = {.count = N, .height = H, .width = W, .channels = 1, .num_classes = 2, .num_groups = 1,
                         .pixels = frames, .labels = zero16, .groups = gr, .class_names = class_names,
                         .group_names = group_names, .ids = rid};
    const reef_bg_mode modes[3] = {REEF_BG_DIFF_PREVIOUS, REEF_BG_DIFF_LAG4, REEF_BG_DIFF_SLOW};
    const reef_temporal_kind kinds[3] = {REEF_TEMPORAL_LAG, REEF_TEMPORAL_LAG, REEF_TEMPORAL_SLOW};
    const uint32_t lags[3] = {1, 4, 0};
    for (int k = 0; k < 3; k++) {
        uint16_t mean[PX], slow[PX];
        uint8_t previous[4 * PX];
        reef_temporal t;
        for (uint32_t f = 0; f < N; f++) { // the runtime over each clip, in frame order
            if (f == 0 || f == FRAMES) reef_temporal_init(&t, kinds[k], mean, previous, lags[k], slow, PX);
            uint32_t i = 0;
            while (frame_of[i] != f) i++;
            reef_temporal_step(&t, frames + (size_t)i * PX, want + (size_t)i * 2 * PX);
        }
        assert_int_equal(reef_dataset_with_background(&clip, modes[k], &out, &err), 0);
        assert_int_equal(out.channels, 2);
        assert_memory_equal(out.pixels, want, sizeof want);
        reef_dataset_free(&out);
    }
}

/* Warm-up/drop training copies, by hand: a 1x1 clip of two frames (10, 30)
 * and a one-frame clip (77). A copy's background starts at either frame of
 * the clip: frame 1 then 2 gives 128, 168; frame 2 then 1 gives 128, 88.
 * The one-frame clip is always its own background (128). */
static void test_background_copies(void **state)
{
    (void)state;
    uint8_t px[] = {10, 30, 77};
    uint16_t labels[3] = {1, 1, 0}, groups[3] = {0, 0, 1};
    const char *ids[3] = {"h/c1_f000001", "h/c1_f000002", "h/c2_f000004"};
    reef_dataset in = {.count = 3, .height = 1, .width = 1, .channels = 1, .num_classes = 2, .num_groups = 2,
                       .pixels = px, .labels = labels, .groups = groups, .class_names = class_names,
                       .group_names = group_names, .ids = ids};
    reef_dataset diff, out, again;
    reef_error err;
    assert_int_equal(reef_dataset_with_background(&in, REEF_BG_RUNNING_DIFF, &diff, &err), 0);
    assert_int_equal(reef_dataset_with_background_copies(&diff, &in, 8, 0.0, 5, &out, &err), 0);
    assert_int_equal(out.count, 27);
    assert_memory_equal(out.pixels, diff.pixels, 3);  // the originals first, unchanged
    int starts_at_2 = 0;
    for (int k = 1; k <= 8; k++) {
        const uint8_t *c = out.pixels + 3 * k;
        char want[32];
        snprintf(want, sizeof want, "h/c1_f000002#aug%d", k);
        assert_string_equal(out.ids[3 * k + 1], want);
        assert_int_equal(out.labels[3 * k + 2], 0);
        assert_int_equal(out.groups[3 * k + 2], 1);
        assert_int_equal(c[2], 128);
        assert_true((c[0] == 128 && c[1] == 168) || (c[0] == 88 && c[1] == 128));
        starts_at_2 += c[1] == 128;
    }
    assert_true(starts_at_2 > 0 && starts_at_2 < 8);  // both warm-ups drawn (p = 1 - 2/256)
    assert_int_equal(reef_dataset_with_background_copies(&diff, &in, 8, 0.0, 5, &again, &err), 0);
    assert_memory_equal(out.pixels, again.pixels, 27);  // the same seed, the same copies
    reef_dataset_free(&again);
    reef_dataset_free(&out);
    reef_dataset_free(&diff);
    assert_int_equal(reef_dataset_with_background(&in, REEF_BG_RUNNING, &diff, &err), 0);  // frame + difference
    assert_int_equal(reef_dataset_with_background_copies(&diff, &in, 1, 0.0, 5, &out, &err), -1);
    assert_non_null(strstr(err.msg, "1-channel difference"));
    reef_dataset_free(&diff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_no_leakage_by_id),
        cmocka_unit_test(test_fold_accuracy_by_hand),
        cmocka_unit_test(test_train_data),
        cmocka_unit_test(test_learnable_and_thread_independent),
        cmocka_unit_test(test_choose_offset_known_shift),
        cmocka_unit_test(test_shift_class_bias),
        cmocka_unit_test(test_inner_calibration),
        cmocka_unit_test(test_motion_augmentation),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_report_repeat),
        cmocka_unit_test(test_background_channel),
        cmocka_unit_test(test_background_temporal),
        cmocka_unit_test(test_background_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
