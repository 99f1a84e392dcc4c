/* Cross-validation over a dataset's groups (DeepFish habitats): which
 * groups each fold holds out (reusable: personalization adapts the fold's
 * model to its held-out group), the fold's train/test samples, and the run
 * that trains the recipe on every fold and scores the held-out samples,
 * float and int8.
 *
 *   reef_cv_plan p;   reef_cv_plan_groups(&p, &ds, &err);   // leave-one-group-out
 *   reef_cv_result r; reef_cv_run(&ds, &p, &opt, &r, &err);
 *
 * Folds run in parallel (opt.jobs workers, each fold on opt.cfg.threads
 * threads); a fold's result depends only on the fold, the data and the
 * recipe, never on the number of workers. */
#ifndef REEF_CV_CV_H
#define REEF_CV_CV_H

#include <signal.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "nn/train.h"
#include "util/err.h"

typedef struct reef_cv_plan {
    int nfolds, num_groups;
    uint8_t *held;      /* (nfolds, num_groups): 1 = the fold holds the group out */
} reef_cv_plan;

/* One fold per group that has samples, in group order. */
int reef_cv_plan_groups(reef_cv_plan *p, const reef_dataset *ds, reef_error *err);
/* repeat folds, each holding out k distinct groups (among those with
 * samples) drawn from seed. Fails if k is not below the number of groups. */
int reef_cv_plan_random(reef_cv_plan *p, const reef_dataset *ds, int k, int repeat, uint64_t seed,
                        reef_error *err);
void reef_cv_plan_free(reef_cv_plan *p);
/* The fold's groups as "7398+7434" (buf of size). */
void reef_cv_fold_name(const reef_cv_plan *p, int fold, const reef_dataset *ds, char *buf, size_t size);

/* Sample indices of fold f, ascending: train (groups not held out) and test
 * (held out). Either array may be NULL to count only. */
void reef_cv_split(const reef_cv_plan *p, int f, const reef_dataset *ds, uint32_t *train, uint32_t *ntrain,
                   uint32_t *test, uint32_t *ntest);
/* A dataset of the samples idx (n) of src, in that order: pixels, labels,
 * groups copied; names and IDs borrowed from src (which must outlive it). */
int reef_dataset_subset(const reef_dataset *src, const uint32_t *idx, uint32_t n, reef_dataset *out,
                        reef_error *err);

typedef struct reef_cv_options {
    reef_arch arch;
    reef_train_cfg cfg;     /* the recipe; every fold uses cfg.seed */
    /* NULL, or where the training samples come from instead of ds: a dataset
     * with ds's shape, classes and group names (e.g. ds plus training-only
     * augmented copies); a fold trains on its samples of the groups it does not
     * hold out and still scores ds's held-out samples (reef_cv_check_train_data) */
    const reef_dataset *train_data;
    int int8;               /* also quantize each fold (calibrated on its training samples) and score int8 */
    int calib_samples;      /* int8 calibration samples (500) */
    int jobs;               /* folds at once (>= 1) */
    const char *keep_dir;   /* NULL, or DIR/fold-NN.{ckpt,tflite,txt} per fold */
    /* 0, or calibrate the decision bias on inner held-out groups (2 classes
     * only): each fold also holds out inner_groups of its own training groups
     * (reef_cv_inner_groups), trains the recipe on the rest, and chooses the
     * offset to the last class's classifier bias that scores best on those
     * inner groups (reef_cv_choose_offset); the fold's model, trained on all
     * its training groups, gets that offset in its float fc bias before it is
     * scored and quantized (so the int8 bias carries it: no cost on the MCU).
     * The outer held-out groups are never seen by the choice. */
    int inner_groups;
    /* progress(ctx, epochs done over all folds); called under a lock */
    void (*progress)(void *ctx, int64_t done);
    void *progress_ctx;
    volatile sig_atomic_t *stop;
} reef_cv_options;

void reef_cv_options_default(reef_cv_options *o);

/* Scores of one set of predictions. */
typedef struct reef_cv_score {
    int64_t count, correct;
    double accuracy;        /* correct / count */
    double balanced;        /* mean recall over the classes present */
} reef_cv_score;

typedef struct reef_cv_result {
    int nfolds, num_groups, num_classes, has_int8, has_offset;
    /* confusion counts [fold][group][true][pred] for float (0) and int8 (1) */
    int64_t *confusion[2];
    double *seconds;        /* (nfolds) wall time of each fold */
    uint32_t *ntrain;       /* (nfolds) */
    double *offset;         /* (nfolds) the chosen bias offset (0 without inner_groups) */
    uint8_t *inner;         /* (nfolds, num_groups): 1 = the fold's inner held-out group */
} reef_cv_result;

/* Whether train can stand in for ds's training samples: same sample shape,
 * class names and group names, in the same order. */
int reef_cv_check_train_data(const reef_dataset *ds, const reef_dataset *train, reef_error *err);

int reef_cv_run(const reef_dataset *ds, const reef_cv_plan *p, const reef_cv_options *opt, reef_cv_result *r,
                reef_error *err);
void reef_cv_result_free(reef_cv_result *r);

/* One training run and its scores: builds arch for train's shape, trains
 * cfg on train (normalization from train), scores test float (*acc_float)
 * and, when calib_samples > 0, quantized (calibrated on calib_samples
 * training samples, seed cfg->seed) through the int8 path (*acc_int8).
 * reef report --repeat runs it once per seed. */
int reef_train_and_score(const reef_arch *arch, const reef_train_cfg *cfg, const reef_dataset *train,
                         const reef_dataset *test, int calib_samples, double *acc_float, double *acc_int8,
                         reef_error *err);

/* Fold f's inner held-out groups (inner: num_groups flags): k of the
 * groups with samples that f does not hold out, drawn from seed and f (the
 * same for any worker count). Fails unless 1 <= k < that many groups. */
int reef_cv_inner_groups(const reef_cv_plan *p, int f, const reef_dataset *ds, int k, uint64_t seed,
                         uint8_t *inner, reef_error *err);

/* The offset d to add to the last class's logit (2 classes: class 1 iff
 * margin + d > 0, margin = logit1 - logit0) that maximizes the mean over the
 * groups present of (accuracy + balanced accuracy) / 2, the two LOHO
 * targets' figures, over the grid -8 .. 8 in steps of 1/32; ties go to the
 * smallest |d| (0 first). margin, labels, groups: n samples. */
double reef_cv_choose_offset(const float *margin, const uint16_t *labels, const uint16_t *groups, uint32_t n,
                             int num_groups);

/* Adds d to class cls's bias of the model's classifier (its last FC layer).
 * Fails if the model has no biased FC layer or cls is out of range. */
int reef_model_shift_class_bias(reef_model *m, int cls, float d, reef_error *err);

/* Scores of fold f (group -1: all its held-out samples) or of group g
 * summed over every fold that held it out (fold -1); int8 0 or 1. recall
 * (may be NULL): (num_classes), -1 for a class with no samples. */
reef_cv_score reef_cv_score_of(const reef_cv_result *r, int int8, int fold, int group, double *recall);
/* Mean and sample standard deviation over folds of accuracy (which 0) or
 * balanced accuracy (which 1). */
void reef_cv_mean_std(const reef_cv_result *r, int int8, int which, double *mean, double *std);

#endif
