/* reef runtime: int8 pooling (TFLite AVERAGE_POOL_2D, MAX_POOL_2D). MEAN
 * over height and width is in reef/mean.h. */
#ifndef REEF_RT_POOL_H
#define REEF_RT_POOL_H

#include "reef/types.h"

/* stride >= 1; padding: top/left zeros as in reef_conv_params (padded taps
 * are not counted in the average); activation: output clamp. Input and
 * output share one quantization (TFLite requires it for int8 pools). */
typedef struct reef_pool_params {
    reef_hw stride;
    reef_hw padding;
    reef_activation activation;
} reef_pool_params;

/* out[n, y, x, c] = clamp(round(sum / count)) over the window taps inside
 * the input, rounding half away from zero (TFLite's reference).
 * ctx:         scratch of reef_avgpool_s8_get_buffer_size() bytes
 * input_dims:  (N, H_IN, W_IN, C)
 * filter:      window (KH, KW)
 * output_dims: (N, H_OUT, W_OUT, C) */
reef_status reef_avgpool_s8(const reef_context *ctx, const reef_pool_params *params,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_hw *filter,
                            const reef_dims *output_dims, int8_t *output);

int32_t reef_avgpool_s8_get_buffer_size(const reef_dims *input_dims,
                                        const reef_dims *output_dims);

/* out[n, y, x, c] = clamp(max over the window taps inside the input). */
reef_status reef_maxpool_s8(const reef_context *ctx, const reef_pool_params *params,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_hw *filter,
                            const reef_dims *output_dims, int8_t *output);

#endif
