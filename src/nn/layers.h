/* Float training layers, llm.c style: each layer is a forward and a backward
 * function over explicit, caller-owned buffers. Layout NHWC everywhere;
 * weights as TFLite lays them out: conv OHWI, depthwise 1HW(C*M), fully
 * connected (OUT, IN). Arguments: outputs first, then inputs, then shapes.
 *
 * Backward functions ACCUMULATE (+=) into every gradient they produce, so a
 * tensor read by two layers (a residual input) simply gets both shares; the
 * caller zeroes gradients before a backward pass. A NULL gradient pointer
 * means "not needed" (e.g. dinp of the first layer). Kernels never allocate,
 * print or exit. */
#ifndef REEF_NN_LAYERS_H
#define REEF_NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "util/rng.h"

/* Shapes of a convolution, depthwise convolution or pooling window over a
 * batch. Padding is given explicitly (top/left); bottom/right padding is
 * whatever makes the output size come out. */
typedef struct reef_conv_dims {
    int n;              /* batch */
    int h, w, c;        /* input */
    int oh, ow, oc;     /* output; depthwise: oc = c * multiplier */
    int kh, kw;
    int stride;
    int pad_top, pad_left;
} reef_conv_dims;

/* Fills d for TFLite SAME padding: out = ceil(in / stride), total padding
 * max((out - 1) * stride + k - in, 0), top/left get the smaller half. */
void reef_conv_dims_same(reef_conv_dims *d, int n, int h, int w, int c, int oc, int k, int stride);
/* VALID padding: out = (in - k) / stride + 1, no padding. */
void reef_conv_dims_valid(reef_conv_dims *d, int n, int h, int w, int c, int oc, int k, int stride);

/* ---- convolution (im2col + cblas_sgemm) ------------------------------- */
/* Floats of scratch the conv functions need (0 for a 1x1 stride-1 conv). */
size_t reef_conv2d_scratch_floats(const reef_conv_dims *d);
/* out (N,OH,OW,OC) = conv(inp (N,H,W,C), w (OC,KH,KW,C)) + b (OC, may be NULL).
 * scratch: reef_conv2d_scratch_floats(d) floats. */
void reef_conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                         const reef_conv_dims *d, float *scratch);
void reef_conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const reef_conv_dims *d, float *scratch);

/* ---- depthwise convolution: out channel o reads input channel o / M ---- */
/* out (N,OH,OW,C*M), inp (N,H,W,C), w (1,KH,KW,C*M), b (C*M, may be NULL) */
void reef_dwconv2d_forward(float *out, const float *inp, const float *w, const float *b,
                           const reef_conv_dims *d);
void reef_dwconv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const reef_conv_dims *d);

/* ---- fully connected ---------------------------------------------------- */
/* out (N,OUT) = inp (N,IN) * w (OUT,IN)^T + b (OUT, may be NULL) */
void reef_fc_forward(float *out, const float *inp, const float *w, const float *b,
                     int n, int in, int outc);
void reef_fc_backward(float *dinp, float *dw, float *db, const float *dout,
                      const float *inp, const float *w, int n, int in, int outc);

/* ---- batch norm over rows = N*H*W rows of C channels --------------------
 * Training mode normalizes with the batch's mean and biased variance;
 * inference mode with the running statistics:
 *   y = gamma * (x - mean) / sqrt(var + eps) + beta.
 * The pieces (partial sums, finish, apply) let a batch split across threads
 * compute exact batch statistics; the whole-batch helpers chain them. */
#define REEF_BN_EPS 1e-5f
/* sum[c] += sum of x, sumsq[c] += sum of x^2 over rows (double for accuracy) */
void reef_bn_partial_stats(double *sum, double *sumsq, const float *x, int rows, int c);
/* mean, rstd (C) from the sums over count rows; var_unbiased (C, may be NULL) */
void reef_bn_finish_stats(float *mean, float *rstd, float *var_unbiased,
                          const double *sum, const double *sumsq, double count, int c);
/* out (rows,C) = gamma * (x - mean) * rstd + beta (out may equal x) */
void reef_bn_apply(float *out, const float *x, const float *mean, const float *rstd,
                   const float *gamma, const float *beta, int rows, int c);
/* running = (1 - momentum) * running + momentum * batch (PyTorch's convention) */
void reef_bn_update_running(float *run_mean, float *run_var, const float *mean,
                            const float *var_unbiased, float momentum, int c);
void reef_bn_forward_train(float *out, float *mean, float *rstd, const float *x,
                           const float *gamma, const float *beta, int rows, int c);
void reef_bn_forward_infer(float *out, const float *x, const float *gamma, const float *beta,
                           const float *run_mean, const float *run_var, int rows, int c);
/* Backward in pieces: sdy[c] += sum dout, sdyx[c] += sum dout * xhat ... */
void reef_bn_partial_grads(double *sdy, double *sdyx, const float *dout, const float *x,
                           const float *mean, const float *rstd, int rows, int c);
/* ... then dinp += gamma * rstd * (dout - sdy/count - xhat * sdyx/count) */
void reef_bn_apply_backward(float *dinp, const float *dout, const float *x, const float *mean,
                            const float *rstd, const float *gamma, const double *sdy,
                            const double *sdyx, double count, int rows, int c);
/* Whole batch: dgamma += sdyx, dbeta += sdy, dinp as above. */
void reef_bn_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *x,
                      const float *mean, const float *rstd, const float *gamma, int rows, int c);

/* ---- activations (out may equal inp) ---------------------------------- */
void reef_relu_forward(float *out, const float *inp, size_t n);
/* dinp += dout where out > 0 */
void reef_relu_backward(float *dinp, const float *dout, const float *out, size_t n);
void reef_relu6_forward(float *out, const float *inp, size_t n);
/* dinp += dout where 0 < out < 6 */
void reef_relu6_backward(float *dinp, const float *dout, const float *out, size_t n);

/* ---- pooling ------------------------------------------------------------
 * Windows from d (kh, kw, stride, padding; oc == c). Average pooling divides
 * by the number of in-bounds elements (TFLite's rule); max pooling sends the
 * gradient to the first maximum of each window. */
void reef_avgpool_forward(float *out, const float *inp, const reef_conv_dims *d);
void reef_avgpool_backward(float *dinp, const float *dout, const reef_conv_dims *d);
void reef_maxpool_forward(float *out, const float *inp, const reef_conv_dims *d);
void reef_maxpool_backward(float *dinp, const float *dout, const float *inp, const reef_conv_dims *d);
/* Global average pooling: out (N,C) = mean of inp (N,H*W,C) over H*W. */
void reef_gap_forward(float *out, const float *inp, int n, int hw, int c);
void reef_gap_backward(float *dinp, const float *dout, int n, int hw, int c);

/* ---- residual add ------------------------------------------------------- */
/* out = a + b; da += dout, db += dout */
void reef_add_forward(float *out, const float *a, const float *b, size_t n);
void reef_add_backward(float *da, float *db, const float *dout, size_t n);

/* ---- dropout (inverted: kept units are scaled by 1 / (1 - p)) ----------- */
/* mask (n) gets 0 or 1/(1-p) drawn from rng; out = inp * mask */
void reef_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, reef_rng *rng);
/* dinp += dout * mask */
void reef_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/* ---- softmax cross-entropy ---------------------------------------------
 * Target q = (1 - smoothing) * onehot(label) + smoothing / K. Sample i's
 * loss is w[label_i] * sum_k -q_k log p_k (w = class_weights, NULL = all 1).
 * probs (N,K) and losses (N) are written; returns the sum of the losses.
 * The batch loss is that sum divided by sum_i w[label_i]. */
double reef_softmax_xent_forward(float *losses, float *probs, const float *logits,
                                 const uint16_t *labels, const float *class_weights,
                                 float smoothing, int n, int k);
/* dlogits += scale * w[label_i] * (p - q); scale = 1 / sum_i w[label_i]
 * over the whole batch gives the gradient of the mean loss. */
void reef_softmax_xent_backward(float *dlogits, const float *probs, const uint16_t *labels,
                                const float *class_weights, float smoothing, float scale,
                                int n, int k);

#endif
