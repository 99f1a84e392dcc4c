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
 * output_dims: (N, 1, 1, C_OUT) */
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
