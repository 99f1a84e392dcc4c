/* reef runtime: int8 binary elementwise ops with TFLite's broadcasting
 * (ADD, SUB, MUL, MAXIMUM, MINIMUM), either operand an activation or a
 * constant, and their step functions.
 *
 * Arithmetic is TFLite Micro's reference kernels' (integer_ops/add.h,
 * reference/sub.h, integer_ops/mul.h, maximum_minimum.h); broadcasting is
 * TFLite's NdArrayDesc: shapes aligned at the last dimension, a dimension
 * of 1 repeats. */
#ifndef REEF_RT_ELEMENTWISE_H
#define REEF_RT_ELEMENTWISE_H

#include "reef/add.h"
#include "reef/types.h"

/* Where output element (n, h, w, c) reads each input: at
 * n * s.n + h * s.h + w * s.w + c * s.c for its strides s, in elements
 * (0 on a broadcast dimension). All four output dims are >= 1. */
typedef struct reef_broadcast {
    reef_dims output_dims;
    reef_dims input1_strides;
    reef_dims input2_strides;
} reef_broadcast;

/* MUL: out = clamp(requant((in1 + input1_offset) * (in2 + input2_offset),
 * output_multiplier, output_shift) + output_offset). */
typedef struct reef_mul_params {
    int32_t input1_offset;     /* -zero_point of input 1 */
    int32_t input2_offset;     /* -zero_point of input 2 */
    int32_t output_offset;     /* output zero point */
    int32_t output_multiplier; /* Q31 of s1 * s2 / s_out */
    int32_t output_shift;      /* [-31, 30] */
    reef_activation activation;
} reef_mul_params;

/* Each writes every element of b->output_dims; output must not overlap an
 * input that is broadcast. reef_add_params: see reef/add.h (SUB uses the
 * same parameters as ADD and subtracts the rescaled inputs). */
/* PRELU (reference_ops::BroadcastPrelu4DSlow): v = x - zp_in;
 * out = clamp(zp_out + (v >= 0 ? requant(v, positive)
 *                              : requant(v * (alpha - zp_alpha), negative)),
 *             -128, 127)
 * positive: in / out scale, negative: in * alpha / out. */
typedef struct reef_prelu_params {
    int32_t input_offset; /* -zero_point of the input */
    int32_t alpha_offset; /* -zero_point of alpha */
    int32_t output_offset;
    reef_per_tensor_quant positive;
    reef_per_tensor_quant negative;
} reef_prelu_params;

reef_status reef_add_broadcast_s8(const reef_add_params *params, const reef_broadcast *b,
                                  const int8_t *input1, const int8_t *input2, int8_t *output);
reef_status reef_sub_broadcast_s8(const reef_add_params *params, const reef_broadcast *b,
                                  const int8_t *input1, const int8_t *input2, int8_t *output);
reef_status reef_mul_broadcast_s8(const reef_mul_params *params, const reef_broadcast *b,
                                  const int8_t *input1, const int8_t *input2, int8_t *output);
/* MAXIMUM / MINIMUM compare the raw int8 values (TFLite requires both
 * inputs and the output to share one quantization). */
/* input1: the input, input2: alpha, both broadcast by b. */
reef_status reef_prelu_broadcast_s8(const reef_prelu_params *params, const reef_broadcast *b,
                                    const int8_t *input1, const int8_t *input2, int8_t *output);
reef_status reef_maximum_broadcast_s8(const reef_broadcast *b, const int8_t *input1,
                                      const int8_t *input2, int8_t *output);
reef_status reef_minimum_broadcast_s8(const reef_broadcast *b, const int8_t *input1,
                                      const int8_t *input2, int8_t *output);

/* ---- steps ------------------------------------------------------------
 * At most one operand is a constant: input1_const or input2_const (the
 * other NULL). The activation operands are io.input_at (the first
 * activation) and io.input2_at (the second, when both are activations). */

/* ADD with broadcasting or a constant operand (reef_add_bcast_step), SUB
 * (reef_sub_step). */
typedef struct reef_addsub_step_args {
    reef_step_io io;
    reef_add_params params;
    reef_broadcast bcast;
    const int8_t *input1_const;
    const int8_t *input2_const;
} reef_addsub_step_args;
reef_status reef_add_bcast_step(const void *args, uint8_t *arena);
reef_status reef_sub_step(const void *args, uint8_t *arena);

/* MUL. */
typedef struct reef_mul_step_args {
    reef_step_io io;
    reef_mul_params params;
    reef_broadcast bcast;
    const int8_t *input1_const;
    const int8_t *input2_const;
} reef_mul_step_args;
reef_status reef_mul_step(const void *args, uint8_t *arena);

/* MAXIMUM (reef_maximum_step), MINIMUM (reef_minimum_step). */
typedef struct reef_minmax_step_args {
    reef_step_io io;
    reef_broadcast bcast;
    const int8_t *input1_const;
    const int8_t *input2_const;
} reef_minmax_step_args;
reef_status reef_maximum_step(const void *args, uint8_t *arena);
reef_status reef_minimum_step(const void *args, uint8_t *arena);

typedef struct reef_prelu_step_args {
    reef_step_io io;
    reef_prelu_params params;
    reef_broadcast bcast;
    const int8_t *input1_const; /* always 0: the input is an activation */
    const int8_t *input2_const; /* alpha when constant */
} reef_prelu_step_args;
reef_status reef_prelu_step(const void *args, uint8_t *arena);

#endif
