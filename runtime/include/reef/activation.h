/* reef runtime: standalone int8 activations (TFLite RELU, RELU_N1_TO_1,
 * RELU6, LEAKY_RELU) as one kernel: per element
 *   v   = in - input_zero_point
 *   out = clamp(output_zero_point + requant(v, v >= 0 ? positive : negative),
 *               activation.min, activation.max)
 * RELU and RELU_N1_TO_1 (TFLM ReluQuantized): both multipliers in/out
 * scale, the clamp of the output range; LEAKY_RELU (QuantizeLeakyRelu):
 * negative = in * alpha / out, clamp [-128, 127]; RELU6 (TFLM
 * Relu6Quantized, a raw clamp to [zp_in, q(6)] in the input's
 * quantization): zero points 0 and the identity multiplier 2^30, shift 1. */
#ifndef REEF_RT_ACTIVATION_H
#define REEF_RT_ACTIVATION_H

#include "reef/types.h"

typedef struct reef_act_params {
    int32_t input_zero_point;
    int32_t output_zero_point;
    reef_per_tensor_quant positive; /* v >= 0 */
    reef_per_tensor_quant negative; /* v < 0 */
    reef_activation activation;
} reef_act_params;

/* input, output: (count) elements; they may be the same buffer. */
reef_status reef_act_s8(const reef_act_params *params, const int8_t *input, int32_t count,
                        int8_t *output);

typedef struct reef_act_step_args {
    reef_step_io io;
    reef_act_params params;
    int32_t count;
} reef_act_step_args;
reef_status reef_act_step(const void *args, uint8_t *arena);

#endif
