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
    float gamma;         /* raise pixel/255 to exp(U(-g, g)) (before contrast and brightness) */
    float noise;         /* add N(0, noise) to every pixel/255 */
    int blur;            /* with probability 1/2, a 3x3 box blur */
    int cutout;          /* with probability 1/2, a cutout x cutout square set to the mean */
    float motion;        /* difference inputs (128 = no change): with this probability, the
                            motion of a random training frame of class 0 (no fish), p - 128
                            at the same place, is added to the sample, label kept: scene
                            motion alone must not read as the last class (session 14) */
} reef_augment;

typedef struct reef_train_cfg {
    int epochs;
    int batch;
    int threads;
    uint64_t seed;
    reef_optim_cfg opt;
    float label_smoothing;
    int balance_classes;  /* weight classes by inverse frequency in the loss */
    int balance_groups;   /* draw every group (habitat) equally often: an epoch is
                             count draws of a uniform group, then a uniform sample of it */
    reef_augment aug;
    float mixup;          /* 0: off. a > 0: mixup (Zhang et al. 2018): every sample
                             blended x = l x1 + (1 - l) x2 with a uniform partner of
                             the epoch, l ~ Beta(a, a); its label is y1 with
                             probability l, else y2 (an unbiased draw of mixup's
                             soft-target gradient: cross-entropy's is linear in it) */
    int chunk;            /* 0: a batch is one forward/backward. C > 0: a batch is
                             cut into chunks of C samples (the last may be shorter),
                             each its own forward/backward (batch norm over the chunk),
                             their gradients weighted by size and added in chunk order;
                             chunks are what `mpirun -np N` ranks share out, and the
                             result does not depend on N (docs/mpi.md) */
    int qat_epochs;       /* 0: off. N > 0: after the float epochs, N epochs of
                             quantization-aware fine-tuning (reef_qat_finetune in
                             quant/quant.h; docs/quantization.md) */
    float qat_lr;         /* its peak learning rate (1e-4, cosine to 0) */
    int qat_done;         /* the fine-tuning has run (a checkpoint records it) */
    int norm_shared;      /* 0: each image channel normalized by its own mean and std.
                             1: one mean and std over all channels, so that the int8
                             input is exact (q = pixel - 128) on every channel.
                             2: one mean, each channel its own spread around it; the
                             quantizer folds the stds into the first convolution, so
                             the input is exact too (docs/quantization.md) */
} reef_train_cfg;

/* The default recipe (the one fish-s is tuned for). */
void reef_train_cfg_default(reef_train_cfg *cfg);
/* Sets one recipe setting by the name `reef train` gives its option
 * (without "--") and the architecture spec's `recipe` lines use: epochs,
 * batch, threads, seed, optimizer (adamw|sgd; also sets that optimizer's
 * default lr), lr, momentum, weight-decay, schedule, clip, label-smoothing,
 * balance (on|off), balance-groups (on|off), mixup (Beta alpha, 0 off), qat-epochs, qat-lr, input-norm (channel|shared|shared-mean), augment (a comma list: see
 * reef_augment_parse). Returns 0; 1 for an unknown key; -1 for a bad value.
 * why (may be NULL) gets what is wrong. */
int reef_train_cfg_set(reef_train_cfg *cfg, const char *key, const char *value, char *why, size_t why_size);
/* The recipe keys reef_train_cfg_set knows, space-separated (for messages). */
const char *reef_train_cfg_keys(void);
/* An augmentation list: comma-separated flip, shift[=N], jitter, bright[=B],
 * contrast[=C], gamma[=G], noise[=S], blur, cutout[=N], motion[=P], or none. Replaces
 * *aug. Returns -1 with why on an unknown item or value. */
int reef_augment_parse(const char *text, reef_augment *aug, char *why, size_t why_size);
/* "key=value" lines of every setting, for the checkpoint; and back. */
int reef_train_cfg_format(const reef_train_cfg *cfg, char *buf, size_t size);
int reef_train_cfg_parse(reef_train_cfg *cfg, const char *text, reef_error *err);

/* Per-channel mean and standard deviation of pixel/255 over a dataset. */
void reef_norm_from_dataset(reef_norm *norm, const reef_dataset *ds);
/* The normalization the recipe asks for: reef_norm_from_dataset, or with
 * cfg->norm_shared one mean and one standard deviation over every channel's
 * values (each channel then has the int8 input's scale and zero point). */
void reef_norm_for_recipe(reef_norm *norm, const reef_dataset *ds, const reef_train_cfg *cfg);
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
    float *mix_partner;   /* mixup: (in_h * in_w * in_c) the first sample while its partner loads */
    uint32_t ngroups;        /* balance_groups: groups that have samples */
    uint32_t *group_start;   /* balance_groups: (ngroups + 1) offsets into group_samples */
    uint32_t *group_samples; /* (count) sample indices ordered by group */
    int chunk;               /* samples per chunk (cfg.chunk, or batch when 0) */
    int nchunks;             /* chunks in a full batch */
    size_t slot_floats;      /* nparams + nstats: one chunk's gradient and statistics */
    float *slots;            /* (nchunks, slot_floats) every chunk's, for the ordered sum */
    float *stats_before;     /* (nstats) running statistics before the step */
    double *chunk_sums;      /* (nchunks, 2) loss sum and correct count per chunk */
    int spread;              /* chunks shared out over the mpirun ranks (reef_trainer_spread) */
} reef_trainer;

typedef struct reef_epoch_stats {
    int epoch;            /* 1-based */
    double loss;          /* mean training loss */
    double train_acc;     /* on the augmented training batches, training mode */
    double lr;            /* learning rate at the epoch's last step */
    double seconds;
    double images_per_s;
} reef_epoch_stats;

/* The model must have its batch set (reef_model_set_batch with at least
 * cfg->batch, or cfg->chunk when set, and cfg->threads). Under mpirun with
 * N > 1 ranks (util/ranks.h) each rank runs its share of every batch's
 * chunks and all ranks keep identical models, once reef_trainer_spread is
 * called (otherwise every rank trains on its own, as `reef cv` folds do).
 * The optimizer starts fresh; reef_trainer.opt and
 * epochs_done may then be replaced from a checkpoint to resume. */
int reef_trainer_init(reef_trainer *t, reef_model *m, const reef_dataset *train,
                      const reef_train_cfg *cfg, reef_error *err);
void reef_trainer_free(reef_trainer *t);
/* Data-parallel over the mpirun ranks (util/ranks.h): every rank runs its
 * contiguous share of each batch's chunks and all ranks get the same sum.
 * Fails (same message on every rank) when more than one rank runs and the
 * recipe has no chunk, or there are more ranks than chunks in a batch. */
int reef_trainer_spread(reef_trainer *t, reef_error *err);
/* Runs the next epoch. progress (may be NULL) gets samples done so far
 * (by all ranks). Every rank must call it.
 * If *stop becomes nonzero between steps, returns 1 at once (the epoch is
 * not complete and epochs_done is unchanged); else 0. */
int reef_trainer_epoch(reef_trainer *t, reef_epoch_stats *st, volatile sig_atomic_t *stop,
                       void (*progress)(void *ctx, int64_t done), void *ctx);

/* Inference-mode predictions for every sample of ds (pred: (count)), in
 * batches of m->batch_cap; returns accuracy and mean loss (if loss). */
double reef_evaluate(reef_model *m, const reef_dataset *ds, uint16_t *pred, double *loss);

#endif
