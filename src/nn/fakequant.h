/* Fake quantization for quantization-aware fine-tuning (docs/quantization.md,
 * "Quantization-aware fine-tuning"): the float network computes what the int8
 * graph of `reef quantize` computes, in float, so training can adapt to it.
 *
 * With a table attached (reef_model.fq), reef_model_forward and
 * reef_model_backward:
 *  - run batch norm on its running statistics in both modes (frozen: the
 *    int8 graph folds exactly those), with a backward to match;
 *  - round every tensor the int8 graph holds to its int8 grid: the
 *    normalized input, each layer's output (after batch norm and
 *    activation; an average pool or global average keeps its input's
 *    quantization, as in the graph) and each residual sum:
 *        x -> scale * (clamp(round(x / scale) + zp, -128, 127) - zp);
 *  - pass gradients straight through the rounding (the straight-through
 *    estimator; the clamp is left to the activations' own masks).
 * The weights are rounded by the caller around each step:
 * reef_fq_weights_in replaces every conv / depthwise / fc weight by the
 * value its int8 weight stands for (batch norm folded, symmetric per output
 * channel for conv and depthwise, per tensor for fc: what the quantizer
 * does), keeping the float weights aside; reef_fq_weights_out puts them
 * back, so the optimizer updates the float weights with the gradient taken
 * at the rounded ones. */
#ifndef REEF_NN_FAKEQUANT_H
#define REEF_NN_FAKEQUANT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "util/err.h"

typedef struct reef_fq_point {
    int on;                /* 0: the tensor is left as it is */
    float scale;
    int32_t zero_point;
} reef_fq_point;

typedef struct reef_fakequant {
    int nblocks;
    reef_fq_point input;   /* the normalized input */
    reef_fq_point *act;    /* (nblocks * REEF_BLOCK_MAX_LAYERS) layer li of block bi's output y */
    reef_fq_point *add;    /* (nblocks) residual block bi's sum */
    float *master;         /* (nparams) the float parameters while rounded ones are in place */
    size_t nparams;
    int weights_in;        /* reef_fq_weights_in is in effect */
} reef_fakequant;

/* An empty table (every point off) for m. */
int reef_fq_init(reef_fakequant *fq, const reef_model *m, reef_error *err);
void reef_fq_free(reef_fakequant *fq);
static inline reef_fq_point *reef_fq_act(reef_fakequant *fq, int block, int layer)
{
    return &fq->act[block * REEF_BLOCK_MAX_LAYERS + layer];
}

/* x (n) rounded in place to the int8 grid of p (nothing when p is off).
 * Rounding is TFLite's (half away from zero), as reef_quantize_value. */
static inline void reef_fq_round(float *x, size_t n, const reef_fq_point *p)
{
    if (!p->on) return;
    const float inv = 1.0f / p->scale, zp = (float)p->zero_point;
    for (size_t i = 0; i < n; i++) {
        float q = roundf(x[i] * inv) + zp;
        q = q < -128.0f ? -128.0f : q > 127.0f ? 127.0f : q;
        x[i] = p->scale * (q - zp);
    }
}

/* The folded per-channel factor of layer L's output channel o:
 * gamma / sqrt(running var + eps), or 1 without batch norm. */
float reef_fq_fold_factor(const reef_layer *L, int o);
/* Replaces m's conv / depthwise / fc weights by their int8 values (see
 * above), keeping the float ones in fq->master. */
void reef_fq_weights_in(reef_fakequant *fq, reef_model *m);
/* Puts the float weights back (no-op unless reef_fq_weights_in is in effect). */
void reef_fq_weights_out(reef_fakequant *fq, reef_model *m);

#endif
