/* reef runtime: training int8 layers as deployed (scheme a of the
 * personalization issue: MCUNetV3 / tiny-training's sparse update with
 * quantization-aware scaling). The kernels below, and the int8 tail
 * (reef_qtail, at the end) that the session (reef/personal.h) runs when a
 * plan says `scheme int8` (docs/personalization.md).
 *
 * A layer here is an int8 fully connected layer, or a 1x1 convolution
 * (rows = pixels), with per-output-channel requantization, TFLite int8
 * semantics: the forward is the deployed kernel's arithmetic, bit for bit.
 * The backward is the straight-through estimator through the
 * requantization: with q_y = clamp(requant(acc, M_o) + zp_y),
 *   d acc[r, o] = d q_y[r, o] * m_o * [act_min < q_y < act_max],
 * m_o = M_o * 2^(shift_o - 31), the real multiplier s_x s_w[o] / s_y the
 * pair encodes. Gradients are in the units of the int8 / int32 numbers:
 *   d bias_q[o]  = sum_r d acc[r, o]                 (= s_x s_w[o] dL/db)
 *   d q_w[o, i]  = sum_r d acc[r, o] (q_x[r, i] - zp_x) (= s_w[o] dL/dW)
 *   d q_x[r, i]  = sum_o d acc[r, o] q_w[o, i]         (= s_x dL/dx)
 * so the input gradient of one layer is the output gradient (d q_y) of the
 * layer before it, through any number of int8 layers.
 *
 * Quantization-aware scaling (QAS, Lin et al. 2022): SGD on the real
 * weight W = s_w q_w moves q_w by -lr dL/dW / s_w = -lr d q_w / s_w^2, and
 * the int32 bias by -lr d bias_q / (s_x s_w)^2; the int8 weights are
 * rounded to nearest and kept in [-127, 127].
 *
 * C99, freestanding, no libm, no malloc; float only in the backward. */
#ifndef REEF_RT_TRAIN_INT8_H
#define REEF_RT_TRAIN_INT8_H

#include <stdint.h>

#include "reef/step.h"
#include "reef/train.h"

typedef struct reef_q_layer {
    int32_t rows, in_c, out_c;        /* rows: batch x pixels */
    int32_t input_offset;             /* -zp_x */
    int32_t output_offset;            /* zp_y */
    int32_t act_min, act_max;         /* int8 clamp of the output */
    const int32_t *multiplier; /* (out_c) the deployed requantization */
    const int8_t *shift;       /* (out_c) */
    float in_scale;                   /* s_x */
    const float *w_scale;             /* (out_c) s_w[o] */
} reef_q_layer;

/* ---- fully connected / 1x1 conv ---- */
/* q_y (rows, out_c) from q_x (rows, in_c), q_w (out_c, in_c), bias_q
 * (out_c, may be NULL): the deployed arithmetic. */
void reef_q_fc_forward(const reef_q_layer *L, const int8_t *q_x, const int8_t *q_w, const int32_t *bias_q,
                       int8_t *q_y);

/* The real multiplier m_o of a (multiplier, shift) pair. */
float reef_q_real_multiplier(int32_t multiplier, int32_t shift);

/* Backward from d q_y (rows, out_c; the forward's q_y gives the clamp
 * mask). Adds into d_bias (out_c) and d_w (out_c, in_c) when not NULL;
 * writes d_x (rows, in_c) when not NULL. d_acc (rows, out_c) is scratch. */
void reef_q_fc_backward(const reef_q_layer *L, const int8_t *q_x, const int8_t *q_w, const int8_t *q_y,
                        const float *d_y, float *d_acc, float *d_x, float *d_w, float *d_bias);

/* The QAS SGD step (see above) on the int8 weights and the int32 bias
 * (either may be NULL); zeroes the gradients it used. */
void reef_q_fc_sgd(const reef_q_layer *L, float lr, int8_t *q_w, float *d_w, int32_t *bias_q, float *d_bias);

/* An int8 depthwise convolution (multiplier 1) trained as deployed: the
 * same backward and QAS step, weights (KH, KW, C), per-channel
 * requantization; padding taps add nothing (TFLite pads with the zero
 * point). */
typedef struct reef_q_dw_layer {
    int32_t h, w, c, out_h, out_w;
    int32_t kh, kw, stride, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multiplier; /* (c) */
    const int8_t *shift;       /* (c) */
    float in_scale;
    const float *w_scale;              /* (c) */
} reef_q_dw_layer;

void reef_q_dw_forward(const reef_q_dw_layer *L, const int8_t *q_x, const int8_t *q_w, const int32_t *bias_q,
                       int8_t *q_y);
/* d_acc (out_h, out_w, c) is scratch; d_x (h, w, c) is written. */
void reef_q_dw_backward(const reef_q_dw_layer *L, const int8_t *q_x, const int8_t *q_w, const int8_t *q_y,
                        const float *d_y, float *d_acc, float *d_x, float *d_w, float *d_bias);
void reef_q_dw_sgd(const reef_q_dw_layer *L, float lr, int8_t *q_w, float *d_w, int32_t *bias_q, float *d_bias);

/* ---- the int8 tail (scheme a) --------------------------------------------
 * The tail [first_step, last_step) of the deployed step table, trained as
 * deployed: the forward runs the inference steps themselves (a trained
 * layer's step with its args copied and its filter / bias pointed at the
 * trained copies), so it is bit-exact with inference by construction; the
 * backward is the straight-through estimator above, from the dequantized
 * int8 logits of the last layer (not clamped in the backward); the step is
 * QAS. Trained parameters are bytes in the session's params (train_count
 * words): int32 biases (little-endian, 4-byte aligned) then int8 weights,
 * copied byte by byte, so the float array is never read as integers.
 * Everything else lives in acts (act_count floats): the saved int8 tensors
 * (boundary and every layer's output), the logits, the gradients of the
 * trained parameters, a bias scratch, each ADD's skip gradient, and two
 * delta buffers (the backward turns d q_y into d acc in place), which
 * during the forward hold the part of the model's arena the tail's steps
 * touch, [arena_lo, top) moved to ping_at (every tail step runs from a
 * copy of its args with its io offsets moved). Layers are CONV (1x1,
 * stride 1, no padding), DW_CONV, FC, GAP (global AVGPOOL or MEAN) and
 * ADD (reef_tail_kind); RESHAPE steps between them run from a moved copy. */
typedef struct reef_qtail_layer {
    int32_t kind;              /* reef_tail_kind */
    int32_t step;              /* its step in the table */
    int32_t train;             /* REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS */
    int32_t in_count, out_count, out_c; /* int8 elements in and out; channels */
    uint32_t in_at, out_at;    /* byte offsets in acts of its saved int8 input and output */
    uint32_t tw_at, tb_at;     /* byte offsets in params of the trained weights, biases */
    uint32_t weight_count;     /* int8 weights of the layer */
    uint32_t gw_at, gb_at;     /* float indices in acts of their gradients */
    float in_scale, out_scale; /* s_x, s_y */
    float back_scale;          /* GAP: s_x / (s_y H W); ADD: s_x / s_y of its chain input */
    float skip_scale;          /* ADD: s_x / s_y of its skip input */
    int32_t skip_from;         /* ADD: the layer whose input it adds */
    uint32_t dskip_at;         /* ADD: float index in acts of the gradient it sends back */
    int32_t is_mean;           /* GAP: a MEAN step (else a global AVGPOOL) */
} reef_qtail_layer;

typedef struct reef_qtail {
    const reef_step *steps;    /* the deployed step table */
    int32_t first_step, last_step;
    int32_t nlayers;
    const reef_qtail_layer *layers;
    uint32_t boundary_at;      /* byte offset of the boundary tensor in the arena */
    uint32_t arena_lo;         /* the lowest arena byte the tail's steps touch: they run
                                  with their io offsets moved down by it */
    int32_t logits_zero_point; /* of the last layer's output */
    uint32_t grads_at, grad_count; /* float index in acts, floats */
    uint32_t bias_at;          /* float index in acts: int32 scratch, max_c entries */
} reef_qtail;

/* The reef_tail API (reef/train.h) dispatches here when t->q is set. */
const float *reef_qtail_forward(const reef_tail *t, const float *params, const int8_t *boundary, float *acts);
float reef_qtail_backward(const reef_tail *t, const reef_tail_state *s, int32_t label, float scale);
void reef_qtail_sgd(const reef_tail *t, const reef_tail_state *s, const reef_tail_hparams *hp);
void reef_qtail_deployed(const reef_tail *t, float *params);
void reef_qtail_zero_grads(const reef_tail *t, float *acts);

#endif
