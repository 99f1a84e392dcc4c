/* reef runtime: on-device training of a float32 tail on the frozen int8 body
 * (personalization scheme "b", docs/personalization.md).
 *
 * The deployed int8 model is cut at a boundary tensor. Everything before it
 * (the body) stays int8 and runs the inference step table unchanged, so the
 * forward pass is bit-exact with inference. Everything after it (the tail:
 * conv, depthwise conv, global average pool, fully connected, in a chain)
 * runs in float32 on the Cortex-M4F's FPU from weights dequantized from the
 * int8 model, and is trained by SGD with momentum on a cross-entropy loss.
 * The int8 inference path never includes this header.
 *
 * llm.c style: forward/backward pairs over explicit buffers, outputs first,
 * backward ACCUMULATES (+=) into gradients. Layouts NHWC, conv weights
 * OHWI, depthwise (1, KH, KW, C), fully connected (OUT, IN), as TFLite.
 *
 * Determinism: everything here is float arithmetic in a fixed order, with no
 * libm (reef_train_expf is ours), compiled as ISO C99 (so GCC does not
 * contract a*b+c into a fused multiply-add): the host and the Cortex-M4
 * compute bit-identical weights.
 */
#ifndef REEF_RT_TRAIN_H
#define REEF_RT_TRAIN_H

#include <stdint.h>

#include "reef/types.h"

typedef enum reef_tail_kind {
    REEF_TAIL_CONV = 0,    /* w (OC, KH, KW, C), b (OC) */
    REEF_TAIL_DW_CONV = 1, /* w (1, KH, KW, C), b (C), multiplier 1 */
    REEF_TAIL_GAP = 2,     /* (H, W, C) -> (C): mean over H*W */
    REEF_TAIL_FC = 3,      /* w (OUT, IN), b (OUT), input flattened */
    REEF_TAIL_ADD = 4,     /* residual: the previous layer's output + the input
                              of layer skip_from (same shape), clamped */
} reef_tail_kind;

/* Which parameters of a layer the update changes (bit set). */
enum { REEF_TRAIN_WEIGHTS = 1, REEF_TRAIN_BIAS = 2 };

/* One tail layer, one sample (batch 1); every field a plain number so the
 * generator prints it as a const initializer. */
typedef struct reef_tail_layer {
    int32_t kind;              /* reef_tail_kind */
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kh, kw, stride, pad_top, pad_left; /* conv and depthwise */
    float act_min, act_max;    /* fused clamp: ReLU6 [0, 6], none +-3e38 */
    uint32_t w_at, b_at;       /* float index of the weights and bias in params0 */
    uint32_t tw_at, tb_at;     /* ... and in the trainable arrays (params, grads,
                                  velocity) when trained */
    uint32_t save_at;          /* float index in acts of this layer's input, kept for
                                  the weight gradient (when its weights are trained) */
    uint32_t mask_at;          /* float index in acts of its clamp mask: one bit per
                                  output, 1 where the gradient passes (uint32 words) */
    int32_t train;             /* REEF_TRAIN_WEIGHTS | REEF_TRAIN_BIAS, or 0 */
    int32_t keep_input;        /* 1: its input is kept at save_at because an ADD
                                  reads it (also kept when its weights train) */
    int32_t skip_from;         /* ADD: the layer whose input it adds */
    uint32_t dskip_at;         /* ADD: float index in acts of the gradient it
                                  sends back to that input */
} reef_tail_layer;

/* The tail: its layers and the sizes of the buffers it needs. A residual
 * block inside it is a chain closed by an ADD layer. */
typedef struct reef_tail {
    int32_t nlayers;
    const reef_tail_layer *layers; /* (nlayers) */
    int32_t in_count;          /* elements of the boundary tensor */
    float in_scale;            /* the boundary's int8 quantization */
    int32_t in_zero_point;
    int32_t nclasses;          /* outputs of the last layer (logits) */
    uint32_t param_count;      /* floats of params0 (every weight and bias) */
    uint32_t train_count;      /* floats trained: params, grads, velocity */
    uint32_t act_count;        /* floats of acts: saved inputs, logits, masks, and the
                                  two buffers forward and backward alternate between */
    uint32_t delta_count;      /* floats of each of those two: largest layer in or out */
    uint32_t logits_at;        /* float index of the logits in acts */
    uint32_t ping_at;          /* float index of the two buffers in acts */
    const struct reef_qtail *q; /* NULL: the float tail above (scheme b); else the
                                  int8 tail (scheme a, reef/train_int8.h): layers
                                  unused, params0 unused, params hold bytes */
} reef_tail;

/* The update's settings. */
typedef struct reef_tail_hparams {
    float lr;                  /* SGD step */
    float momentum;            /* 0: no velocity buffer needed */
    float anchor;              /* L2 pull towards the deployed weights (L2-SP); 0 = off */
    int32_t epochs;            /* passes over the labelled site samples */
    int32_t batch_site;        /* site samples per update step */
    int32_t batch_replay;      /* replay samples mixed into every update step */
    uint32_t seed;             /* shuffling */
    int32_t balance;           /* 1: every update batch takes the site's classes in
                                  equal shares (the rarer ones repeat); 0: plain shuffle */
    float lr_decay;            /* the session's lr is lr * lr_decay^e in its e-th epoch
                                  (counted over the whole update, the refit's included);
                                  0 or 1: constant */
    int32_t guard_replay;      /* GUARD also scores this many replay samples (the first
                                  ones in flash, which STEP then never trains on) with
                                  the new and the old parameters */
    int32_t guard_forget;      /* ... and refuses an update that answers more than this
                                  many fewer of them correctly than the old parameters */
    float distill;             /* session 16, Learning without Forgetting on the replay
                                  samples: the weight alpha in [0, 1] of the loss against
                                  the deployed model's softened outputs (the rest on the
                                  hard label); 0: hard labels only */
    float distill_t;           /* its temperature T (<= 0 means 1) */
} reef_tail_hparams;

/* The buffers of an update; all sized by the generator (no malloc). */
typedef struct reef_tail_state {
    float *params;             /* (train_count) RAM: the trained parameters */
    const float *params0;      /* (param_count) flash: the deployed values; frozen
                                  parameters are read from here */
    float *grads;              /* (train_count) */
    float *velocity;           /* (train_count), NULL when momentum is 0 */
    float *acts;               /* (act_count) */
    float *delta_a, *delta_b;  /* acts + ping_at and acts + ping_at + delta_count */
} reef_tail_state;

/* ---- layer kernels (one sample) ------------------------------------------ */
/* out (OH, OW, OC) = clamp(conv(inp (H, W, C), w) + b) */
void reef_tail_conv_forward(float *out, const float *inp, const float *w, const float *b,
                            const reef_tail_layer *L);
/* dout is the gradient at the clamp's output; the clamp's backward (pass
 * where act_min < out < act_max) is applied to it in place, unless out is
 * NULL (the caller applied a mask already). dinp (H, W, C) may be NULL;
 * inp is read only for dw. */
void reef_tail_conv_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                             const float *inp, const float *w, const reef_tail_layer *L);
void reef_tail_dw_forward(float *out, const float *inp, const float *w, const float *b,
                          const reef_tail_layer *L);
void reef_tail_dw_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                           const float *inp, const float *w, const reef_tail_layer *L);
void reef_tail_gap_forward(float *out, const float *inp, const reef_tail_layer *L);
void reef_tail_gap_backward(float *dinp, const float *dout, const reef_tail_layer *L);
void reef_tail_fc_forward(float *out, const float *inp, const float *w, const float *b,
                          const reef_tail_layer *L);
void reef_tail_fc_backward(float *dinp, float *dw, float *db, float *dout, const float *out,
                           const float *inp, const float *w, const reef_tail_layer *L);

/* e^x in float, deterministic (no libm): relative error below 2e-7. */
float reef_train_expf(float x);
/* Softmax of logits (n) into probs (n); returns -log(probs[label]). */
float reef_train_softmax_xent(float *probs, const float *logits, int32_t n, int32_t label);
/* The loss of one sample and its gradient at the logits (n), scaled:
 *   loss = (1 - a) * CE(onehot(label), softmax(z)) + a * T^2 * CE(softmax(teacher / T), softmax(z / T)),
 *   dlogits = scale * ((1 - a) * (softmax(z) - onehot) + a * T * (softmax(z / T) - softmax(teacher / T))),
 * a = alpha in [0, 1] and T = temperature > 0 (Hinton et al.'s T^2 keeps the
 * soft term's gradient on the hard term's scale). teacher NULL or alpha 0:
 * the plain cross-entropy, the same bits as without distillation. dlogits
 * (n) is written; returns the loss. */
float reef_train_distill_xent(float *dlogits, const float *logits, const float *teacher, int32_t n,
                              int32_t label, float alpha, float temperature, float scale);

/* ---- the tail ------------------------------------------------------------- */
/* Forward of one boundary tensor (in_count int8 values) through the tail
 * with the trained params (train_count; NULL: the deployed weights) and
 * params0; keeps in acts what the backward needs (inputs of layers whose
 * weights train, one mask bit per clamped output); returns the logits
 * (nclasses floats inside acts). Only the largest layer takes float
 * buffers twice: activations are not kept as floats. */
const float *reef_tail_forward(const reef_tail *t, const float *params, const float *params0,
                               const int8_t *boundary, float *acts);
/* Predicted class of one boundary tensor. */
int32_t reef_tail_predict(const reef_tail *t, const float *params, const float *params0,
                          const int8_t *boundary, float *acts);
/* Backward of the sample whose forward is in acts: adds scale * d(loss)/d
 * param to grads for trainable parameters. Returns the sample's loss. */
float reef_tail_backward(const reef_tail *t, const reef_tail_state *s, int32_t label, float scale);
/* The same for the loss of reef_train_distill_xent (teacher NULL or alpha
 * 0: reef_tail_backward). */
float reef_tail_backward_distill(const reef_tail *t, const reef_tail_state *s, int32_t label,
                                 const float *teacher, float alpha, float temperature, float scale);
/* One SGD step from grads: v = momentum * v + g + anchor * (p - p0);
 * p -= lr * v. Zeroes grads. Only trainable parameters move. */
void reef_tail_sgd(const reef_tail *t, const reef_tail_state *s, const reef_tail_hparams *hp);
/* The deployed values of the trained parameters (train_count) from params0. */
void reef_tail_deployed(const reef_tail *t, const float *params0, float *params);
/* Zeroes grads (and the velocity) and copies the deployed values of the
 * trained parameters from params0 into params. */
void reef_tail_reset(const reef_tail *t, const reef_tail_state *s);

/* One update step on a batch: forward and backward of every sample
 * (boundaries[i]: in_count int8 values, labels[i]), then SGD. Returns the
 * mean loss, or a negative value for bad arguments. */
float reef_tail_train_batch(const reef_tail *t, const reef_tail_state *s,
                            const reef_tail_hparams *hp, const int8_t *const *boundaries,
                            const uint8_t *labels, int32_t n);
/* The same with teachers[i] (nclasses logits of the deployed model, or
 * NULL: hard label only) mixed into sample i's loss by hp->distill at
 * temperature hp->distill_t (reef_train_distill_xent); the float tail
 * only (an int8 tail trains on the hard labels). teachers NULL or
 * hp->distill 0: reef_tail_train_batch, bit for bit. */
float reef_tail_train_batch_distill(const reef_tail *t, const reef_tail_state *s,
                                    const reef_tail_hparams *hp, const int8_t *const *boundaries,
                                    const uint8_t *labels, const float *const *teachers, int32_t n);

#endif
