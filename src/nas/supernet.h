/* The ProxylessNAS supernet over a search space (space.h), built from the
 * float layer functions of src/nn/layers.h. Every searchable block holds
 * all its candidates' weights, but only the path the binary gates choose
 * runs at a step, over buffers shared by the candidates, so memory is that
 * of one network (the largest one) plus the weights.
 *
 * Binary gates: per step, g = one-hot(path), path ~ p = softmax(alpha)
 * over the block's allowed candidates. Weight steps run one sampled path.
 * Architecture steps (ProxylessNAS's two-path estimate) sample two
 * candidates per block, run the active one and, forward only, the other,
 * and get dL/dg_j = <dL/dout, o_j(x)> for both; then
 *   dL/dalpha_i = sum_j dL/dg_j * q_j * (delta_ij - q_i)
 * with q the softmax over the two alphas (reef_nas_gate_alpha_grad).
 *
 * Blocks that keep their shape are residual: out = x + o(x), and zero
 * (o = 0) skips the block. Single-threaded; OpenBLAS does the GEMMs.
 *
 * Weight sharing (a departure from ProxylessNAS, as Single-Path NAS and
 * OFA do): a block's candidates take their conv weights from one k7e6
 * "superkernel" (tensors b<B>.super.l<L>.w): a kxk depthwise filter is the
 * centre of the 7x7 one, e3's hidden channels are the first half of e6's.
 * Each candidate's own w tensors are copies gathered before it runs, and
 * their gradients are added back into the superkernel's after backward;
 * batch norm stays per candidate. With independent weights the supernet
 * does not train on DeepFish in the time the search has (the loss stays
 * at the class prior for 10 epochs; docs/search-space.md). */
#ifndef REEF_NAS_SUPERNET_H
#define REEF_NAS_SUPERNET_H

#include <stddef.h>
#include <stdint.h>

#include "nas/space.h"
#include "nn/model.h"
#include "util/err.h"
#include "util/rng.h"

#define REEF_NAS_MAX_LAYERS 3   /* expand, depthwise, project */

/* One layer: op (conv, depthwise or fc), then BN, then the activation. */
typedef struct reef_nas_layer {
    reef_layer_kind kind;       /* CONV, DWCONV or FC */
    reef_conv_dims dims;        /* one sample (n = 1) */
    int in_size, out_size;      /* floats per sample */
    int has_bn;
    reef_nn_act act;
    int weights_only;           /* a superkernel: w and nothing else */
    float *w;                   /* conv (OC,KH,KW,C), dw (1,KH,KW,C), fc (OUT,IN); in params */
    float *b;                   /* (OC) fc only */
    float *gamma, *beta;        /* (OC) batch norm */
    float *run_mean, *run_var;  /* (OC) in stats */
} reef_nas_layer;

/* Batch buffers of one layer slot, sized for the largest candidate. */
typedef struct reef_nas_bufs {
    float *z, *y;               /* (N, OH, OW, OC) before and after BN + act */
    float *dz, *dy;             /* their gradients */
    float *mean, *rstd;         /* (OC) batch statistics */
} reef_nas_bufs;

typedef struct reef_nas_sblock {
    reef_nas_block shape;
    int nlayers[REEF_NAS_NCAND];                            /* 0 for zero */
    reef_nas_layer layers[REEF_NAS_NCAND][REEF_NAS_MAX_LAYERS];
    reef_nas_layer super[REEF_NAS_MAX_LAYERS];               /* k7e6: the shared weights (w only) */
    reef_nas_bufs slot[REEF_NAS_MAX_LAYERS];                /* the active path's */
    float *out, *dout;          /* (N, OH, OW, OC) block output and its gradient */
    float *alt_out;             /* (N, OH, OW, OC) the inactive candidate's o(x) */
    int active, inactive;       /* this step's candidates (inactive -1: none) */
} reef_nas_sblock;

typedef struct reef_nas_supernet {
    reef_nas_space space;
    int batch_cap;
    reef_norm norm;
    /* fixed parts */
    reef_conv_dims pool_dims;   /* the optional input average pool */
    float *pool_out;            /* (N, H/2, W/2, C) */
    reef_nas_layer stem, head, fc;
    reef_nas_bufs stem_buf, head_buf, fc_buf;
    float *gap_out, *gap_dout;  /* (N, HEAD_C) */
    reef_nas_sblock blocks[REEF_NAS_MAX_BLOCKS];
    reef_nas_bufs alt_slot[REEF_NAS_MAX_LAYERS];  /* the inactive path's, shared by blocks */
    float *input;               /* (N, H, W, C) normalized */
    float *logits;              /* (N, classes) = fc_buf.y */
    float *probs, *losses;      /* (N, classes), (N) */
    /* parameters: one allocation each, plus a view for the nn optimizer */
    size_t nparams, nstats;
    float *params, *grads, *stats;
    int nparam_tensors;
    reef_param *param_tensors;
    float *scratch;             /* conv im2col scratch */
    float *mem;                 /* every batch buffer */
    /* architecture parameters */
    float alpha[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
    double gate_grad[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];  /* dL/dg of the last arch backward */
} reef_nas_supernet;

int reef_nas_supernet_build(reef_nas_supernet *sn, const reef_nas_space *s, int batch_cap, uint64_t seed,
                            reef_error *err);
void reef_nas_supernet_free(reef_nas_supernet *sn);

/* Writes n samples of uint8 pixels into sn->input, normalized by sn->norm;
 * with flip != NULL, sample i is mirrored left-right when flip[i]. */
void reef_nas_supernet_load(reef_nas_supernet *sn, const uint8_t *pixels, int n, const uint8_t *flip);

/* Forward of path (a candidate per block) over sn->input[0..n). alt (may
 * be NULL; -1 = none) names a second candidate per block run forward only
 * (its o(x) kept for the gate gradient). update_stats: training mode
 * updates the BN running statistics of the active path. */
void reef_nas_supernet_forward(reef_nas_supernet *sn, const int *path, const int *alt, int n, reef_mode mode,
                               int update_stats);
/* Mean softmax cross-entropy of the logits; fills probs and losses. */
double reef_nas_supernet_loss(reef_nas_supernet *sn, const uint16_t *labels, int n);
/* Gradients of the mean loss into sn->grads (overwritten), and, for each
 * block, dL/dg of its active and inactive candidates into sn->gate_grad. */
void reef_nas_supernet_backward(reef_nas_supernet *sn, const uint16_t *labels, int n);
int reef_nas_supernet_argmax(const reef_nas_supernet *sn, int i);

/* Gate probabilities p = softmax(alpha) over block b's allowed candidates
 * (0 for the others). */
void reef_nas_probs(const reef_nas_supernet *sn, int b, double *p);
/* One candidate drawn with probability p[j] (p sums to 1). */
int reef_nas_sample(const double *p, int n, reef_rng *rng);
/* Two distinct candidates drawn without replacement by p (as
 * torch.multinomial), then the active one of them drawn by the softmax of
 * their alphas: *active, *other. Blocks with one allowed candidate get
 * other = -1. */
void reef_nas_sample_two(const float *alpha, const double *p, int n, reef_rng *rng, int *active, int *other);
/* ProxylessNAS's estimate: dalpha[i] += sum_j dg[j] * q_j * (delta_ij - q_i)
 * over the two candidates idx[0], idx[1] (q = softmax of their alphas). */
void reef_nas_gate_alpha_grad(const float *alpha, const int idx[2], const double *dg, double *dalpha);

/* Parameter tensors the optimizer steps for a path: the fixed parts, and
 * per block the superkernel and the active candidate's batch norm (not the
 * candidate's gathered w copies). keep: (nparam_tensors), 1 = step it. */
void reef_nas_supernet_path_tensors(const reef_nas_supernet *sn, const int *path, uint8_t *keep);

/* A view of the supernet's parameters as a reef_model, for
 * reef_optim_step (it reads params, grads and param_tensors only). */
void reef_nas_supernet_param_view(reef_nas_supernet *sn, reef_model *view);

#endif
