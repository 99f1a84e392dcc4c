/* The ProxylessNAS supernet over a search space (space.h). Every
 * searchable block holds all its candidates' weights, but only the path the
 * binary gates choose runs at a step: its blocks are put in a reef_model
 * (the supernet's `path`) and run by src/nn's engine, reef_model_forward and
 * reef_model_backward, with the same threaded kernels as `reef train`. The
 * candidates of a block share one buffer region (each laid out by
 * reef_block_take_batch from its start), so memory is that of the largest
 * network plus the weights.
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
 * (o = 0) leaves the block out of the path. The path is exactly the network
 * reef_nas_space_arch writes for that choice, without its dropout: the same
 * blocks, parameters in the same order (tests/nas: bit-identical logits and
 * gradients to reef_model_build's network given the same weights).
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

#define REEF_NAS_MAX_PRE 2    /* [avgpool k2 s2], stem */
#define REEF_NAS_MAX_POST 3   /* head, gap, fc */

typedef struct reef_nas_sblock {
    reef_nas_block shape;
    reef_block cand[REEF_NAS_NCAND];  /* candidate j's layers (0 for zero), its buffers in the block's region */
    reef_block super;                 /* k7e6 layout of the shared conv weights (w only, no buffers) */
    int active, inactive;             /* this step's candidates (inactive -1: none) */
    int at, in_at;                    /* index in path.blocks of the active candidate (-1: zero) and of
                                         the block whose output is this block's input */
    const float *alt_out;             /* the inactive candidate's o(x) (NULL: none or zero) */
} reef_nas_sblock;

typedef struct reef_nas_supernet {
    reef_nas_space space;
    reef_block pre[REEF_NAS_MAX_PRE], post[REEF_NAS_MAX_POST];  /* fixed parts */
    int npre, npost;
    reef_nas_sblock blocks[REEF_NAS_MAX_BLOCKS];
    /* The engine's model: blocks = path_blocks (this step's path), and it owns
     * the parameters (params, grads, stats, param_tensors), norm, input,
     * logits, probs, losses and the threads' state. */
    reef_model path;
    reef_block path_blocks[REEF_NAS_MAX_PRE + REEF_NAS_MAX_BLOCKS + REEF_NAS_MAX_POST];
    float *alt_mem;             /* the inactive candidate's buffers, shared by blocks */
    float *mem;                 /* every batch buffer */
    /* architecture parameters */
    float alpha[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
    double gate_grad[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];  /* dL/dg of the last arch backward */
} reef_nas_supernet;

/* Batches of up to batch_cap on nthreads threads (as reef_model_set_batch;
 * same seed and thread count: bit-identical results). */
int reef_nas_supernet_build(reef_nas_supernet *sn, const reef_nas_space *s, int batch_cap, int nthreads,
                            uint64_t seed, reef_error *err);
void reef_nas_supernet_free(reef_nas_supernet *sn);

/* Writes n samples of uint8 pixels into sn->path.input, normalized by sn->path.norm;
 * with flip != NULL, sample i is mirrored left-right when flip[i]. */
void reef_nas_supernet_load(reef_nas_supernet *sn, const uint8_t *pixels, int n, const uint8_t *flip);

/* Forward of path (a candidate per block) over sn->input[0..n). alt (may
 * be NULL; -1 = none) names a second candidate per block run forward only
 * (its o(x) kept for the gate gradient). update_stats: training mode
 * updates the BN running statistics of the active path. */
void reef_nas_supernet_forward(reef_nas_supernet *sn, const int *path, const int *alt, int n, reef_mode mode,
                               int update_stats);
/* Gradients of the mean loss into sn->path.grads (overwritten), and, for each
 * block, dL/dg of its active and inactive candidates into sn->gate_grad. */
void reef_nas_supernet_backward(reef_nas_supernet *sn, const uint16_t *labels, int n);
/* The loss and predictions are the engine's: reef_model_loss(&sn->path,
 * labels, n, NULL) (before backward) and reef_model_argmax(&sn->path, i). */

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

#endif
