/* reef_add_s8: TFLite's int8 elementwise ADD. */
#include "reef/add.h"
#include "reef/requant.h"

#include "check.h"

static int8_t add_one(const reef_add_params *p, int32_t a, int32_t b)
{
    const int32_t shifted1 = reef_shift_left(a + p->input1_offset, p->left_shift);
    const int32_t shifted2 = reef_shift_left(b + p->input2_offset, p->left_shift);
    const int32_t scaled1 = reef_requantize(shifted1, p->input1_multiplier, p->input1_shift);
    const int32_t scaled2 = reef_requantize(shifted2, p->input2_multiplier, p->input2_shift);
    const int32_t out = reef_requantize(scaled1 + scaled2, p->output_multiplier,
                                        p->output_shift) + p->output_offset;
    return (int8_t)reef_clamp(out, p->activation.min, p->activation.max);
}

reef_status reef_add_s8(const reef_add_params *params, const int8_t *input1,
                        const int8_t *input2, int32_t count, int8_t *output)
{
    int32_t k;
    if (!params || !input1 || !input2 || !output || count < 0 ||
        params->left_shift < 0 || params->left_shift > 30 || params->input1_shift > 0 ||
        params->input2_shift > 0 || !reef_activation_valid(&params->activation))
        return REEF_ARG_ERROR;
    for (k = 0; k < count; k++) output[k] = add_one(params, input1[k], input2[k]);
    return REEF_OK;
}
