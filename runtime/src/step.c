/* The step table: reef_run_steps and one step function per op, each
 * resolving arena offsets and calling its kernel. */
#include "reef/step.h"

#include "check.h"

REEF_OPTIMIZE_SIZE

reef_status reef_run_steps(const reef_step *steps, int first, int count, uint8_t *arena)
{
    int k;
    if (!steps || first < 0 || count < 0) return REEF_ARG_ERROR;
    for (k = first; k < first + count; k++) {
        reef_status status;
#ifdef REEF_PROFILE_STEPS
        reef_mark_step();
#endif
        status = steps[k].run(steps[k].args, arena);
        if (status != REEF_OK) return status;
    }
#ifdef REEF_PROFILE_STEPS
    reef_mark_step();
#endif
    return REEF_OK;
}

/* The arena bytes at an operand's offset. */
#define AT(arena, offset) ((arena) + (offset))
#define INPUT(a, arena) ((const int8_t *)AT(arena, (a)->io.input_at))
#define INPUT2(a, arena) ((const int8_t *)AT(arena, (a)->io.input2_at))
#define OUTPUT(a, arena) ((int8_t *)AT(arena, (a)->io.output_at))

static reef_context scratch_of(const reef_step_io *io, uint8_t *arena)
{
    reef_context ctx;
    ctx.buf = arena + io->scratch_at;
    ctx.size = (int32_t)io->scratch_size;
    return ctx;
}

reef_status reef_conv_step(const void *args, uint8_t *arena)
{
    const reef_conv_step_args *a = (const reef_conv_step_args *)args;
    reef_context ctx = scratch_of(&a->io, arena);
    return reef_conv_s8(&ctx, &a->params, &a->quant, &a->input_dims,
                        INPUT(a, arena), &a->filter_dims, a->filter,
                        a->bias, &a->output_dims, OUTPUT(a, arena));
}

reef_status reef_dw_conv_step(const void *args, uint8_t *arena)
{
    const reef_dw_conv_step_args *a = (const reef_dw_conv_step_args *)args;
    reef_context ctx = scratch_of(&a->io, arena);
#if !defined(REEF_DW_IN_PLACE) || REEF_DW_IN_PLACE
    if (a->io.output_at == a->io.input_at) /* planned in place (the planner checked it can be) */
        return reef_dw_conv_s8_in_place(&ctx, &a->params, &a->quant, &a->input_dims, OUTPUT(a, arena),
                                        &a->filter_dims, a->filter, a->bias, &a->output_dims);
#else
    if (a->io.output_at == a->io.input_at) return REEF_UNSUPPORTED; /* left out of this build */
#endif
    return reef_dw_conv_s8(&ctx, &a->params, &a->quant, &a->input_dims,
                           INPUT(a, arena), &a->filter_dims, a->filter,
                           a->bias, &a->output_dims, OUTPUT(a, arena));
}

/* The FC quantizations a build runs (reef/step.h, REEF_FC_QUANTS): bit 0
 * per tensor, bit 1 per channel. */
#ifndef REEF_FC_QUANTS
#define REEF_FC_QUANTS 3u
#endif

reef_status reef_fc_step(const void *args, uint8_t *arena)
{
    const reef_fc_step_args *a = (const reef_fc_step_args *)args;
    /* tested first: with the arena pointers after it, one instruction
     * more per step than before the test, not two (Os's register choice) */
    const int per_channel = a->channel_quant.multiplier != 0;
    if (!((REEF_FC_QUANTS >> per_channel) & 1u)) return REEF_UNSUPPORTED; /* left out of this build */
    const int8_t *input = INPUT(a, arena);
    int8_t *output = OUTPUT(a, arena);
    reef_context ctx = scratch_of(&a->io, arena);
    if (per_channel)
        return reef_fc_per_channel_s8(&ctx, &a->params, &a->channel_quant, &a->input_dims,
                                      input, &a->filter_dims, a->filter, a->bias,
                                      &a->output_dims, output);
    return reef_fc_s8(&ctx, &a->params, &a->quant, &a->input_dims, input, &a->filter_dims,
                      a->filter, a->bias, &a->output_dims, output);
}

reef_status reef_add_step(const void *args, uint8_t *arena)
{
    const reef_add_step_args *a = (const reef_add_step_args *)args;
    return reef_add_s8(&a->params, INPUT(a, arena),
                       INPUT2(a, arena), a->count,
                       OUTPUT(a, arena));
}

reef_status reef_avgpool_step(const void *args, uint8_t *arena)
{
    const reef_pool_step_args *a = (const reef_pool_step_args *)args;
    reef_context ctx = scratch_of(&a->io, arena);
    return reef_avgpool_s8(&ctx, &a->params, &a->input_dims,
                           INPUT(a, arena), &a->filter, &a->output_dims,
                           OUTPUT(a, arena));
}

reef_status reef_maxpool_step(const void *args, uint8_t *arena)
{
    const reef_pool_step_args *a = (const reef_pool_step_args *)args;
    reef_context ctx = scratch_of(&a->io, arena);
    return reef_maxpool_s8(&ctx, &a->params, &a->input_dims,
                           INPUT(a, arena), &a->filter, &a->output_dims,
                           OUTPUT(a, arena));
}

reef_status reef_mean_step(const void *args, uint8_t *arena)
{
    const reef_mean_step_args *a = (const reef_mean_step_args *)args;
    return reef_mean_hw_s8(&a->params, &a->input_dims, INPUT(a, arena),
                           &a->output_dims, OUTPUT(a, arena));
}

reef_status reef_softmax_step(const void *args, uint8_t *arena)
{
    const reef_softmax_step_args *a = (const reef_softmax_step_args *)args;
    return reef_softmax_s8(&a->params, a->rows, a->depth, INPUT(a, arena),
                           OUTPUT(a, arena));
}

reef_status reef_reshape_step(const void *args, uint8_t *arena)
{
    const reef_reshape_step_args *a = (const reef_reshape_step_args *)args;
    return reef_reshape_s8(INPUT(a, arena), a->count,
                           OUTPUT(a, arena));
}

reef_status reef_pad_step(const void *args, uint8_t *arena)
{
    const reef_pad_step_args *a = (const reef_pad_step_args *)args;
    return reef_pad_s8(&a->params, &a->input_dims, INPUT(a, arena),
                       &a->output_dims, OUTPUT(a, arena));
}
