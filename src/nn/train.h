/* Training a reef_model on a dataset: the recipe (optimizer, schedule,
 * augmentation, loss), one epoch at a time, and evaluation. `reef train`
 * drives it; the architecture search reuses the pieces. */
#ifndef REEF_NN_TRAIN_H
#define REEF_NN_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "util/err.h"

typedef struct reef_augment {
    int flip;            /* horizontal flip with probability 1/2 */
    int shift;           /* random translation by up to this many pixels (edges repeat) */
    float brightness;    /* add U(-b, b) to pixel/255 */
    float contrast;      /* scale (pixel/255 - 0.5) by U(1 - c, 1 + c) */
} reef_augment;

typedef struct reef_train_cfg {
    int epochs;
    int batch;
    int threads;
    uint64_t seed;
    reef_optim_cfg opt;
    float label_smoothing;
    int balance_classes;  /* weight classes by inverse frequency in the loss */
    reef_augment aug;
} reef_train_cfg;

/* The default recipe (the one fish-s is tuned for). */
void reef_train_cfg_default(reef_train_cfg *cfg);
/* "key=value" lines of every setting, for the checkpoint; and back. */
int reef_train_cfg_format(const reef_train_cfg *cfg, char *buf, size_t size);
int reef_train_cfg_parse(reef_train_cfg *cfg, const char *text, reef_error *err);

/* Per-channel mean and standard deviation of pixel/255 over a dataset. */
void reef_norm_from_dataset(reef_norm *norm, const reef_dataset *ds);
/* Refuses a dataset whose image shape or class count does not fit m,
 * naming both: reef_dataset_check_fits (data/dataset.h) on m's input. */
int reef_check_dataset_fits(const reef_model *m, const reef_dataset *ds, const char *what, reef_error *err);

typedef struct reef_trainer {
    reef_model *m;
    const reef_dataset *train;
    reef_train_cfg cfg;
    reef_optim opt;
    int epochs_done;
    int64_t total_steps;
    uint32_t *order;      /* (train->count) this epoch's sample order */
    uint16_t *labels;     /* (batch) labels of the current batch */
    float *class_weights; /* (num_classes) or NULL */
} reef_trainer;

typedef struct reef_epoch_stats {
    int epoch;            /* 1-based */
    double loss;          /* mean training loss */
    double train_acc;     /* on the augmented training batches, training mode */
    double lr;            /* learning rate at the epoch's last step */
    double seconds;
    double images_per_s;
} reef_epoch_stats;

/* The model must have its batch set (reef_model_set_batch with cfg->batch
 * and cfg->threads). The optimizer starts fresh; reef_trainer.opt and
 * epochs_done may then be replaced from a checkpoint to resume. */
int reef_trainer_init(reef_trainer *t, reef_model *m, const reef_dataset *train,
                      const reef_train_cfg *cfg, reef_error *err);
void reef_trainer_free(reef_trainer *t);
/* Runs the next epoch. progress (may be NULL) gets samples done so far.
 * If *stop becomes nonzero between steps, returns 1 at once (the epoch is
 * not complete and epochs_done is unchanged); else 0. */
int reef_trainer_epoch(reef_trainer *t, reef_epoch_stats *st, volatile sig_atomic_t *stop,
                       void (*progress)(void *ctx, int64_t done), void *ctx);

/* Inference-mode predictions for every sample of ds (pred: (count)), in
 * batches of m->batch_cap; returns accuracy and mean loss (if loss). */
double reef_evaluate(reef_model *m, const reef_dataset *ds, uint16_t *pred, double *loss);

#endif
