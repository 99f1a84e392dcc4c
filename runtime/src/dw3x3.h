/* The 3x3 depthwise fast path (internal; dw_conv.c dispatches to it). */
#ifndef REEF_RT_DW3X3_H
#define REEF_RT_DW3X3_H

#include "reef/dw_conv.h"

/* 1 when the shapes suit it: depth multiplier 1, a 3x3 filter, dilation 1,
 * equal strides of 1 or 2, input offset in [-127, 128]. */
/* The depthwise loops a build compiles (reef/dw_conv.h: REEF_DW_PATH_*;
 * a model header lists its own); all without one. */
#ifndef REEF_DW_PATHS
#define REEF_DW_PATHS ((1u << REEF_DW_PATH_COUNT) - 1u)
#endif
#define DW_HAS(path) ((REEF_DW_PATHS >> (path)) & 1u)

/* 1 when the 3x3 layer takes the plane mode, else three sliding rows. */
int reef_dw3x3_plane(const reef_dw_conv_params *params, const reef_dims *output_dims);

/* 1 when a plane layer takes the map loop (REEF_DW_PATH_3X3_MAP): the
 * map 3, 6, 12, 24 or 48 wide at stride 1 (24, 48: in bands), an output 3, 6, 12 or 24 wide at stride 2
 * (12, 24: in bands; rows;
 * not taller than wide), the activation the whole
 * int8 range, and every channel's shift r in 2..23 (the folded
 * requantization: dw3x3.c, DW3_RQ_FOLDED). */
int reef_dw3x3_map(const reef_dw_conv_params *params, const reef_per_channel_quant *quant,
                   const reef_dims *input_dims, const reef_dims *output_dims);

int reef_dw3x3_applies(const reef_dw_conv_params *params, const reef_dims *input_dims,
                       const reef_dims *filter_dims, const reef_dims *output_dims);

/* Scratch bytes it needs (when it applies). */
int32_t reef_dw3x3_buffer_size(const reef_dw_conv_params *params, const reef_dims *input_dims,
                               const reef_dims *output_dims);

/* Runs it; returns 0 without writing anything when a channel's
 * requantization needs the reference kernel. ctx is large enough. */
int reef_dw3x3_run(const reef_context *ctx, const reef_dw_conv_params *params,
                   const reef_per_channel_quant *quant, const reef_dims *input_dims,
                   const int8_t *input, const int8_t *filter, const int32_t *bias,
                   const reef_dims *output_dims, int8_t *output);

#endif
