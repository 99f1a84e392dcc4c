/* Host-side quantization parameters for the int8 kernels, computed from
 * float scales exactly as TFLite (Micro) does it at Prepare time, so that
 * the runtime's integer arithmetic reproduces TFLite's outputs bit for bit.
 * Each function names the TFLite function it mirrors. */
#ifndef REEF_CODEGEN_QPARAMS_H
#define REEF_CODEGEN_QPARAMS_H

#include <stdint.h>

/* tflite::QuantizeMultiplier: m = q * 2^shift with q in [0.5, 1) from
 * frexp, multiplier = round(q * 2^31) (ties away from zero), and when that
 * rounds up to 2^31 it halves and shift grows by one. Shifts below -31
 * flush to zero; shifts above 30 saturate (multiplier 2^31 - 1). m == 0
 * gives (0, 0). m must be >= 0. */
void reef_quantize_multiplier(double m, int32_t *multiplier, int32_t *shift);

/* tflite::CalculateActivationRangeQuantized for int8: the clamp for a fused
 * activation (0 none, 1 ReLU, 2 ReLU-1..1, 3 ReLU6, as reef_fused_act),
 * computed as zero_point + (int32)round(f / scale) in float. Returns -1 for
 * an activation code it does not know. */
int reef_activation_range(int fused, float scale, int32_t zero_point, int32_t *act_min, int32_t *act_max);

/* The same for an int16 output (range [-32768, 32767]); also -1 when
 * f / scale does not fit an int32 (TFLite's Quantize refuses it). */
int reef_activation_range_s16(int fused, float scale, int32_t zero_point, int32_t *act_min, int32_t *act_max);

/* tflite::PreprocessSoftmaxScaling(beta, input_scale, 5 integer bits) and
 * -CalculateInputRadius(5, left_shift): the int8 softmax parameters. */
void reef_softmax_scaling(double beta, double input_scale, int32_t *input_multiplier,
                          int32_t *input_left_shift, int32_t *diff_min);

/* TFLite Micro's int8 ADD preparation (left_shift 20): multipliers for
 * both inputs and the output. Returns -1 when a scale is not positive. */
typedef struct reef_add_quant {
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
} reef_add_quant;
int reef_add_quantize(float input1_scale, float input2_scale, float output_scale, reef_add_quant *q);

/* The same for int16 ADD (left_shift 15); also -1 when the output
 * multiplier is not below 1, which TFLite's
 * QuantizeMultiplierSmallerThanOneExp refuses. */
int reef_add_quantize_s16(float input1_scale, float input2_scale, float output_scale, reef_add_quant *q);

#endif
