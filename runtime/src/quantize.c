/* QUANTIZE, DEQUANTIZE and int8 requantize kernels and their step
 * functions (see reef/quantize.h). The float arithmetic is single
 * precision on purpose: it is TFLite's, and the M4's FPU. */
#include "reef/quantize.h"

#include "reef/requant.h"

/* round(v) with ties away from zero, clamped to [-2^24, 2^24] first so the
 * int conversion is defined (the result saturates to int8 later anyway).
 * Not v + 0.5f: that sum rounds up 0.49999997f. NaN -> 0. */
static int32_t round_away(float v)
{
    int32_t t;
    float frac;
    if (!(v == v)) return 0;
    if (v > 16777216.0f) return 16777216;
    if (v < -16777216.0f) return -16777216;
    t = (int32_t)v; /* truncates toward zero */
    frac = v - (float)t; /* exact: |v| < 2^24 */
    if (frac >= 0.5f) t++;
    if (frac <= -0.5f) t--;
    return t;
}

static int8_t saturate_s8(int32_t v)
{
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

reef_status reef_quantize_f32_s8(const float *in, int32_t count, float scale, int32_t zero_point, int8_t *out)
{
    int32_t i;
    if (!in || !out || count < 0 || !(scale > 0.0f) || zero_point < -128 || zero_point > 127)
        return REEF_ARG_ERROR;
    for (i = 0; i < count; i++) {
        const float x = in[i]; /* NaN: round_away gives 0, so the zero point */
        out[i] = saturate_s8(round_away(x / scale) + zero_point);
    }
    return REEF_OK;
}

reef_status reef_dequantize_s8_f32(const int8_t *in, int32_t count, float scale, int32_t zero_point,
                                   float *out)
{
    int32_t i;
    if (!in || !out || count < 0 || zero_point < -128 || zero_point > 127) return REEF_ARG_ERROR;
    for (i = 0; i < count; i++) out[i] = scale * (float)((int32_t)in[i] - zero_point);
    return REEF_OK;
}

reef_status reef_quantize_f32_s16(const float *in, int32_t count, float scale, int32_t zero_point, int16_t *out)
{
    int32_t i;
    if (!in || !out || count < 0 || !(scale > 0.0f) || zero_point < -32768 || zero_point > 32767)
        return REEF_ARG_ERROR;
    for (i = 0; i < count; i++) {
        const int32_t v = round_away(in[i] / scale) + zero_point;
        out[i] = (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
    }
    return REEF_OK;
}

reef_status reef_dequantize_s16_f32(const int16_t *in, int32_t count, float scale, int32_t zero_point,
                                    float *out)
{
    int32_t i;
    if (!in || !out || count < 0 || zero_point < -32768 || zero_point > 32767) return REEF_ARG_ERROR;
    for (i = 0; i < count; i++) out[i] = scale * (float)((int32_t)in[i] - zero_point);
    return REEF_OK;
}

reef_status reef_requantize_tensor_s8(const int8_t *in, int32_t count, int32_t input_offset,
                                      int32_t multiplier, int32_t shift, int32_t output_offset, int8_t *out)
{
    int32_t i;
    if (!in || !out || count < 0 || multiplier < 0 || shift < -31 || shift > 30) return REEF_ARG_ERROR;
    for (i = 0; i < count; i++)
        out[i] = reef_requantize_s8((int32_t)in[i] + input_offset, multiplier, shift, output_offset, -128, 127);
    return REEF_OK;
}

reef_status reef_quantize_step(const void *args, uint8_t *arena)
{
    const reef_quantize_step_args *a = (const reef_quantize_step_args *)args;
    return reef_quantize_f32_s8((const float *)(const void *)(arena + a->io.input_at), a->count, a->scale,
                                a->zero_point, (int8_t *)(arena + a->io.output_at));
}

reef_status reef_dequantize_step(const void *args, uint8_t *arena)
{
    const reef_quantize_step_args *a = (const reef_quantize_step_args *)args;
    return reef_dequantize_s8_f32((const int8_t *)(arena + a->io.input_at), a->count, a->scale, a->zero_point,
                                  (float *)(void *)(arena + a->io.output_at));
}

reef_status reef_requantize_step(const void *args, uint8_t *arena)
{
    const reef_requantize_step_args *a = (const reef_requantize_step_args *)args;
    return reef_requantize_tensor_s8((const int8_t *)(arena + a->io.input_at), a->count, a->input_offset,
                                     a->multiplier, a->shift, a->output_offset, (int8_t *)(arena + a->io.output_at));
}

reef_status reef_quantize_s16_step(const void *args, uint8_t *arena)
{
    const reef_quantize_step_args *a = (const reef_quantize_step_args *)args;
    return reef_quantize_f32_s16((const float *)(const void *)(arena + a->io.input_at), a->count, a->scale,
                                 a->zero_point, (int16_t *)(void *)(arena + a->io.output_at));
}

reef_status reef_dequantize_s16_step(const void *args, uint8_t *arena)
{
    const reef_quantize_step_args *a = (const reef_quantize_step_args *)args;
    return reef_dequantize_s16_f32((const int16_t *)(const void *)(arena + a->io.input_at), a->count, a->scale,
                                   a->zero_point, (float *)(void *)(arena + a->io.output_at));
}
