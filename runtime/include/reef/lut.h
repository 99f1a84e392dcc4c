/* reef runtime: int8 -> int8 elementwise ops as a 256-entry table lookup.
 *
 * An int8 op whose output depends only on one input value (TFLite
 * LOGISTIC, TANH, HARD_SWISH) is evaluated on the host for all 256 inputs
 * with TFLite Micro's integer reference arithmetic (src/codegen/lut.h);
 * the device only looks the value up:
 *   output[k] = table[input[k] + 128]
 * so the device result is, by construction, the reference result, and no
 * fixed-point exp or division runs on the MCU. */
#ifndef REEF_RT_LUT_H
#define REEF_RT_LUT_H

#include "reef/types.h"

/* table: (256) outputs for the inputs -128..127; input, output: (count)
 * elements; they may be the same buffer. */
reef_status reef_lut_s8(const int8_t *table, const int8_t *input, int32_t count, int8_t *output);

typedef struct reef_lut_step_args {
    reef_step_io io;
    const int8_t *table; /* (256) */
    int32_t count;
} reef_lut_step_args;
reef_status reef_lut_step(const void *args, uint8_t *arena);

#endif
