/* The architecture search (`reef search`): TinyNAS-style choice of the
 * space (width, resolution) from the cost table, then ProxylessNAS on it:
 * supernet warm-up with uniformly sampled paths, then alternating weight
 * steps (training data, one path sampled by the gates) and architecture
 * steps (validation data, two-path gate gradient plus the soft resource
 * penalty), then the derive step with the hard check. */
#ifndef REEF_NAS_SEARCH_H
#define REEF_NAS_SEARCH_H

#include <signal.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nas/cost.h"
#include "nas/space.h"
#include "nas/supernet.h"
#include "util/err.h"

typedef struct reef_nas_search_cfg {
    int warmup_epochs;       /* weight-only epochs, paths uniform (20) */
    int search_epochs;       /* alternating epochs (40) */
    int batch;               /* 64 */
    float lr;                /* weights: AdamW peak lr, cosine (3e-3) */
    float arch_lr;           /* alphas: Adam with beta1 0 as ProxylessNAS (0.01) */
    int arch_every;          /* weight steps per architecture step (1) */
    float lambda;            /* weight of the soft penalty (1) */
    float margin;            /* soft targets = margin x hard targets (0.9) */
    int space_samples;       /* random networks per space in the selection (2000) */
    float min_fit;           /* a space needs this share of networks meeting the targets (0.05) */
    float width;             /* force a width multiplier (0: choose) */
    int downsample;          /* force 1 or 2 (0: choose) */
    int recal_batches;       /* BN recalibration batches before the final evaluation (20) */
    int threads;             /* the supernet's threads, as reef train's (2); same seed and threads: same result */
    uint64_t seed;
} reef_nas_search_cfg;

void reef_nas_search_cfg_default(reef_nas_search_cfg *cfg);

/* One space of the selection grid and how its random networks fare. */
typedef struct reef_nas_space_pick {
    reef_nas_space space;
    double fit;              /* share of random networks meeting every target (predicted) */
    double mean_macs_fit;    /* mean MACs of those (TinyNAS: more is better) */
    int ok;                  /* costs available */
} reef_nas_space_pick;

/* Picks the space: the one whose fitting networks have the most MACs on
 * average among those with at least min_fit of them fitting (else the one
 * with the largest share). picks: (REEF_NAS_NWIDTHS * REEF_NAS_NDOWNS). */
int reef_nas_select_space(const reef_nas_table *t, int in_h, int in_w, int in_c, int num_classes,
                          const reef_nas_budget *tg, const reef_nas_search_cfg *cfg, reef_nas_space_pick *picks,
                          int *best, reef_error *err);

/* Derive: the most probable candidate per block, then, while a target is
 * missed, the single change that removes the most excess per unit of
 * log-probability given up. Returns 0 when e meets every target, 1 when
 * no change helps (missed names the targets and figures), -1 on error. */
int reef_nas_derive(const reef_nas_space *s, const reef_nas_space_costs *sc, const float (*alpha)[REEF_NAS_NCAND],
                    const reef_nas_budget *tg, int *choice, reef_nas_estimate *e, char *missed, int size);

/* A network sampled during the architecture steps. */
typedef struct reef_nas_seen {
    int choice[REEF_NAS_MAX_BLOCKS];
    int n;                   /* validation batches it ran on */
    double correct, total;   /* validation samples right / seen */
    reef_nas_estimate est;
} reef_nas_seen;

typedef struct reef_nas_epoch {
    int epoch;               /* 1-based over warm-up and search */
    int search;              /* 0 warm-up, 1 alternating */
    double loss, train_acc;  /* weight steps */
    double val_acc;          /* arch steps' active paths on validation batches */
    double exp_latency_ms, exp_flash_kb, exp_ram_kb; /* expected under the gates */
    int argmax[REEF_NAS_MAX_BLOCKS];
    double seconds;
} reef_nas_epoch;

typedef struct reef_nas_result {
    reef_nas_space space;
    int choice[REEF_NAS_MAX_BLOCKS];
    reef_nas_estimate est;   /* predicted from the cost table */
    int met;                 /* 1: meets every target */
    char missed[256];        /* else which, with figures */
    double val_acc;          /* derived path in the supernet, BN recalibrated, whole validation set */
    float alpha[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
    int nseen;
    reef_nas_seen *seen;     /* (nseen) malloc'd */
    int nepochs;
    reef_nas_epoch *epochs;  /* (nepochs) malloc'd */
    double seconds;
} reef_nas_result;

void reef_nas_result_free(reef_nas_result *r);

typedef struct reef_nas_hooks {
    void (*step)(void *ctx, int64_t done, int64_t total);       /* after each weight step */
    void (*epoch)(void *ctx, const reef_nas_epoch *e);          /* after each epoch */
    volatile sig_atomic_t *stop;                                /* nonzero: stop after this step */
    void *ctx;
} reef_nas_hooks;

/* Runs the search on space s (from reef_nas_select_space). hooks may be
 * NULL. Datasets must be s's image shape and classes. */
int reef_nas_search_run(const reef_nas_space *s, const reef_nas_space_costs *sc, const reef_nas_budget *tg,
                        const reef_nas_search_cfg *cfg, const reef_dataset *train, const reef_dataset *val,
                        const reef_nas_hooks *hooks, reef_nas_result *res, reef_error *err);

#endif
