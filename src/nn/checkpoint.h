/* The float checkpoint: a versioned, CRC-checked file holding a model's
 * spec, weights, batch-norm statistics and normalization, and (for resuming)
 * the training configuration, optimizer state and epochs done. Layout:
 * docs/formats/checkpoint.md. Writes are atomic. */
#ifndef REEF_NN_CHECKPOINT_H
#define REEF_NN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "util/err.h"

#define REEF_CKPT_MAGIC "REEFCKPT" /* 8 bytes */
#define REEF_CKPT_VERSION 1

/* What a checkpoint carries besides the model. */
typedef struct reef_ckpt_train {
    int has_train;          /* the file has the training sections */
    reef_train_cfg cfg;
    int epochs_done;
    reef_optim opt;         /* restored optimizer (free with reef_optim_free) */
    double val_accuracy;    /* at the last completed epoch, -1 if unknown */
} reef_ckpt_train;

/* Saves m; cfg and opt may be NULL (a bare model). */
int reef_ckpt_save(const char *path, const reef_model *m, const reef_train_cfg *cfg,
                   const reef_optim *opt, int epochs_done, double val_accuracy, reef_error *err);
/* Loads into an unbuilt m (build + weights + statistics + normalization).
 * train may be NULL; when not, it gets the training state if present. */
int reef_ckpt_load(const char *path, reef_model *m, reef_ckpt_train *train, reef_error *err);
/* Same from bytes in memory. */
int reef_ckpt_load_buffer(const uint8_t *data, size_t size, const char *name, reef_model *m,
                          reef_ckpt_train *train, reef_error *err);
/* 1 if the bytes start with the checkpoint magic. */
int reef_ckpt_is(const uint8_t *head, size_t size);

#endif
