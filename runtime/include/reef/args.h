/* The kernels' argument checks: each fast kernel and its scalar reference
 * call them (defined in the *_ref.c files and pool.c); reef gen runs them
 * on every step of a model's table, so a firmware built from it can leave
 * them out (REEF_ARGS_CHECKED, reef/types.h). 1 when the arguments are
 * valid: tensors given, positive shapes that agree, windows, strides and
 * activation ranges in range. */
#ifndef REEF_ARGS_H
#define REEF_ARGS_H

#include "reef/conv.h"
#include "reef/dw_conv.h"
#include "reef/fc.h"
#include "reef/pool.h"

int reef_conv_args_valid(const reef_conv_params *params, const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const int8_t *input,
                         const reef_dims *filter_dims, const int8_t *filter,
                         const reef_dims *output_dims, const int8_t *output);
int reef_dw_conv_args_valid(const reef_dw_conv_params *params,
                            const reef_per_channel_quant *quant,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_dims *filter_dims, const int8_t *filter,
                            const reef_dims *output_dims, const int8_t *output);
int reef_fc_args_valid(const reef_fc_params *params, const reef_dims *input_dims,
                       const int8_t *input, const reef_dims *filter_dims,
                       const int8_t *filter, const reef_dims *output_dims,
                       const int8_t *output);
int reef_pool_s8_args_valid(const reef_pool_params *params, const reef_dims *input_dims,
                            const int8_t *input, const reef_hw *filter,
                            const reef_dims *output_dims, const int8_t *output);

#endif
