/* A float network built from an architecture spec: an array of blocks, each
 * a short list of layers over explicit buffers. This is what `reef train`
 * trains, what the quantizer reads (layers with their weights, batch-norm
 * parameters and activation) and the engine the search's supernet runs: it
 * lays out its candidate blocks with reef_block_build and the parameter and
 * buffer walks below, and puts one sampled path of them in a reef_model's
 * blocks for reef_model_forward/backward (src/nas/supernet.h).
 *
 * Normalization: a uint8 pixel p of channel c enters the network as
 *   x = (p / 255 - norm.mean[c]) / norm.std[c]
 * (reef_model_normalize). Layouts: activations NHWC, conv weights OHWI,
 * depthwise 1HWC (multiplier 1), fully connected (OUT, IN).
 *
 * Threads: a batch is cut into nthreads contiguous slices that run through
 * every layer on their own; batch norm joins them at a barrier to sum its
 * statistics in a fixed order, and each thread's weight gradients are summed
 * in thread order at the end. Same seed and thread count: bit-identical
 * results. OpenBLAS runs single-threaded inside each slice. */
#ifndef REEF_NN_MODEL_H
#define REEF_NN_MODEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/arch.h"
#include "nn/layers.h"
#include "util/classes.h"
#include "util/err.h"
#include "util/rng.h"

#define REEF_BLOCK_MAX_LAYERS 4
#define REEF_MAX_THREADS 16
#define REEF_MAX_CHANNELS 4  /* image channels */
#define REEF_BN_MOMENTUM 0.1f /* the running statistics' update (reef_model.bn_momentum) */

typedef enum reef_layer_kind {
    REEF_LAYER_CONV,     /* w (OC, KH, KW, C); pointwise when KH = KW = 1 */
    REEF_LAYER_DWCONV,   /* w (1, KH, KW, C) */
    REEF_LAYER_FC,       /* w (OUT, IN), input flattened; b (OUT) */
    REEF_LAYER_AVGPOOL,
    REEF_LAYER_MAXPOOL,
    REEF_LAYER_GAP,      /* (H, W, C) -> (C) */
    REEF_LAYER_DROPOUT,
} reef_layer_kind;

/* One layer: an op, then optional batch norm, then an activation:
 *   z = op(input);  y = act(bn(z))   (z == y when neither follows). */
typedef struct reef_layer {
    reef_layer_kind kind;
    reef_conv_dims dims;   /* one sample's shapes (dims.n = 1) and window */
    int in_size, out_size; /* floats per sample: H*W*C in, OH*OW*OC out */
    int has_bn;
    reef_nn_act act;
    float dropout;         /* DROPOUT: probability */
    /* parameters (inside model->params; NULL when absent) */
    float *w;              /* see reef_layer_kind */
    float *b;              /* (OC), only on layers without batch norm */
    float *gamma, *beta;   /* (OC) batch norm scale and shift */
    float *run_mean, *run_var; /* (OC) running statistics (inside model->stats) */
    /* batch buffers (batch_cap rows of out_size floats) */
    float *z, *y;          /* (N, OH, OW, OC) */
    float *dz, *dy;        /* their gradients (aliases when z == y) */
    float *mask;           /* DROPOUT: (N, out_size) */
    float *bn_mean, *bn_rstd; /* (OC) statistics of the last training batch */
    float *bn_var;         /* (OC) its unbiased variance (what the running variance
                              takes in); NULL outside reef_model_set_batch's buffers */
} reef_layer;

typedef struct reef_block {
    reef_block_spec spec;
    int in_h, in_w, in_c;
    int out_h, out_w, out_c;
    int nlayers;
    reef_layer layers[REEF_BLOCK_MAX_LAYERS];
    int residual;          /* out = last layer's y + block input */
    float *out, *dout;     /* (N, OH, OW, OC) block output and its gradient */
} reef_block;

/* A named parameter tensor (for the optimizer and the checkpoint). */
typedef struct reef_param {
    char name[32];         /* e.g. "b3.l1.w" = block 3, layer 1, weights */
    float *p;              /* inside model->params */
    size_t n;
    int decay;             /* weight decay applies (conv/fc weights only) */
} reef_param;

typedef struct reef_norm {
    int channels;
    float mean[REEF_MAX_CHANNELS], std[REEF_MAX_CHANNELS];
} reef_norm;

typedef enum reef_mode { REEF_MODE_INFER = 0, REEF_MODE_TRAIN = 1 } reef_mode;

typedef struct reef_loss_cfg {
    float label_smoothing;
    const float *class_weights;  /* (num_classes) or NULL */
} reef_loss_cfg;

typedef struct reef_model {
    reef_arch arch;        /* resolved: input shape filled in, skips decided */
    int in_h, in_w, in_c, num_classes;
    int nblocks;
    reef_block *blocks;    /* (nblocks) */
    int nparam_tensors;
    reef_param *param_tensors;
    size_t nparams;
    float *params;         /* all trainable parameters, one allocation */
    float *grads;          /* (nparams) gradients (thread 0's, then the sum) */
    size_t nstats;
    float *stats;          /* batch-norm running means and variances */
    reef_norm norm;
    float bn_momentum;     /* REEF_BN_MOMENTUM; 0: training passes leave the running statistics as they are */
    reef_class_names classes; /* the outputs' names (count 0: unknown); freed with the model */
    struct reef_fakequant *fq; /* NULL; else quantization-aware passes (nn/fakequant.h; not owned) */
    /* batch state (reef_model_set_batch) */
    int batch_cap, nthreads;
    float *input;          /* (batch_cap, H, W, C) normalized input */
    float *logits;         /* (batch_cap, num_classes) = last block's out */
    float *probs;          /* (batch_cap, num_classes) softmax of logits */
    float *losses;         /* (batch_cap) per-sample loss */
    void *batch_;          /* private: buffers, thread state */
} reef_model;

/* Builds the network of a for images in_h x in_w x in_c and num_classes
 * classes. If the spec names an input shape that differs, fails with both
 * shapes. Parameters get their initial values from seed. */
int reef_model_build(reef_model *m, const reef_arch *a, int in_h, int in_w, int in_c,
                     int num_classes, uint64_t seed, reef_error *err);
/* As reef_model_build, but refuses (before allocating the weights) a
 * network of more than max_params parameters: a checkpoint passes the count
 * its file really holds, so a crafted spec cannot make the build allocate
 * and initialise gigabytes. */
int reef_model_build_within(reef_model *m, const reef_arch *a, int in_h, int in_w, int in_c,
                            int num_classes, uint64_t seed, size_t max_params, reef_error *err);
void reef_model_free(reef_model *m);
/* Draws initial weights: Kaiming normal for convolutions, N(0, 0.01) for
 * the classifier, BN gamma 1 and beta 0, running mean 0 and variance 1. */
void reef_model_init_params(reef_model *m, uint64_t seed);
/* Allocates buffers for batches of up to batch_cap samples on nthreads
 * threads (1 .. REEF_MAX_THREADS). */
int reef_model_set_batch(reef_model *m, int batch_cap, int nthreads, reef_error *err);

/* ---- the pieces a model is built from, for networks whose blocks change
 * between passes (the search's supernet). Such a caller owns m->blocks,
 * params, grads, input, probs, losses and logits itself, gives every block
 * its buffers with reef_block_take_batch, and calls reef_model_set_threads
 * (not reef_model_set_batch) and reef_model_free_threads (not
 * reef_model_free). ---- */

/* Lays out block spec s on input (h, w, c) (is_last: the network's last
 * block, whose output is the logits); errors name arch_name and s's line. */
int reef_block_build(reef_block *b, const reef_block_spec *s, int h, int w, int c, int num_classes, int is_last,
                     const char *arch_name, reef_error *err);

/* Hands out parameter tensors, in layer order, from one allocation. */
typedef struct reef_param_cursor {
    float *params, *stats;  /* NULL: only count */
    reef_param *tensors;    /* (nt) filled when params is set */
    size_t np, ns;          /* floats of params and stats handed out */
    int nt;                 /* tensors handed out */
} reef_param_cursor;
/* Layer L's parameters: w, then b (no batch norm) or gamma and beta (and
 * running mean and variance from stats), named "<prefix>.w" and so on;
 * weights_only: w alone. reef_model_build names them "b<block>.l<layer>". */
void reef_layer_take_params(reef_layer *L, const char *prefix, int weights_only, reef_param_cursor *pc);
/* Layer L's initial values, drawn from rng (see reef_model_init_params). */
void reef_layer_init_params(reef_layer *L, reef_rng *rng);
/* How many weights L holds (0 for a layer without any). */
size_t reef_layer_weight_count(const reef_layer *L);
/* Points block b's batch buffers (batch_cap samples) into mem and returns
 * the floats they take; mem NULL: only counts. */
size_t reef_block_take_batch(reef_block *b, float *mem, size_t batch_cap);
/* The threads' state (scratch, per-thread gradients over m->nparams) for
 * batches of up to batch_cap on nthreads threads, sized for every block of
 * blocks[0..nblocks), whichever of them m->blocks holds at a pass. */
int reef_model_set_threads(reef_model *m, const reef_block *blocks, int nblocks, int batch_cap, int nthreads,
                           reef_error *err);
void reef_model_free_threads(reef_model *m);

/* Writes n samples of uint8 pixels (n, H, W, C) into m->input, normalized. */
void reef_model_normalize(const reef_model *m, const uint8_t *pixels, int n);
/* Forward over m->input[0..n): logits in m->logits. REEF_MODE_TRAIN uses
 * batch statistics (and updates the running ones) and dropout drawn from
 * seed; REEF_MODE_INFER is the deployed network, and afterwards every
 * layer's y holds that layer's output (calibration reads them), every
 * block's out the block's. n = 1 works. */
void reef_model_forward(reef_model *m, int n, reef_mode mode, uint64_t seed);
/* Softmax cross-entropy of the logits: fills m->probs and m->losses and
 * returns the mean loss (weighted mean with class weights). */
double reef_model_loss(reef_model *m, const uint16_t *labels, int n, const reef_loss_cfg *cfg);
/* Backward after a training forward and reef_model_loss: m->grads gets the
 * gradient of the mean loss (it is overwritten, not accumulated). */
void reef_model_backward(reef_model *m, const uint16_t *labels, int n, const reef_loss_cfg *cfg);

/* Multiply-accumulates of one forward pass for one sample. */
int64_t reef_model_macs(const reef_model *m);
/* Peak activation floats of one sample in inference (largest input+output
 * pair of a layer, plus the residual input kept alive). */
int64_t reef_model_peak_activation(const reef_model *m);
/* The index of the largest logit of sample i. */
int reef_model_argmax(const reef_model *m, int i);

#endif
