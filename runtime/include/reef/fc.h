/* reef runtime: int8 fully connected (TFLite FULLY_CONNECTED). */
#ifndef REEF_RT_FC_H
#define REEF_RT_FC_H

#include "reef/types.h"

/* input_offset:  -input_zero_point, [-127, 128]
 * filter_offset: -filter_zero_point (0 for TFLite's symmetric int8 weights)
 * output_offset: output_zero_point, [-128, 127] */
typedef struct reef_fc_params {
    int32_t input_offset;
    int32_t filter_offset;
    int32_t output_offset;
    reef_activation activation;
    int32_t paired; /* 1: filter and bias made by reef_fc_s8_pair (below) */
} reef_fc_params;

/* out[b, o] = clamp(requant(bias[o] + sum_i (filter[o, i] + filter_offset)
 *                                          * (input[b, i] + input_offset))
 *                   + output_offset)
 *
 * ctx:         scratch of reef_fc_s8_get_buffer_size() bytes
 * quant:       one multiplier and shift for the whole output
 * input_dims:  (N, 1, 1, C_IN): N rows (batches) of C_IN values; any NHWC
 *              input flattens to this (TFLite flattens all but the last
 *              dimension of the output)
 * filter_dims: (C_OUT, 1, 1, C_IN)
 * filter:      (C_OUT, C_IN)
 * bias:        (C_OUT) or NULL
 * output_dims: (N, 1, 1, C_OUT)
 * With params->paired, filter and bias come from reef_fc_s8_pair and the
 * scratch is required (REEF_ARG_ERROR without it). */
reef_status reef_fc_s8(const reef_context *ctx, const reef_fc_params *params,
                       const reef_per_tensor_quant *quant,
                       const reef_dims *input_dims, const int8_t *input,
                       const reef_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const reef_dims *output_dims, int8_t *output);

/* Same, with one multiplier and shift per output channel, (C_OUT) each. */
reef_status reef_fc_per_channel_s8(const reef_context *ctx, const reef_fc_params *params,
                                   const reef_per_channel_quant *quant,
                                   const reef_dims *input_dims, const int8_t *input,
                                   const reef_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias,
                                   const reef_dims *output_dims, int8_t *output);

int32_t reef_fc_s8_get_buffer_size(const reef_dims *filter_dims);

/* Row pairs, the layout of params->paired (made on the host, same size).
 * Rows A = 2i and B = 2i + 1 share halfwords h[k] = 256 * B[k] + A[k]:
 * one SMLAD of a weight word against two widened inputs sums
 * 256 * (B . x) + A . x, a second after SXTB16 sums A . x alone, so B . x
 * = (first - second) / 256: 3 instructions per 4 MACs instead of 4.
 * Exact when every h fits int16 and 128 * sum |B[k]| < 2^23 (the
 * difference then never wraps), the input offset folded into the bias:
 * bias'[o] = bias[o] + input_offset * sum_k filter[o, k] (mod 2^32).
 * Per group of 4 rows and 4 values of K, four words: pair (0,1) h[k],
 * h[k+2]; pair (2,3) h[k], h[k+2]; pair (0,1) h[k+1], h[k+3]; pair (2,3)
 * h[k+1], h[k+3] (the order of the widened input, widen.h).
 *
 * reef_fc_s8_pairable: 1 when the layer qualifies (TFLite's int8 scheme,
 * C_IN and C_OUT multiples of 4, the bounds above). reef_fc_s8_pair
 * writes paired (C_OUT * C_IN) and folded_bias (C_OUT; bias may be
 * NULL) of a layer that qualifies. */
int reef_fc_s8_pairable(const reef_fc_params *params, const reef_dims *filter_dims,
                        const int8_t *filter);
void reef_fc_s8_pair(const reef_fc_params *params, const reef_dims *filter_dims,
                     const int8_t *filter, const int32_t *bias, int8_t *paired,
                     int32_t *folded_bias);

/* The loops reef_fc_s8 / reef_fc_per_channel_s8 may run (REEF_FC_PATH_*
 * bits). A build that defines REEF_FC_PATHS (a generated model header
 * does: the OR of reef_fc_s8_paths over its FC steps) compiles only those
 * loops; a layer needing another one gets REEF_UNSUPPORTED. */
enum {
    REEF_FC_PATH_SHARED = 0, /* scratch, one multiplier for the layer: four rows per pass, sums from the bias */
    REEF_FC_PATH_ROWS = 1,   /* scratch, constants row by row (per channel, or the C_OUT % 4 rows left) */
    REEF_FC_PATH_NARROW = 2, /* no scratch: the input read in place (dot.c), TFLite's requantization */
    REEF_FC_PATH_TINY = 3,   /* C_IN * C_OUT <= REEF_FC_TINY_MACS, not paired: one plain loop, any scratch */
    REEF_FC_PATH_COUNT = 4
};

/* A layer this small (a classifier's head, e.g. 72 -> 2) takes the plain
 * loop: at most a few hundred instructions more per inference than the
 * widened loops, and a firmware whose layers are all this small links
 * ~1.6 KB less code. No MLPerf Tiny model has one (their smallest, vww's
 * 256 -> 2, is 512). */
#define REEF_FC_TINY_MACS 256

/* The OR of 1 << REEF_FC_PATH_* a layer runs: per_channel 1 when shift and
 * multiplier hold C_OUT values, scratch_size the bytes of ctx it gets.
 * 0 when it needs the reference (reef_fc_s8_needs_reference). */
unsigned reef_fc_s8_paths(const reef_fc_params *params, const int32_t *multiplier, const int8_t *shift,
                          int per_channel, const reef_dims *filter_dims, int32_t scratch_size);

/* 1 when reef_fc_s8 / reef_fc_per_channel_s8 hand these parameters to
 * reef_fc_s8_ref: a filter offset or an input offset outside [-127, 128]. */
int reef_fc_s8_needs_reference(const reef_fc_params *params);

/* The portable scalar reference: same contract as reef_fc_per_channel_s8
 * (a per-tensor quant is one channel's values repeated). */
reef_status reef_fc_s8_ref(const reef_context *ctx, const reef_fc_params *params,
                           const reef_per_channel_quant *quant, int per_channel,
                           const reef_dims *input_dims, const int8_t *input,
                           const reef_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias,
                           const reef_dims *output_dims, int8_t *output);

#endif
