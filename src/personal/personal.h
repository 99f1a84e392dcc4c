/* On-device personalization, the host side (docs/personalization.md):
 * cut an int8 model into a frozen int8 body and a float32 tail, plan what
 * to train under RAM and flash budgets, build the device session the
 * runtime runs (runtime/include/reef/personal.h), and run a whole update
 * (host in-process or emulated Cortex-M4) with its accuracy and cost.
 *
 *   reef_ptail t;  reef_ptail_build(&graph, &lowered, boundary_step, train, &t, &err);
 *   reef_psession s; reef_psession_init(&s, &lowered, &t, &plan, replay, nreplay, &err);
 *   reef_personal_record(&s.p, record, out, out_size);   // the device's code
 */
#ifndef REEF_PERSONAL_PERSONAL_H
#define REEF_PERSONAL_PERSONAL_H

#include <stddef.h>
#include <stdint.h>

#include "codegen/lower.h"
#include "data/dataset.h"
#include "energy/profile.h"
#include "quant/quant.h"
#include "reef/personal.h"
#include "reef/train.h"
#include "reef/train_int8.h"
#include "tflite/graph.h"
#include "util/err.h"

#define REEF_TAIL_MAX_LAYERS 16

/* ---- datasets by habitat ------------------------------------------------- */
/* out = the samples of src whose group is (exclude = 0) or is not
 * (exclude = 1) in groups ("7398,7623"). out's strings point into src:
 * keep src alive while out is used. */
int reef_dataset_by_groups(const reef_dataset *src, const char *src_path, const char *groups,
                           int exclude, reef_dataset *out, reef_error *err);

/* ---- the tail ------------------------------------------------------------ */
/* The float32 tail of a lowered int8 model from step boundary_step on. */
typedef struct reef_ptail {
    reef_tail tail;                           /* layers points into layers[] */
    reef_tail_layer layers[REEF_TAIL_MAX_LAYERS];
    int steps[REEF_TAIL_MAX_LAYERS];          /* lowered step of each layer */
    float *params0;                           /* (param_count) dequantized weights */
    int boundary_step;                        /* body = steps [0, boundary_step) */
    int32_t boundary_tensor;                  /* graph tensor at the cut */
    uint32_t boundary_at;                     /* its arena offset */
    /* scheme a (REEF_SCHEME_INT8): the int8 tail; tail.q points here */
    int scheme;
    reef_qtail qtail;
    reef_qtail_layer qlayers[REEF_TAIL_MAX_LAYERS];
    uint32_t qparam_count;                    /* parameters of the tail's layers */
} reef_ptail;

/* How the tail is trained: float32 on the FPU from dequantized weights
 * (scheme b), or int8 as deployed with QAS (scheme a, MCUNetV3). */
enum { REEF_SCHEME_FLOAT = 0, REEF_SCHEME_INT8 = 1 };

/* Steps at which a tail can start: every later step is a chain of conv,
 * depthwise conv, global average pool, fully connected, reshape and a
 * final softmax. cuts gets up to max step indices, latest first; returns
 * how many. */
int reef_ptail_cuts(const reef_lowered_model *m, int *cuts, int max);

/* Builds the tail from boundary_step. train: per tail layer
 * REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS bits (ntrain entries), or NULL for
 * everything. */
int reef_ptail_build(const reef_graph *g, const reef_lowered_model *m, int boundary_step,
                     const int32_t *train, int ntrain, reef_ptail *t, reef_error *err);
void reef_ptail_free(reef_ptail *t);
/* The same cut and train bits, trained as int8 (scheme a): pointwise
 * convs, depthwise convs, fully connected, global pooling and ADDs. The
 * tail's steps run from m->table, which must outlive t. */
int reef_ptail_build_scheme(const reef_graph *g, const reef_lowered_model *m, int scheme, int boundary_step,
                            const int32_t *train, int ntrain, reef_ptail *t, reef_error *err);
/* Trainable floats of the tail. */
uint32_t reef_ptail_trainable(const reef_ptail *t);

/* ---- the plan ----------------------------------------------------------- */
typedef struct reef_pplan {
    int scheme;                            /* REEF_SCHEME_FLOAT or REEF_SCHEME_INT8 */
    int boundary_step;
    int ntrain;
    int32_t train[REEF_TAIL_MAX_LAYERS];  /* per tail layer */
    reef_tail_hparams hp;
    int32_t site_cap;                      /* labelled frames the device keeps */
    int32_t replay_count;                  /* source samples kept in flash */
    int32_t refit_epochs;                  /* after a kept guard, epochs over every labelled frame */
    int32_t replay_groups;                 /* 1: replay samples balanced over habitats and classes */
    int32_t temporal;                      /* 1 (session 13): a temporal session (--stream): RAM counts the
                                              camera's two backgrounds (4 bytes a pixel) after the
                                              inference arena, shared with the update's transient buffers */
    int32_t average;                       /* session 16: >= 2: the parameters after the guard's phase are the
                                              mean of the ends of its last `average` epochs (SNAP, AVERAGE);
                                              0: off */
    int32_t average_refit;                 /* the same over the refit's last epochs */
    /* budget figures (bytes), computed by reef_pplan_cost */
    uint32_t ram_update;                   /* persistent + transient + arena */
    uint32_t flash_update;                 /* params0 + replay */
    /* the whole update's cycles, estimated from multiply-accumulates (see
     * reef_pplan_cost); not in the plan file */
    double cycles_update;
    /* session 16: the averaging's flash work (SNAP: erase + program),
     * modeled; added to the time and energy budget figures */
    double avg_flash_s, avg_flash_j;
} reef_pplan;

/* Time and energy budgets of the whole update; 0: no limit. */
typedef struct reef_pplan_budget {
    uint32_t ram_bytes, flash_bytes;
    double max_seconds, max_joules;
    double clock_mhz, power_mw;            /* the device profile's */
    const reef_device_profile *profile;    /* its flash, for the averaging's snapshots; NULL: not costed */
} reef_pplan_budget;

void reef_pplan_default(reef_pplan *p);
/* Fills ram_update, flash_update and cycles_update for plan p on model m
 * with tail t, and the averaging's flash work on prof (NULL: none). */
void reef_pplan_cost(reef_pplan *p, const reef_lowered_model *m, const reef_ptail *t, const reef_device_profile *prof);
/* Chooses the deepest cut whose update fits the budget (RAM, flash, and the
 * estimated time and energy). Fails, saying by how much RAM, when not even
 * the last layer fits. */
int reef_pplan_choose(const reef_graph *g, const reef_lowered_model *m, const reef_pplan_budget *b, reef_pplan *p,
                      reef_error *err);
/* The recipes `reef personalize plan --tune` measures (session 14): at
 * chosen's cut, chosen's mask and the first layer's weights + every bias +
 * the classifier, at two learning rates and two batch/epoch settings,
 * those that fit b; writes up to max into out and returns how many. */
int reef_pplan_recipes(const reef_graph *g, const reef_lowered_model *m, const reef_pplan_budget *b,
                       const reef_pplan *chosen, reef_pplan *out, int max, reef_error *err);
/* One recipe's tuning figures for reef_pplan_pick (session 16): site[i]
 * is run i's site accuracy after (%), runs in the same habitat x draw order
 * for every recipe (the noise clause pairs them); S, D, W in points; the
 * planner's energy estimate; fits: within the RAM, flash, time and energy
 * budgets. The pick fills the last four fields. */
typedef struct reef_tune_result {
    const double *site;
    int runs;
    double site_mean, drop_mean, drop_worst, joules;
    int fits;
    int eligible;        /* fits, D <= 1.0, W <= 3.0 */
    int within_noise;    /* B itself, or an eligible recipe within B's noise */
    double noise_mean, noise_bound; /* mean(d) and 2 sd(d) / sqrt(runs) against B */
} reef_tune_result;
/* The recipe `plan --tune` keeps by session 16's rule (plan.c, and
 * docs/personalization.md "The selection rule"): -1 when n is 0. */
int reef_pplan_pick(reef_tune_result *r, int n);
/* The averaging's modeled flash time and energy: its snapshots' program
 * and erase on prof's flash, by reef_nvm_cost (the profile's DS12023
 * figures); 0 without a profile. */
void reef_pplan_avg_flash_cost(const reef_pplan *p, uint32_t train_count, const reef_device_profile *prof,
                               double *seconds, double *joules);
/* Snapshot slots the plan's averaging needs (SNAP): the larger of
 * average and average_refit, less one (the last epoch's parameters are in
 * RAM); 0 without averaging. */
int32_t reef_pplan_avg_slots(const reef_pplan *p);
/* Flash bytes of the averaging area: the slots, rounded up to whole erase
 * pages of page bytes. */
uint32_t reef_pplan_avg_bytes(const reef_pplan *p, uint32_t train_count, uint32_t page);
/* The plan file (docs/formats/personalize-plan.md): text, atomic write. */
int reef_pplan_save(const char *path, const reef_pplan *p, const char *model, reef_error *err);
int reef_pplan_load(const char *path, reef_pplan *p, reef_error *err);

/* ---- the device session on the host --------------------------------------- */
typedef struct reef_psession {
    reef_personal p;     /* what the runtime runs */
    void *blocks[12];    /* malloc'd buffers */
    reef_temporal temporal;         /* a temporal session's step */
    int8_t input_lut[2][256];       /* and its input map */
    reef_nvm avg_nvm;               /* session 16: the averaging area (host memory) */
    int8_t *replay;      /* (replay_count, in_count) */
    uint8_t *replay_labels;
} reef_psession;

/* Replay samples: the boundary tensors of replay_count samples of src
 * (class-balanced, in a fixed order from seed; with by_group the strata
 * (habitat, class) are taken in turn, so every habitat of src is kept; a
 * source without habitats is one),
 * computed by the int8 body. replay (replay_count * in_count), labels
 * (replay_count). */
int reef_replay_build(const reef_graph *g, const reef_lowered_model *m, const reef_ptail *t, const reef_dataset *src,
                      int32_t replay_count, uint32_t seed, int by_group, int8_t *replay, uint8_t *labels,
                      reef_error *err);

/* Session 16 (distillation on replay): the deployed model's tail logits
 * (replay_count, nclasses) of each replay sample, by the runtime's own tail
 * forward with the deployed weights, so the host session and the firmware
 * (which keeps them in flash) hold the same bits. Float tail only. */
int reef_replay_teacher(const reef_ptail *t, const int8_t *replay, int32_t replay_count, float *teacher,
                        reef_error *err);

int reef_psession_init(reef_psession *s, const reef_lowered_model *m, const reef_ptail *t,
                       const reef_pplan *plan, const int8_t *replay, const uint8_t *replay_labels,
                       reef_error *err);
void reef_psession_free(reef_psession *s);

/* Bytes of one record for model m, and of the device's output per record. */
size_t reef_precord_size(const reef_lowered_model *m);
/* A temporal session's record: the header and one raw gray frame (half the
 * 2-channel input's bytes). */
size_t reef_precord_size_stream(const reef_lowered_model *m);
/* Makes s a temporal session (running-diff-slow, reef/personal.h): its
 * backgrounds (malloc'd) and map's tables; the model's input must have 2
 * channels. */
int reef_psession_temporal(reef_psession *s, const reef_lowered_model *m, const reef_input_map *map, reef_error *err);
size_t reef_pout_size(const reef_ptail *t);

#endif
