/* Cross-validation over groups: see cv.h. */
#include "cv/cv.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/checkpoint.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/ranks.h"
#include "util/io.h"
#include "util/rng.h"

/* ---- the plan ---------------------------------------------------------------- */

/* Which groups have samples: counts (num_groups). */
static int64_t *group_counts(const reef_dataset *ds)
{
    int64_t *n = calloc(ds->num_groups ? ds->num_groups : 1, sizeof *n);
    if (n)
        for (uint32_t i = 0; i < ds->count; i++) n[ds->groups[i]]++;
    return n;
}

static int plan_alloc(reef_cv_plan *p, int nfolds, int num_groups, reef_error *err)
{
    p->nfolds = nfolds, p->num_groups = num_groups;
    p->held = calloc((size_t)nfolds * num_groups + 1, 1);
    return p->held ? 0 : reef_fail(err, "out of memory");
}

int reef_cv_plan_groups(reef_cv_plan *p, const reef_dataset *ds, reef_error *err)
{
    memset(p, 0, sizeof *p);
    int64_t *n = group_counts(ds);
    if (!n) return reef_fail(err, "out of memory");
    int used = 0;
    for (uint32_t g = 0; g < ds->num_groups; g++) used += n[g] > 0;
    if (used < 2) {
        free(n);
        return reef_fail(err, "cross-validation over groups needs at least 2 groups with samples; the dataset has %d",
                         used);
    }
    if (plan_alloc(p, used, (int)ds->num_groups, err)) {
        free(n);
        return -1;
    }
    int f = 0;
    for (uint32_t g = 0; g < ds->num_groups; g++)
        if (n[g] > 0) p->held[(size_t)f++ * p->num_groups + g] = 1;
    free(n);
    return 0;
}

int reef_cv_plan_random(reef_cv_plan *p, const reef_dataset *ds, int k, int repeat, uint64_t seed,
                        reef_error *err)
{
    memset(p, 0, sizeof *p);
    int64_t *n = group_counts(ds);
    uint32_t *used = malloc((ds->num_groups + 1) * sizeof *used);
    if (!n || !used) {
        free(n), free(used);
        return reef_fail(err, "out of memory");
    }
    uint32_t nused = 0;
    for (uint32_t g = 0; g < ds->num_groups; g++)
        if (n[g] > 0) used[nused++] = g;
    free(n);
    if (k < 1 || (uint32_t)k >= nused || repeat < 1) {
        free(used);
        return reef_fail(err, "--folds %d: hold out from 1 to %u groups per fold (the dataset has %u with samples)", k,
                         nused > 0 ? nused - 1 : 0, nused);
    }
    if (plan_alloc(p, repeat, (int)ds->num_groups, err)) {
        free(used);
        return -1;
    }
    reef_rng rng;
    reef_rng_seed(&rng, seed * 0x9E3779B97F4A7C15ull ^ 0xC5);
    for (int f = 0; f < repeat; f++) {
        // a partial Fisher-Yates shuffle: the first k of used[] are the fold's
        for (uint32_t i = 0; i < (uint32_t)k; i++) {
            uint32_t j = i + reef_rng_below(&rng, nused - i), tmp = used[i];
            used[i] = used[j], used[j] = tmp;
            p->held[(size_t)f * p->num_groups + used[i]] = 1;
        }
    }
    free(used);
    return 0;
}

void reef_cv_plan_free(reef_cv_plan *p)
{
    free(p->held);
    memset(p, 0, sizeof *p);
}

void reef_cv_fold_name(const reef_cv_plan *p, int fold, const reef_dataset *ds, char *buf, size_t size)
{
    size_t len = 0;
    if (size) buf[0] = 0;
    for (int g = 0; g < p->num_groups; g++)
        if (p->held[(size_t)fold * p->num_groups + g] && len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "+" : "", ds->group_names[g]);
}

void reef_cv_split(const reef_cv_plan *p, int f, const reef_dataset *ds, uint32_t *train, uint32_t *ntrain,
                   uint32_t *test, uint32_t *ntest)
{
    const uint8_t *held = p->held + (size_t)f * p->num_groups;
    uint32_t a = 0, b = 0;
    for (uint32_t i = 0; i < ds->count; i++) {
        if (held[ds->groups[i]]) {
            if (test) test[b] = i;
            b++;
        } else {
            if (train) train[a] = i;
            a++;
        }
    }
    *ntrain = a, *ntest = b;
}

int reef_dataset_subset(const reef_dataset *src, const uint32_t *idx, uint32_t n, reef_dataset *out,
                        reef_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t sample = reef_dataset_sample_size(src);
    uint8_t *pixels = malloc(n * sample + 1);
    uint16_t *labels = malloc((n + 1) * sizeof *labels), *groups = malloc((n + 1) * sizeof *groups);
    const char **ids = malloc((n + 1) * sizeof *ids);
    if (!pixels || !labels || !groups || !ids) {
        free(pixels), free(labels), free(groups), free(ids);
        return reef_fail(err, "out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(pixels + i * sample, reef_dataset_sample(src, idx[i]), sample);
        labels[i] = src->labels[idx[i]], groups[i] = src->groups[idx[i]];
        ids[i] = src->ids ? src->ids[idx[i]] : "";
    }
    *out = *src;
    out->owner_ = NULL;
    out->count = n, out->pixels = pixels, out->labels = labels, out->groups = groups, out->ids = ids;
    if (reef_dataset_own(out, pixels, err)) {
        free(labels), free(groups), free(ids);
        return -1;
    }
    if (reef_dataset_own(out, labels, err)) {
        free(groups), free(ids);
        reef_dataset_free(out);
        return -1;
    }
    if (reef_dataset_own(out, groups, err) || reef_dataset_own(out, (void *)ids, err)) {
        reef_dataset_free(out);
        return -1;
    }
    return 0;
}

/* ---- the run ----------------------------------------------------------------- */

int reef_cv_check_train_data(const reef_dataset *ds, const reef_dataset *train, reef_error *err)
{
    if (train->height != ds->height || train->width != ds->width || train->channels != ds->channels)
        return reef_fail(err, "its samples are %ux%ux%u, the scored data's %ux%ux%u", train->height, train->width,
                         train->channels, ds->height, ds->width, ds->channels);
    if (train->num_classes != ds->num_classes || train->num_groups != ds->num_groups)
        return reef_fail(err, "it has %u classes and %u groups, the scored data %u and %u", train->num_classes,
                         train->num_groups, ds->num_classes, ds->num_groups);
    for (uint32_t k = 0; k < ds->num_classes; k++)
        if (strcmp(train->class_names[k], ds->class_names[k]))
            return reef_fail(err, "its class %u is '%s', the scored data's '%s'", k, train->class_names[k],
                             ds->class_names[k]);
    for (uint32_t g = 0; g < ds->num_groups; g++)
        if (strcmp(train->group_names[g], ds->group_names[g]))
            return reef_fail(err, "its group %u is '%s', the scored data's '%s'", g, train->group_names[g],
                             ds->group_names[g]);
    return 0;
}

void reef_cv_options_default(reef_cv_options *o)
{
    memset(o, 0, sizeof *o);
    reef_train_cfg_default(&o->cfg);
    o->cfg.threads = 1;
    o->calib_samples = 500;
    o->jobs = 1;
}

typedef struct cv_shared {
    const reef_dataset *ds;
    const reef_cv_plan *p;
    const reef_cv_options *opt;
    reef_cv_result *r;
    pthread_mutex_t lock;
    int next_fold, failed;
    int64_t epochs_done;
    reef_error err;
} cv_shared;

static int64_t *confusion_at(const reef_cv_result *r, int int8, int fold, int group)
{
    return r->confusion[int8] + (((size_t)fold * r->num_groups + group) * r->num_classes) * r->num_classes;
}

static void count_predictions(reef_cv_result *r, int int8, int fold, const reef_dataset *test, const uint16_t *pred)
{
    for (uint32_t i = 0; i < test->count; i++)
        confusion_at(r, int8, fold, test->groups[i])[test->labels[i] * r->num_classes + pred[i]]++;
}

/* DIR/fold-NN.txt: the held-out groups, then "train ID" / "test ID" lines;
 * with inner calibration also "offset D" and the "inner ID" lines of the
 * samples the offset was chosen on (inner NULL: none). */
static int write_fold_ids(const char *path, const char *held, const reef_dataset *train, const reef_dataset *test,
                          const reef_dataset *inner, double offset, reef_error *err)
{
    size_t cap = 256, len = 0;
    for (uint32_t i = 0; i < train->count; i++) cap += strlen(train->ids[i]) + 8;
    for (uint32_t i = 0; i < test->count; i++) cap += strlen(test->ids[i]) + 8;
    for (uint32_t i = 0; inner && i < inner->count; i++) cap += strlen(inner->ids[i]) + 8;
    char *text = malloc(cap);
    if (!text) return reef_fail(err, "out of memory");
    len += (size_t)snprintf(text, cap, "held_out %s\n", held);
    if (inner) len += (size_t)snprintf(text + len, cap - len, "offset %.5f\n", offset);
    for (uint32_t i = 0; i < train->count; i++) len += (size_t)snprintf(text + len, cap - len, "train %s\n", train->ids[i]);
    for (uint32_t i = 0; i < test->count; i++) len += (size_t)snprintf(text + len, cap - len, "test %s\n", test->ids[i]);
    for (uint32_t i = 0; inner && i < inner->count; i++)
        len += (size_t)snprintf(text + len, cap - len, "inner %s\n", inner->ids[i]);
    int rc = reef_write_file(path, text, len, err);
    free(text);
    return rc;
}

static int train_fold(cv_shared *s, reef_model *m, const reef_dataset *train, reef_error *err)
{
    const reef_cv_options *opt = s->opt;
    if (reef_model_build(m, &opt->arch, (int)train->height, (int)train->width, (int)train->channels,
                         (int)train->num_classes, opt->cfg.seed, err))
        return -1;
    reef_norm_for_recipe(&m->norm, train, &opt->cfg);
    reef_trainer t;
    if (reef_class_names_pack(&m->classes, train->class_names, (int)train->num_classes, err) ||
        reef_model_set_batch(m, opt->cfg.batch, opt->cfg.threads, err) ||
        reef_trainer_init(&t, m, train, &opt->cfg, err))
        return -1;
    int rc = 0;
    while (t.epochs_done < opt->cfg.epochs) {
        reef_epoch_stats st;
        if (reef_trainer_epoch(&t, &st, opt->stop, NULL, NULL)) {
            rc = reef_fail(err, "interrupted");
            break;
        }
        pthread_mutex_lock(&s->lock);
        s->epochs_done++;
        if (opt->progress) opt->progress(opt->progress_ctx, s->epochs_done);
        pthread_mutex_unlock(&s->lock);
    }
    reef_trainer_free(&t);
    if (!rc && opt->cfg.qat_epochs > 0) {
        // quantization-aware fine-tuning on the grids score_int8's quantizer will choose
        reef_quant_options q;
        reef_quant_options_default(&q);
        q.samples = opt->calib_samples, q.seed = opt->cfg.seed, q.threads = 1, q.agreement = 0;
        const int qrc = reef_qat_finetune(m, train, &opt->cfg, &q, NULL, NULL, NULL, opt->stop, err);
        if (qrc == 1) rc = reef_fail(err, "interrupted");
        else if (qrc) rc = -1;
    }
    return rc;
}

static int score_int8(cv_shared *s, int f, reef_model *m, const reef_dataset *train, const reef_dataset *test,
                      uint16_t *pred, const char *keep, reef_error *err)
{
    reef_quant_options q;
    reef_quant_options_default(&q);
    q.samples = s->opt->calib_samples, q.seed = s->opt->cfg.seed, q.threads = 1, q.agreement = 0;
    reef_graph g;
    if (reef_quantize(m, train, &q, &g, NULL, err)) return -1;
    int rc = reef_int8_predict(&g, test, NULL, (int)test->count, pred, err);
    if (!rc) count_predictions(s->r, 1, f, test, pred);
    if (!rc && keep) {
        char path[4200];
        snprintf(path, sizeof path, "%s.tflite", keep);
        rc = reef_tflite_write(path, &g, err);
    }
    reef_graph_free(&g);
    return rc;
}

/* Fold f's training samples: of opt->train_data when given, else of ds. */
static int fold_train_set(cv_shared *s, int f, reef_dataset *train, uint32_t *ntrain, reef_error *err)
{
    const reef_dataset *src = s->opt->train_data ? s->opt->train_data : s->ds;
    uint32_t *idx = malloc((src->count + 1) * sizeof *idx), ntest;
    if (!idx) return reef_fail(err, "out of memory");
    reef_cv_split(s->p, f, src, idx, ntrain, NULL, &ntest);
    int rc = reef_dataset_subset(src, idx, *ntrain, train, err);
    free(idx);
    return rc;
}

/* ---- inner calibration of the decision bias ------------------------------- */

int reef_cv_inner_groups(const reef_cv_plan *p, int f, const reef_dataset *ds, int k, uint64_t seed,
                         uint8_t *inner, reef_error *err)
{
    const uint8_t *held = p->held + (size_t)f * p->num_groups;
    int64_t *n = group_counts(ds);
    uint32_t *cand = malloc(((size_t)p->num_groups + 1) * sizeof *cand), ncand = 0;
    if (!n || !cand) {
        free(n), free(cand);
        return reef_fail(err, "out of memory");
    }
    for (int g = 0; g < p->num_groups; g++)
        if (n[g] > 0 && !held[g]) cand[ncand++] = (uint32_t)g;
    free(n);
    memset(inner, 0, (size_t)p->num_groups);
    if (k < 1 || (uint32_t)k >= ncand) {
        free(cand);
        return reef_fail(err, "--inner-groups %d: hold out from 1 to %u of the fold's %u training groups", k,
                         ncand > 0 ? ncand - 1 : 0, ncand);
    }
    reef_rng rng;
    reef_rng_seed(&rng, (seed * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)f * 0xD1B54A32D192ED03ull) ^ 0x1A);
    for (uint32_t i = 0; i < (uint32_t)k; i++) {  // a partial Fisher-Yates shuffle
        uint32_t j = i + reef_rng_below(&rng, ncand - i), tmp = cand[i];
        cand[i] = cand[j], cand[j] = tmp;
        inner[cand[i]] = 1;
    }
    free(cand);
    return 0;
}

enum { OFFSET_STEPS = 256 };  /* the grid: -8 .. 8 in steps of 1/32 */
#define OFFSET_STEP (1.0 / 32)

/* Mean over the groups present of (accuracy + balanced) / 2 when class 1
 * is answered iff margin + d > 0. */
static double offset_score(const float *margin, const uint16_t *labels, const uint16_t *groups, uint32_t n,
                           int num_groups, double d, int64_t *counts /* (num_groups, 2, 2) scratch */)
{
    memset(counts, 0, (size_t)num_groups * 4 * sizeof *counts);
    for (uint32_t i = 0; i < n; i++) {
        const int pred = (double)margin[i] + d > 0;
        counts[(size_t)groups[i] * 4 + labels[i] * 2 + pred]++;
    }
    double sum = 0;
    int present = 0;
    for (int g = 0; g < num_groups; g++) {
        const int64_t *c = counts + (size_t)g * 4, n0 = c[0] + c[1], n1 = c[2] + c[3];
        if (n0 + n1 == 0) continue;
        const double acc = (double)(c[0] + c[3]) / (double)(n0 + n1);
        double rsum = 0;
        int k = 0;
        if (n0) rsum += (double)c[0] / (double)n0, k++;
        if (n1) rsum += (double)c[3] / (double)n1, k++;
        sum += (acc + rsum / k) / 2, present++;
    }
    return present ? sum / present : 0;
}

double reef_cv_choose_offset(const float *margin, const uint16_t *labels, const uint16_t *groups, uint32_t n,
                             int num_groups)
{
    int64_t *counts = malloc(((size_t)num_groups * 4 + 1) * sizeof *counts);
    if (!counts) return 0;
    double best = offset_score(margin, labels, groups, n, num_groups, 0, counts), best_d = 0;
    for (int i = 1; i <= OFFSET_STEPS; i++)
        for (int sign = 1; sign >= -1; sign -= 2) {  // outward from 0: a tie keeps the smaller |d|
            const double d = sign * i * OFFSET_STEP, v = offset_score(margin, labels, groups, n, num_groups, d, counts);
            if (v > best) best = v, best_d = d;
        }
    free(counts);
    return best_d;
}

int reef_model_shift_class_bias(reef_model *m, int cls, float d, reef_error *err)
{
    for (int b = m->nblocks - 1; b >= 0; b--)
        for (int l = m->blocks[b].nlayers - 1; l >= 0; l--) {
            reef_layer *L = &m->blocks[b].layers[l];
            if (L->kind != REEF_LAYER_FC) continue;
            if (!L->b) return reef_fail(err, "the classifier has no bias");
            if (cls < 0 || cls >= L->out_size) return reef_fail(err, "no class %d among %d outputs", cls, L->out_size);
            L->b[cls] += d;
            return 0;
        }
    return reef_fail(err, "the model has no fully connected classifier");
}

/* logit(last class) - logit(class 0) of every sample of ds. */
static void margins_of(reef_model *m, const reef_dataset *ds, float *margin)
{
    const int k = m->num_classes;
    for (uint32_t start = 0; start < ds->count; start += m->batch_cap) {
        int n = ds->count - start < (uint32_t)m->batch_cap ? (int)(ds->count - start) : m->batch_cap;
        reef_model_normalize(m, reef_dataset_sample(ds, start), n);
        reef_model_forward(m, n, REEF_MODE_INFER, 0);
        for (int i = 0; i < n; i++) margin[start + i] = m->logits[(size_t)i * k + k - 1] - m->logits[(size_t)i * k];
    }
}

/* Fold f's inner calibration: holds out inner groups of its training set
 * train, trains on the rest, scores scored's samples of the inner groups
 * (into *inner_set, for --keep's IDs) and returns their best offset in *d. */
static int calibrate_fold(cv_shared *s, int f, const reef_dataset *train, reef_dataset *inner_set, double *d,
                          reef_error *err)
{
    const reef_dataset *ds = s->ds;
    uint8_t *inner = s->r->inner + (size_t)f * s->p->num_groups;
    if (reef_cv_inner_groups(s->p, f, ds, s->opt->inner_groups, s->opt->cfg.seed, inner, err)) return -1;
    const uint32_t big = (train->count > ds->count ? train->count : ds->count) + 1;
    uint32_t *idx = malloc(big * sizeof *idx), nfit = 0, nscore = 0;
    float *margin = malloc(big * sizeof *margin);
    reef_dataset fit = {0};
    reef_model m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    if (!idx || !margin) {
        reef_fail(err, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < train->count; i++)
        if (!inner[train->groups[i]]) idx[nfit++] = i;
    if (reef_dataset_subset(train, idx, nfit, &fit, err)) goto done;
    for (uint32_t i = 0; i < ds->count; i++)
        if (inner[ds->groups[i]]) idx[nscore++] = i;
    if (reef_dataset_subset(ds, idx, nscore, inner_set, err)) goto done;
    if (train_fold(s, &m, &fit, err)) goto done;
    margins_of(&m, inner_set, margin);
    *d = reef_cv_choose_offset(margin, inner_set->labels, inner_set->groups, inner_set->count, (int)ds->num_groups);
    rc = 0;
done:
    if (rc) reef_fail_wrap(err, "inner calibration");
    reef_model_free(&m);
    reef_dataset_free(&fit);
    free(idx);
    free(margin);
    return rc;
}

static int run_fold(cv_shared *s, int f, reef_error *err)
{
    const reef_dataset *ds = s->ds;
    uint32_t *idx = malloc((ds->count + 1) * sizeof *idx), ntrain = 0, ntest;
    uint16_t *pred = malloc((ds->count + 1) * sizeof *pred);
    reef_dataset train = {0}, test = {0}, inner = {0};
    reef_model m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    double t0 = reef_now(), offset = 0;
    if (!idx || !pred) {
        reef_fail(err, "out of memory");
        goto done;
    }
    if (fold_train_set(s, f, &train, &ntrain, err)) goto done;
    uint32_t unused;
    reef_cv_split(s->p, f, ds, NULL, &unused, idx, &ntest);
    if (reef_dataset_subset(ds, idx, ntest, &test, err)) goto done;
    char held[1024], keep[4096];
    reef_cv_fold_name(s->p, f, ds, held, sizeof held);
    if (s->opt->keep_dir) snprintf(keep, sizeof keep, "%s/fold-%02d", s->opt->keep_dir, f);
    if (s->opt->inner_groups > 0 && calibrate_fold(s, f, &train, &inner, &offset, err)) goto done;
    if (train_fold(s, &m, &train, err)) goto done;
    if (s->opt->inner_groups > 0 && reef_model_shift_class_bias(&m, m.num_classes - 1, (float)offset, err)) goto done;
    reef_evaluate(&m, &test, pred, NULL);
    count_predictions(s->r, 0, f, &test, pred);
    if (s->opt->int8 && score_int8(s, f, &m, &train, &test, pred, s->opt->keep_dir ? keep : NULL, err)) goto done;
    if (s->opt->keep_dir) {
        char path[4200];
        snprintf(path, sizeof path, "%s.ckpt", keep);
        if (reef_ckpt_save(path, &m, &s->opt->cfg, NULL, s->opt->cfg.epochs, -1, err)) goto done;
        snprintf(path, sizeof path, "%s.txt", keep);
        if (write_fold_ids(path, held, &train, &test, s->opt->inner_groups > 0 ? &inner : NULL, offset, err))
            goto done;
    }
    s->r->ntrain[f] = ntrain;
    s->r->offset[f] = offset;
    s->r->seconds[f] = reef_now() - t0;
    rc = 0;
done:
    if (rc) reef_fail_wrap(err, "fold %d", f);
    reef_model_free(&m);
    reef_dataset_free(&train);
    reef_dataset_free(&test);
    reef_dataset_free(&inner);
    free(idx);
    free(pred);
    return rc;
}

static void *worker(void *arg)
{
    cv_shared *s = arg;
    const int rank = reef_ranks_rank(), ranks = reef_ranks_size();
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int f = s->failed ? s->p->nfolds : s->next_fold++;
        pthread_mutex_unlock(&s->lock);
        if (f >= s->p->nfolds) return NULL;
        if (f % ranks != rank) continue;  // under mpirun, rank r runs folds r, r + N, ...
        reef_error err;
        if (run_fold(s, f, &err)) {
            pthread_mutex_lock(&s->lock);
            if (!s->failed) s->failed = 1, s->err = err;
            pthread_mutex_unlock(&s->lock);
        }
    }
}

int reef_cv_run(const reef_dataset *ds, const reef_cv_plan *p, const reef_cv_options *opt, reef_cv_result *r,
                reef_error *err)
{
    memset(r, 0, sizeof *r);
    r->nfolds = p->nfolds, r->num_groups = p->num_groups, r->num_classes = (int)ds->num_classes;
    r->has_int8 = opt->int8, r->has_offset = opt->inner_groups > 0;
    const size_t cells = (size_t)r->nfolds * r->num_groups * r->num_classes * r->num_classes;
    r->confusion[0] = calloc(cells + 1, sizeof(int64_t));
    r->confusion[1] = calloc(cells + 1, sizeof(int64_t));
    r->seconds = calloc((size_t)r->nfolds + 1, sizeof *r->seconds);
    r->ntrain = calloc((size_t)r->nfolds + 1, sizeof *r->ntrain);
    r->offset = calloc((size_t)r->nfolds + 1, sizeof *r->offset);
    r->inner = calloc((size_t)r->nfolds * r->num_groups + 1, 1);
    if (!r->confusion[0] || !r->confusion[1] || !r->seconds || !r->ntrain || !r->offset || !r->inner) {
        reef_cv_result_free(r);
        return reef_fail(err, "out of memory");
    }
    if (opt->inner_groups > 0 && ds->num_classes != 2) {
        reef_cv_result_free(r);
        return reef_fail(err, "inner calibration of the decision bias needs 2 classes; the data has %u",
                         ds->num_classes);
    }
    cv_shared s = {.ds = ds, .p = p, .opt = opt, .r = r};
    pthread_mutex_init(&s.lock, NULL);
    int jobs = opt->jobs < 1 ? 1 : opt->jobs > p->nfolds ? p->nfolds : opt->jobs;
    pthread_t th[64];
    if (jobs > 64) jobs = 64;
    int started = 0;
    for (; started < jobs - 1; started++)
        if (pthread_create(&th[started], NULL, worker, &s)) break;
    worker(&s);  // the calling thread is a worker too
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&s.lock);
    /* under mpirun: any rank's failure fails all; then every rank gets every
     * fold's counts (each fold ran on one rank, the others hold zeros) */
    if (reef_ranks_agree(s.failed, s.err.msg, sizeof s.err.msg)) {
        *err = s.err;
        reef_cv_result_free(r);
        return -1;
    }
    if (reef_ranks_sum_i64(r->confusion[0], cells) || reef_ranks_sum_i64(r->confusion[1], cells) ||
        reef_ranks_sum_disjoint_f64(r->seconds, (size_t)r->nfolds) ||
        reef_ranks_sum_disjoint_f64(r->offset, (size_t)r->nfolds)) {
        reef_cv_result_free(r);
        return reef_fail(err, "pooling the folds' results between ranks failed");
    }
    int64_t ntrain[r->nfolds > 0 ? r->nfolds : 1];
    for (int f = 0; f < r->nfolds; f++) ntrain[f] = r->ntrain[f];
    if (reef_ranks_sum_i64(ntrain, (size_t)r->nfolds)) {
        reef_cv_result_free(r);
        return reef_fail(err, "pooling the folds' results between ranks failed");
    }
    for (int f = 0; f < r->nfolds; f++) r->ntrain[f] = (uint32_t)ntrain[f];
    if (opt->inner_groups > 0)  // every rank can draw every fold's inner groups (they depend on seed and fold only)
        for (int f = 0; f < r->nfolds; f++)
            if (reef_cv_inner_groups(p, f, ds, opt->inner_groups, opt->cfg.seed,
                                     r->inner + (size_t)f * r->num_groups, err)) {
                reef_cv_result_free(r);
                return -1;
            }
    return 0;
}

void reef_cv_result_free(reef_cv_result *r)
{
    free(r->confusion[0]);
    free(r->confusion[1]);
    free(r->seconds);
    free(r->ntrain);
    free(r->offset);
    free(r->inner);
    memset(r, 0, sizeof *r);
}

int reef_train_and_score(const reef_arch *arch, const reef_train_cfg *cfg, const reef_dataset *train,
                         const reef_dataset *test, int calib_samples, double *acc_float, double *acc_int8,
                         reef_error *err)
{
    reef_cv_options opt;
    reef_cv_options_default(&opt);
    opt.arch = *arch, opt.cfg = *cfg;
    if (calib_samples > 0) opt.calib_samples = calib_samples;  // the fine-tuning's grids are the quantizer's
    cv_shared s = {.opt = &opt};
    pthread_mutex_init(&s.lock, NULL);
    reef_model m;
    memset(&m, 0, sizeof m);
    uint16_t *pred = malloc((test->count + 1) * sizeof *pred);
    int rc = pred ? 0 : reef_fail(err, "out of memory");
    if (!rc) rc = train_fold(&s, &m, train, err);
    if (!rc && reef_check_dataset_fits(&m, test, "the test data", err)) rc = -1;
    if (!rc) *acc_float = reef_evaluate(&m, test, pred, NULL);
    if (!rc && calib_samples > 0) {
        reef_quant_options q;
        reef_quant_options_default(&q);
        q.samples = calib_samples, q.seed = cfg->seed, q.threads = 1, q.agreement = 0;
        reef_graph g;
        rc = reef_quantize(&m, train, &q, &g, NULL, err);
        if (!rc) {
            rc = reef_int8_predict(&g, test, NULL, (int)test->count, pred, err);
            int64_t correct = 0;
            for (uint32_t i = 0; !rc && i < test->count; i++) correct += pred[i] == test->labels[i];
            if (!rc) *acc_int8 = test->count ? (double)correct / test->count : 0;
            reef_graph_free(&g);
        }
    }
    pthread_mutex_destroy(&s.lock);
    reef_model_free(&m);
    free(pred);
    return rc;
}

/* ---- scores ------------------------------------------------------------------ */

reef_cv_score reef_cv_score_of(const reef_cv_result *r, int int8, int fold, int group, double *recall)
{
    const int k = r->num_classes;
    int64_t *conf = calloc((size_t)k * k, sizeof *conf);
    reef_cv_score sc = {0};
    if (!conf) return sc;
    for (int f = 0; f < r->nfolds; f++) {
        if (fold >= 0 && f != fold) continue;
        for (int g = 0; g < r->num_groups; g++) {
            if (group >= 0 && g != group) continue;
            const int64_t *c = confusion_at(r, int8, f, g);
            for (int i = 0; i < k * k; i++) conf[i] += c[i];
        }
    }
    double recall_sum = 0;
    int present = 0;
    for (int t = 0; t < k; t++) {
        int64_t row = 0;
        for (int q = 0; q < k; q++) row += conf[t * k + q];
        sc.count += row, sc.correct += conf[t * k + t];
        double rc = row ? (double)conf[t * k + t] / (double)row : -1;
        if (row) recall_sum += rc, present++;
        if (recall) recall[t] = rc;
    }
    sc.accuracy = sc.count ? (double)sc.correct / (double)sc.count : 0;
    sc.balanced = present ? recall_sum / present : 0;
    free(conf);
    return sc;
}

void reef_cv_mean_std(const reef_cv_result *r, int int8, int which, double *mean, double *std)
{
    double sum = 0, sumsq = 0;
    for (int f = 0; f < r->nfolds; f++) {
        reef_cv_score sc = reef_cv_score_of(r, int8, f, -1, NULL);
        double v = which ? sc.balanced : sc.accuracy;
        sum += v, sumsq += v * v;
    }
    const int n = r->nfolds;
    *mean = n ? sum / n : 0;
    double var = n > 1 ? (sumsq - n * *mean * *mean) / (n - 1) : 0;
    *std = var > 0 ? sqrt(var) : 0;
}
