/* Optimizers (SGD with momentum / Nesterov, AdamW), learning-rate
 * schedules (cosine with linear warm-up, one-cycle) and gradient clipping,
 * over a model's flat parameter array. Weight decay applies only to the
 * tensors marked decay (conv and fc weights), never to biases or BN. */
#ifndef REEF_NN_OPTIM_H
#define REEF_NN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "util/err.h"

typedef enum reef_opt_kind { REEF_OPT_SGD, REEF_OPT_ADAMW } reef_opt_kind;
typedef enum reef_sched_kind { REEF_SCHED_COSINE, REEF_SCHED_ONECYCLE, REEF_SCHED_CONSTANT } reef_sched_kind;

typedef struct reef_optim_cfg {
    reef_opt_kind kind;
    float lr;             /* peak learning rate */
    float momentum;       /* SGD */
    int nesterov;         /* SGD */
    float beta1, beta2, eps; /* AdamW */
    float weight_decay;   /* AdamW: decoupled; SGD: added to the gradient */
    float clip_norm;      /* clip the global gradient L2 norm to this; 0 = off */
    reef_sched_kind sched;
    float warmup;         /* cosine: fraction of all steps warming up linearly from 0 */
    float final_frac;     /* cosine: lr at the end = lr * final_frac */
    float pct_start;      /* one-cycle: fraction of steps rising from lr/25 to lr */
} reef_optim_cfg;

typedef struct reef_optim {
    reef_optim_cfg cfg;
    size_t n;
    int64_t step;         /* updates done */
    float *m;             /* (n) SGD momentum buffer / Adam first moment */
    float *v;             /* (n) Adam second moment (NULL for SGD) */
} reef_optim;

void reef_optim_cfg_default(reef_optim_cfg *cfg);  /* AdamW 3e-3, cosine */
int reef_optim_init(reef_optim *o, const reef_optim_cfg *cfg, size_t nparams, reef_error *err);
void reef_optim_free(reef_optim *o);
/* Learning rate at update `step` (0-based) of total_steps. */
float reef_schedule_lr(const reef_optim_cfg *cfg, int64_t step, int64_t total_steps);
/* Scales grads so their global L2 norm is at most max_norm (if > 0);
 * returns the norm before clipping. */
double reef_clip_grad_norm(float *grads, size_t n, float max_norm);
/* One update of m's parameters from m->grads at learning rate lr. */
void reef_optim_step(reef_optim *o, reef_model *m, float lr);

#endif
