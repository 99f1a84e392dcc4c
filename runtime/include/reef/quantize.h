/* reef runtime: QUANTIZE and DEQUANTIZE, the boundary ops of a model whose
 * input or output is float32 around an int8 body, as TFLite computes them:
 *
 *   QUANTIZE   (float32 -> int8)  q = clamp(round(x / scale) + zero_point,
 *                                           -128, 127)
 *              x / scale in float32, round() ties away from zero
 *              (TFLite's AffineQuantize with TfLiteRound).
 *   DEQUANTIZE (int8 -> float32)  x = scale * (float)(q - zero_point)
 *              (TFLite computes it in double and rounds to float once;
 *              the float product of a float and an integer of at most 9
 *              bits is that same correctly rounded value).
 *   The same two for int16 (the 16x8 scheme's boundary): clamp to
 *              [-32768, 32767]; DEQUANTIZE's float product is still
 *              TFLite's double product rounded once (16-bit integers).
 *   REQUANTIZE (int8 -> int8 QUANTIZE)  q' = clamp(requantize(q - zp_in,
 *              M, s) + zp_out, -128, 127), M and s from in/out scale
 *              (TFLite's Requantize, MultiplyByQuantizedMultiplier).
 *
 * The two float ops are the only reef kernels outside float_ops.h that use
 * floating point (single precision: the Cortex-M4's FPU); they live here,
 * never in the int8 kernels' files, and a model without float inputs or
 * outputs never links them. NaN quantizes to the zero point (TFLite leaves
 * it undefined); +-inf and huge values saturate.
 *
 * The step args follow step.h's rule (plain numbers only) and start with a
 * reef_step_io: tensor operands are arena byte offsets, float tensors at
 * multiples of 4.
 */
#ifndef REEF_RT_QUANTIZE_H
#define REEF_RT_QUANTIZE_H

#include "reef/types.h"

/* out[i] = QUANTIZE(in[i]) for i < count. scale > 0, zero_point in [-128, 127]. */
reef_status reef_quantize_f32_s8(const float *in, int32_t count, float scale, int32_t zero_point, int8_t *out);

/* out[i] = DEQUANTIZE(in[i]) for i < count. */
reef_status reef_dequantize_s8_f32(const int8_t *in, int32_t count, float scale, int32_t zero_point,
                                   float *out);

/* The int16 forms: zero_point in [-32768, 32767]. */
reef_status reef_quantize_f32_s16(const float *in, int32_t count, float scale, int32_t zero_point, int16_t *out);
reef_status reef_dequantize_s16_f32(const int16_t *in, int32_t count, float scale, int32_t zero_point,
                                    float *out);

/* out[i] = REQUANTIZE(in[i]); multiplier Q31 in [0, 2^31), shift [-31, 30]. */
reef_status reef_requantize_tensor_s8(const int8_t *in, int32_t count, int32_t input_offset,
                                      int32_t multiplier, int32_t shift, int32_t output_offset, int8_t *out);

/* QUANTIZE float32 -> int8 (reef_quantize_step) and DEQUANTIZE int8 ->
 * float32 (reef_dequantize_step). */
typedef struct reef_quantize_step_args {
    reef_step_io io;    /* input (count) float32 or int8, output int8 or float32 */
    float scale;
    int32_t zero_point;
    int32_t count;      /* elements */
} reef_quantize_step_args;
reef_status reef_quantize_step(const void *args, uint8_t *arena);
reef_status reef_dequantize_step(const void *args, uint8_t *arena);
/* The same args for float32 -> int16 and int16 -> float32. */
reef_status reef_quantize_s16_step(const void *args, uint8_t *arena);
reef_status reef_dequantize_s16_step(const void *args, uint8_t *arena);

/* QUANTIZE int8 -> int8. */
typedef struct reef_requantize_step_args {
    reef_step_io io;
    int32_t input_offset;  /* -input zero point */
    int32_t multiplier;
    int32_t shift;
    int32_t output_offset; /* output zero point */
    int32_t count;
} reef_requantize_step_args;
reef_status reef_requantize_step(const void *args, uint8_t *arena);

#endif
