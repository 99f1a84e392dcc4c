/* reef runtime: TFLite's 16x8 scheme, int16 activations with int8
 * weights, for FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and ADD
 * (bit-exact with TFLite Micro's reference kernels for int16 input).
 *
 * int16 activations are symmetric: every zero point is 0, so the
 * params' input and output offsets must be 0 (REEF_ARG_ERROR otherwise).
 * The conv, depthwise and fully-connected kernels accumulate in 64 bits
 * (int64 bias, as TFLite's converter writes for 16x8, or none) and
 * requantize as TFLite's MultiplyByQuantizedMultiplier(int64_t acc, ...):
 * the Q31 multiplier rounded to Q15, one rounding shift by 15 - shift,
 * shift in [-31, 7]; the result is truncated to 32 bits as TFLite does,
 * then clamped to the activation range (in [-32768, 32767]).
 *
 * The *_acc32 forms are TFLite's other path for CONV_2D and
 * FULLY_CONNECTED, taken with an int32 bias (or none when the op's
 * quantized_bias_type is INT32): a 32-bit accumulator that wraps as
 * TFLite's does, the int32 MultiplyByQuantizedMultiplier (reef_requantize,
 * shift in [-31, 30]). */
#ifndef REEF_RT_S16X8_H
#define REEF_RT_S16X8_H

#include "reef/add.h"
#include "reef/conv.h"
#include "reef/dw_conv.h"
#include "reef/fc.h"
#include "reef/types.h"

/* TFLite's MultiplyByQuantizedMultiplier for a 64-bit accumulator
 * (|acc| < 2^47), without TFLITE_SINGLE_ROUNDING (TFLite Micro's
 * default). shift: [-31, 7]. */
int32_t reef_requantize_s64(int64_t acc, int32_t multiplier, int32_t shift);

/* The bias and accumulator of a 16x8 op: TFLite's 64-bit path (bias64,
 * (C_OUT) int64, or none) or, acc32 = 1, its 32-bit one (bias32, (C_OUT)
 * int32, or none). NULL: no bias, 64-bit path. */
typedef struct reef_s16_bias {
    const int64_t *bias64;
    const int32_t *bias32;
    int32_t acc32;
} reef_s16_bias;

/* The three kernels take the params, dims and layouts of their int8 forms
 * (reef_fc_s8, reef_conv_s8 without groups, reef_dw_conv_s8), int16 in and
 * out; quant: (C_OUT) multipliers and shifts (a per-tensor quantization is
 * one value repeated).
 *   fc:   out[b, o] = clamp(requant_o(bias[o] + sum_i filter[o, i] * input[b, i]))
 * The depthwise kernel takes the 64-bit path only (acc32 = 0). */
reef_status reef_fc_s16x8(const reef_fc_params *params, const reef_per_channel_quant *quant,
                          const reef_dims *input_dims, const int16_t *input,
                          const reef_dims *filter_dims, const int8_t *filter, const reef_s16_bias *bias,
                          const reef_dims *output_dims, int16_t *output);
reef_status reef_conv_s16x8(const reef_conv_params *params, const reef_per_channel_quant *quant,
                            const reef_dims *input_dims, const int16_t *input,
                            const reef_dims *filter_dims, const int8_t *filter, const reef_s16_bias *bias,
                            const reef_dims *output_dims, int16_t *output);
reef_status reef_dw_conv_s16x8(const reef_dw_conv_params *params, const reef_per_channel_quant *quant,
                               const reef_dims *input_dims, const int16_t *input,
                               const reef_dims *filter_dims, const int8_t *filter, const reef_s16_bias *bias,
                               const reef_dims *output_dims, int16_t *output);

/* ADD of same-shaped int16 tensors: reef_add_s8's arithmetic with
 * left_shift 15 (TFLite's int16 general-scale path, AddGeneralParamScale),
 * zero offsets, the activation clamp in [-32768, 32767]. The output may
 * be the same buffer as either input. */
reef_status reef_add_s16(const reef_add_params *params, const int16_t *input1, const int16_t *input2,
                         int32_t count, int16_t *output);

#endif
