/* The fully-connected kernels: four output channels at a time against one
 * input row, the input offset added to the input halfwords once per word
 * (SADD16) and shared by the four rows. */
#include "reef/fully_connected.h"
#include "reef/requant.h"

#include "check.h"
#include "dot.h"

int reef_fc_args_valid(const reef_fc_params *params, const reef_dims *input_dims,
                       const int8_t *input, const reef_dims *filter_dims,
                       const int8_t *filter, const reef_dims *output_dims,
                       const int8_t *output);

int32_t reef_fc_s8_get_buffer_size(const reef_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

/* quant_step: 1 per channel, 0 per tensor. */
static void fc_rows(const reef_fc_params *params, const int32_t *multiplier,
                    const int32_t *shift, int32_t quant_step, const int8_t *in,
                    const int8_t *filter, const int32_t *bias, int32_t c_in, int32_t c_out,
                    int8_t *out)
{
    int32_t o = 0, r, sums[4];
    for (; o < c_out; o += 4) {
        const int32_t n = c_out - o < 4 ? c_out - o : 4;
        if (n == 4)
            reef_dot_4x1(filter + o * c_in, in, c_in, params->input_offset, sums);
        else
            for (r = 0; r < n; r++)
                sums[r] = reef_dot_1x1(filter + (o + r) * c_in, in, c_in, params->input_offset);
        for (r = 0; r < n; r++) {
            const int32_t q = (o + r) * quant_step;
            out[o + r] = reef_requantize_s8(sums[r] + (bias ? bias[o + r] : 0), multiplier[q],
                                            shift[q], params->output_offset,
                                            params->activation.min, params->activation.max);
        }
    }
}

static reef_status fc_run(const reef_context *ctx, const reef_fc_params *params,
                          const int32_t *multiplier, const int32_t *shift, int per_channel,
                          const reef_dims *input_dims, const int8_t *input,
                          const reef_dims *filter_dims, const int8_t *filter,
                          const int32_t *bias, const reef_dims *output_dims, int8_t *output)
{
    int32_t b, c_in, c_out;
    if (!multiplier || !shift ||
        !reef_fc_args_valid(params, input_dims, input, filter_dims, filter, output_dims,
                            output))
        return REEF_ARG_ERROR;
    if (params->filter_offset != 0 || params->input_offset < -127 ||
        params->input_offset > 128) {
        /* Not TFLite's int8 scheme: the plain loop handles it. */
        reef_per_channel_quant q;
        q.multiplier = multiplier;
        q.shift = shift;
        return reef_fc_s8_ref(ctx, params, &q, per_channel, input_dims, input, filter_dims,
                              filter, bias, output_dims, output);
    }
    c_in = filter_dims->h * filter_dims->w * filter_dims->c;
    c_out = filter_dims->n;
    for (b = 0; b < input_dims->n; b++)
        fc_rows(params, multiplier, shift, per_channel ? 1 : 0, input + b * c_in, filter, bias,
                c_in, c_out, output + b * c_out);
    return REEF_OK;
}

reef_status reef_fc_s8(const reef_context *ctx, const reef_fc_params *params,
                       const reef_per_tensor_quant *quant,
                       const reef_dims *input_dims, const int8_t *input,
                       const reef_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias,
                       const reef_dims *output_dims, int8_t *output)
{
    if (!quant) return REEF_ARG_ERROR;
    return fc_run(ctx, params, &quant->multiplier, &quant->shift, 0, input_dims, input,
                  filter_dims, filter, bias, output_dims, output);
}

reef_status reef_fc_per_channel_s8(const reef_context *ctx, const reef_fc_params *params,
                                   const reef_per_channel_quant *quant,
                                   const reef_dims *input_dims, const int8_t *input,
                                   const reef_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias,
                                   const reef_dims *output_dims, int8_t *output)
{
    if (!quant) return REEF_ARG_ERROR;
    return fc_run(ctx, params, quant->multiplier, quant->shift, 1, input_dims, input,
                  filter_dims, filter, bias, output_dims, output);
}
