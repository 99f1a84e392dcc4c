/* Internal float kernels behind model.c's training passes (not a public
 * API; layers.h is). They differ from layers.h in two ways:
 *  - backward kernels either overwrite (REEF_GRAD_SET) or accumulate into
 *    (REEF_GRAD_ADD) the input gradient, so the model need not zero every
 *    activation gradient before each backward pass;
 *  - batch norm comes fused with the activation after it: one pass forward
 *    (y = act(z * scale + shift)), two passes backward, the activation's
 *    gradient mask recomputed from z (not y) instead of written out.
 * Depthwise layers with channel counts that are multiples of 8 take
 * vector paths (reef_k_dw_fast); model.c uses layers.c for the others. */
#ifndef REEF_NN_KERNELS_H
#define REEF_NN_KERNELS_H

#include <stddef.h>

#include "nn/arch.h"
#include "nn/layers.h"

typedef enum reef_grad_mode { REEF_GRAD_SET = 0, REEF_GRAD_ADD = 1 } reef_grad_mode;

/* ---- depthwise (vector path: multiplier 1, C % 8 == 0, KxK with K 3/5/7) */
/* Whether d takes the vector path; the functions below need it. */
int reef_k_dw_fast(const reef_conv_dims *d);
/* Floats of scratch the functions below need for d (its n samples). */
size_t reef_k_dw_scratch_floats(const reef_conv_dims *d);
/* out (N,OH,OW,C) = depthwise conv of inp (N,H,W,C) by w (KH,KW,C) + b (C, may be NULL) */
void reef_k_dw_forward(float *out, const float *inp, const float *w, const float *b,
                       const reef_conv_dims *d, float *scratch);
/* dinp (N,H,W,C) = or += the input gradient of dout (N,OH,OW,C) */
void reef_k_dw_backward_input(float *dinp, const float *dout, const float *w,
                              const reef_conv_dims *d, reef_grad_mode mode, float *scratch);
/* dw (KH,KW,C, may be NULL) += weight gradient, db (C, may be NULL) += bias gradient */
void reef_k_dw_backward_weights(float *dw, float *db, const float *dout, const float *inp,
                                const reef_conv_dims *d, float *scratch);

/* ---- pointwise convolution (1x1, stride 1, C and OC multiples of 8) ----
 * Own small GEMMs in NHWC instead of OpenBLAS and its packing copies. */
/* Whether d takes this path; the functions below need it. */
int reef_k_pw_fast(const reef_conv_dims *d);
/* Floats of scratch reef_k_pw_forward needs for d (0 when not fast). */
size_t reef_k_pw_scratch_floats(const reef_conv_dims *d);
/* out (N,H,W,OC) = inp (N,H,W,C) * w (OC,C)^T + b (OC, may be NULL) */
void reef_k_pw_forward(float *out, const float *inp, const float *w, const float *b,
                       const reef_conv_dims *d, float *scratch);
/* dinp (N,H,W,C, may be NULL) = or += input gradient; dw (OC,C), db (OC) += (may be NULL) */
void reef_k_pw_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const reef_conv_dims *d, reef_grad_mode mode);

/* ---- convolution, fully connected, pools, dropout: as layers.h, with mode */
void reef_k_conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const reef_conv_dims *d,
                            float *scratch, reef_grad_mode mode);
void reef_k_fc_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int n, int in, int outc, reef_grad_mode mode);
void reef_k_gap_backward(float *dinp, const float *dout, int n, int hw, int c, reef_grad_mode mode);
void reef_k_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n,
                             reef_grad_mode mode);

/* ---- batch norm fused with its activation ------------------------------
 * Statistics are summed around a per-channel reference ref (C) (e.g. the
 * running mean), which keeps the variance E[(x-ref)^2] - E[x-ref]^2 free of
 * cancellation when |mean| >> std:
 *   sum[c] += sum of (x - ref), sumsq[c] += sum of (x - ref)^2. */
void reef_k_bn_stats(double *sum, double *sumsq, const float *x, const float *ref, int rows, int c);
/* mean, rstd, var_unbiased (C) from reef_k_bn_stats sums over count rows */
void reef_k_bn_finish(float *mean, float *rstd, float *var_unbiased, const double *sum,
                      const double *sumsq, const float *ref, double count, int c);
/* y (rows,C) = act(gamma * (z - mean) * rstd + beta) */
void reef_k_bn_act_forward(float *y, const float *z, const float *mean, const float *rstd,
                           const float *gamma, const float *beta, int rows, int c, reef_nn_act act);
/* The backward passes take the activation's gradient mask from the
 * pre-activation z * gamma * rstd + shift, recomputed from z exactly as the
 * forward computed it, instead of reading y back.
 * With g = dy * act'(pre): sdy[c] += sum g, sdyx[c] += sum g * xhat */
void reef_k_bn_act_grads(double *sdy, double *sdyx, const float *dy, const float *z,
                         const float *mean, const float *rstd, const float *gamma,
                         const float *beta, int rows, int c, reef_nn_act act);
/* dz (rows,C) = gamma * rstd * (g - sdy/count - xhat * sdyx/count) (overwrites) */
void reef_k_bn_act_backward(float *dz, const float *dy, const float *z, const float *mean,
                            const float *rstd, const float *gamma, const float *beta,
                            const double *sdy, const double *sdyx, double count, int rows, int c,
                            reef_nn_act act);

#endif
