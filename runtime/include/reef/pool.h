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

/* The loop a pool runs (REEF_POOL_PATH_*): average by 2x2 windows at
 * stride 2 without padding (any channel count; the stride of a single
 * output row or column does not count), any other average, maximum, and a
 * global average (one window, the whole map, no padding) of at most
 * REEF_POOL_SMALL_VALUES input values, in a plain loop compiled for size
 * (the fish nets' head, 4x4x72: the generic loop is 742 B of an 8 KB code
 * budget; no MLPerf Tiny pool is that small). A build
 * that defines REEF_POOL_PATHS (a generated model header does: the OR of
 * 1 << path over its pool steps) compiles only those loops; a layer
 * needing another one gets REEF_UNSUPPORTED. is_max: 1 for MAX_POOL_2D. */
enum {
    REEF_POOL_PATH_AVG_2X2 = 0,
    REEF_POOL_PATH_AVG = 1,
    REEF_POOL_PATH_MAX = 2,
    REEF_POOL_PATH_AVG_SMALL = 3,
    REEF_POOL_PATH_COUNT = 4
};
#define REEF_POOL_SMALL_VALUES 1536
int reef_pool_s8_path(int is_max, const reef_pool_params *params, const reef_dims *input_dims,
                      const reef_hw *filter, const reef_dims *output_dims);

#endif
