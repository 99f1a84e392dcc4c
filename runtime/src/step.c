/* The step table: reef_run_steps and one step function per op, each
 * resolving arena offsets and calling its kernel. */
#include "reef/step.h"

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

reef_status reef_conv_step(const void *args, uint8_t *arena)
{
    const reef_conv_step_args *a = (const reef_conv_step_args *)args;
    reef_context ctx;
    ctx.buf = arena + a->scratch_at;
    ctx.size = (int32_t)a->scratch_size;
    return reef_conv_s8(&ctx, &a->params, &a->quant, &a->input_dims,
                        (const int8_t *)(arena + a->input_at), &a->filter_dims, a->filter,
                        a->bias, &a->output_dims, (int8_t *)(arena + a->output_at));
}

reef_status reef_dw_conv_step(const void *args, uint8_t *arena)
{
    const reef_dw_conv_step_args *a = (const reef_dw_conv_step_args *)args;
    reef_context ctx;
    ctx.buf = arena + a->scratch_at;
    ctx.size = (int32_t)a->scratch_size;
    return reef_dw_conv_s8(&ctx, &a->params, &a->quant, &a->input_dims,
                           (const int8_t *)(arena + a->input_at), &a->filter_dims, a->filter,
                           a->bias, &a->output_dims, (int8_t *)(arena + a->output_at));
}

reef_status reef_fc_step(const void *args, uint8_t *arena)
{
    const reef_fc_step_args *a = (const reef_fc_step_args *)args;
    const int8_t *input = (const int8_t *)(arena + a->input_at);
    int8_t *output = (int8_t *)(arena + a->output_at);
    reef_context ctx;
    ctx.buf = arena + a->scratch_at;
    ctx.size = (int32_t)a->scratch_size;
    if (a->channel_quant.multiplier)
        return reef_fc_per_channel_s8(&ctx, &a->params, &a->channel_quant, &a->input_dims,
                                      input, &a->filter_dims, a->filter, a->bias,
                                      &a->output_dims, output);
    return reef_fc_s8(&ctx, &a->params, &a->quant, &a->input_dims, input, &a->filter_dims,
                      a->filter, a->bias, &a->output_dims, output);
}

reef_status reef_add_step(const void *args, uint8_t *arena)
{
    const reef_add_step_args *a = (const reef_add_step_args *)args;
    return reef_add_s8(&a->params, (const int8_t *)(arena + a->input1_at),
                       (const int8_t *)(arena + a->input2_at), a->count,
                       (int8_t *)(arena + a->output_at));
}

reef_status reef_avgpool_step(const void *args, uint8_t *arena)
{
    const reef_pool_step_args *a = (const reef_pool_step_args *)args;
    reef_context ctx;
    ctx.buf = arena + a->scratch_at;
    ctx.size = (int32_t)a->scratch_size;
    return reef_avgpool_s8(&ctx, &a->params, &a->input_dims,
                           (const int8_t *)(arena + a->input_at), &a->filter, &a->output_dims,
                           (int8_t *)(arena + a->output_at));
}

reef_status reef_maxpool_step(const void *args, uint8_t *arena)
{
    const reef_pool_step_args *a = (const reef_pool_step_args *)args;
    reef_context ctx;
    ctx.buf = arena + a->scratch_at;
    ctx.size = (int32_t)a->scratch_size;
    return reef_maxpool_s8(&ctx, &a->params, &a->input_dims,
                           (const int8_t *)(arena + a->input_at), &a->filter, &a->output_dims,
                           (int8_t *)(arena + a->output_at));
}

reef_status reef_mean_step(const void *args, uint8_t *arena)
{
    const reef_mean_step_args *a = (const reef_mean_step_args *)args;
    return reef_mean_hw_s8(&a->params, &a->input_dims, (const int8_t *)(arena + a->input_at),
                           &a->output_dims, (int8_t *)(arena + a->output_at));
}

reef_status reef_softmax_step(const void *args, uint8_t *arena)
{
    const reef_softmax_step_args *a = (const reef_softmax_step_args *)args;
    return reef_softmax_s8(&a->params, a->rows, a->depth, (const int8_t *)(arena + a->input_at),
                           (int8_t *)(arena + a->output_at));
}

reef_status reef_reshape_step(const void *args, uint8_t *arena)
{
    const reef_reshape_step_args *a = (const reef_reshape_step_args *)args;
    return reef_reshape_s8((const int8_t *)(arena + a->input_at), a->count,
                           (int8_t *)(arena + a->output_at));
}

reef_status reef_pad_step(const void *args, uint8_t *arena)
{
    const reef_pad_step_args *a = (const reef_pad_step_args *)args;
    return reef_pad_s8(&a->params, &a->input_dims, (const int8_t *)(arena + a->input_at),
                       &a->output_dims, (int8_t *)(arena + a->output_at));
}
