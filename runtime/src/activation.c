/* Standalone int8 activations (see reef/activation.h). */
#include "reef/activation.h"
#include "reef/requant.h"

#include "check.h"

static int quant_valid(const reef_per_tensor_quant *q)
{
    return q->multiplier >= 0 && q->shift >= -31 && q->shift <= 30;
}

reef_status reef_act_s8(const reef_act_params *params, const int8_t *input, int32_t count, int8_t *output)
{
    int32_t k;
    if (!params || !input || !output || count < 0 || !quant_valid(&params->positive) ||
        !quant_valid(&params->negative) || !reef_activation_valid(&params->activation))
        return REEF_ARG_ERROR;
    for (k = 0; k < count; k++) {
        const int32_t v = input[k] - params->input_zero_point;
        const reef_per_tensor_quant *q = v >= 0 ? &params->positive : &params->negative;
        int32_t out = params->output_zero_point + reef_requantize(v, q->multiplier, q->shift);
        out = out < params->activation.min ? params->activation.min : out;
        out = out > params->activation.max ? params->activation.max : out;
        output[k] = (int8_t)out;
    }
    return REEF_OK;
}

reef_status reef_act_step(const void *args, uint8_t *arena)
{
    const reef_act_step_args *a = (const reef_act_step_args *)args;
    return reef_act_s8(&a->params, (const int8_t *)(arena + a->io.input_at), a->count,
                       (int8_t *)(arena + a->io.output_at));
}
