/* reef runtime: int8 depthwise convolution (TFLite DEPTHWISE_CONV_2D,
 * per-channel, any depth multiplier). */
#ifndef REEF_RT_DW_CONV_H
#define REEF_RT_DW_CONV_H

#include "reef/types.h"

/* Depthwise parameters: as reef_conv_params, plus
 *   depth_multiplier: output channels per input channel, >= 1;
 *                     C_OUT = C_IN * depth_multiplier. */
typedef struct reef_dw_conv_params {
    int32_t input_offset;
    int32_t output_offset;
    int32_t depth_multiplier;
    reef_hw stride;
    reef_hw padding;
    reef_hw dilation;
    reef_activation activation;
} reef_dw_conv_params;

/* out[n, y, x, i*M + m] = clamp(requant_o(bias[o] + sum_{ky, kx}
 *     filter[0, ky, kx, o] * (input[n, y*sh - ph + ky*dh, x*sw - pw + kx*dw, i]
 *                             + input_offset)) + output_offset),  o = i*M + m
 *
 * ctx:         scratch of reef_dw_conv_s8_get_buffer_size() bytes
 * quant:       per output channel, (C_OUT) each
 * input_dims:  (N, H_IN, W_IN, C_IN)
 * filter_dims: (1, KH, KW, C_OUT)
 * filter:      (1, KH, KW, C_OUT), [-127, 127]
 * bias:        (C_OUT) or NULL
 * output_dims: (N, H_OUT, W_OUT, C_OUT); output must not overlap input */
reef_status reef_dw_conv_s8(const reef_context *ctx, const reef_dw_conv_params *params,
                            const reef_per_channel_quant *quant,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const reef_dims *output_dims, int8_t *output);

int32_t reef_dw_conv_s8_get_buffer_size(const reef_dw_conv_params *params,
                                        const reef_dims *input_dims,
                                        const reef_dims *filter_dims,
                                        const reef_dims *output_dims);

/* The loop reef_dw_conv_s8 runs a layer with (REEF_DW_PATH_*): 3x3 with
 * stride 1 on a small map (whole planes; MAP: the planes of a map 3, 6,
 * 12, 24 or 48 wide (24 and 48 in bands), or a stride-2 output 3, 6, 12 or 24 wide (12 and 24 in bands),
 * requantized inside the sums loop), 3x3 with stride 1 or 2 (three
 * sliding rows), or pixel by pixel (any other filter, a channel with a
 * left shift, no scratch); REEF_DW_PATH_COUNT when the reference runs it
 * (reef_dw_conv_s8_needs_reference). scratch_size: the bytes of ctx. A
 * build that defines REEF_DW_PATHS (a generated model header does: the OR
 * of 1 << path over its depthwise steps not run in place) compiles only
 * those loops; a layer needing another one gets REEF_UNSUPPORTED, except
 * that without the map loop its layers take the plane or three-row loop
 * (the map loop's test is compiled out; no generated build has such a
 * layer). A build that defines REEF_DW_CLAMPED 0 (a generated model header
 * does when every depthwise call takes the range [-128, 127]) compiles the
 * 3x3 loops' plain requantization only: a clamped 3x3 layer then gets
 * REEF_UNSUPPORTED. */
enum {
    REEF_DW_PATH_3X3_PLANE = 0,
    REEF_DW_PATH_3X3_ROWS_S1 = 1,
    REEF_DW_PATH_3X3_ROWS_S2 = 2,
    REEF_DW_PATH_3X3_MAP = 3,
    REEF_DW_PATH_PIXELS = 4,
    REEF_DW_PATH_COUNT = 5
};
int reef_dw_conv_s8_path(const reef_dw_conv_params *params, const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const reef_dims *filter_dims,
                         const reef_dims *output_dims, int32_t scratch_size);

/* 1 when reef_dw_conv_s8 hands these parameters to reef_dw_conv_s8_ref:
 * a depth multiplier other than 1 or an input offset outside [-127, 128]. */
int reef_dw_conv_s8_needs_reference(const reef_dw_conv_params *params);

/* The portable scalar reference: same contract, needs no scratch. */
reef_status reef_dw_conv_s8_ref(const reef_context *ctx, const reef_dw_conv_params *params,
                                const reef_per_channel_quant *quant,
                                const reef_dims *input_dims, const int8_t *input,
                                const reef_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias,
                                const reef_dims *output_dims, int8_t *output);

/* In place: the output overwrites the input (data holds the input before
 * the call and the output after: output value (0, y, x, c) at
 * (y * W_OUT + x) * C + c), channel by channel through one channel's
 * padded plane in scratch; bit-exact with reef_dw_conv_s8_ref. Needs
 * reef_dw_conv_s8_can_run_in_place (one batch, depth multiplier 1, no more
 * output positions than input positions, input offset in [-127, 128]).
 * Not re-executable: a resumable step table must not use it. */
int reef_dw_conv_s8_can_run_in_place(const reef_dw_conv_params *params, const reef_dims *input_dims,
                                     const reef_dims *filter_dims, const reef_dims *output_dims);
int32_t reef_dw_conv_s8_in_place_buffer_size(const reef_dw_conv_params *params,
                                             const reef_dims *filter_dims,
                                             const reef_dims *output_dims);
reef_status reef_dw_conv_s8_in_place(const reef_context *ctx, const reef_dw_conv_params *params,
                                     const reef_per_channel_quant *quant, const reef_dims *input_dims,
                                     int8_t *data, const reef_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const reef_dims *output_dims);

#endif
