/* 256-entry table lookup for int8 elementwise ops (see reef/lut.h). */
#include "reef/lut.h"

reef_status reef_lut_s8(const int8_t *table, const int8_t *input, int32_t count, int8_t *output)
{
    int32_t k;
    if (!table || !input || !output || count < 0) return REEF_ARG_ERROR;
    for (k = 0; k < count; k++) output[k] = table[input[k] + 128];
    return REEF_OK;
}

reef_status reef_lut_step(const void *args, uint8_t *arena)
{
    const reef_lut_step_args *a = (const reef_lut_step_args *)args;
    return reef_lut_s8(a->table, (const int8_t *)(arena + a->io.input_at), a->count,
                       (int8_t *)(arena + a->io.output_at));
}
