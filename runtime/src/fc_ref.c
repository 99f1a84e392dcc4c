/* Scalar reference of the fully-connected kernels: TFLite's FullyConnected. */
#include "reef/fc.h"
#include "reef/requant.h"

#include "check.h"

int reef_fc_args_valid(const reef_fc_params *params, const reef_dims *input_dims,
                       const int8_t *input, const reef_dims *filter_dims,
                       const int8_t *filter, const reef_dims *output_dims,
                       const int8_t *output)
{
    if (REEF_ARGS_TRUSTED) return 1; /* reef gen checked every step (check.h) */
    if (!params || !reef_filter_args_present(input, filter, output, input_dims, filter_dims, output_dims))
        return 0;
    /* Rows are (N) of C_IN; filter (C_OUT, 1, 1, C_IN) may also be given as
     * (C_OUT, H, W, C) with H*W*C = C_IN. */
    return filter_dims->h * filter_dims->w * filter_dims->c ==
               input_dims->h * input_dims->w * input_dims->c &&
           output_dims->h * output_dims->w * output_dims->c == filter_dims->n &&
           output_dims->n == input_dims->n && reef_activation_valid(&params->activation);
}

reef_status reef_fc_s8_ref(const reef_context *ctx, const reef_fc_params *params,
                           const reef_per_channel_quant *quant, int per_channel,
                           const reef_dims *input_dims, const int8_t *input,
                           const reef_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias,
                           const reef_dims *output_dims, int8_t *output)
{
    int32_t b, o, i, c_in, c_out;
    (void)ctx;
    if (!quant || !quant->multiplier || !quant->shift || (params && params->paired) ||
        !reef_fc_args_valid(params, input_dims, input, filter_dims, filter, output_dims,
                            output))
        return REEF_ARG_ERROR;
    c_in = filter_dims->h * filter_dims->w * filter_dims->c;
    c_out = filter_dims->n;
    for (b = 0; b < input_dims->n; b++)
        for (o = 0; o < c_out; o++) {
            const int8_t *in = input + b * c_in;   /* (C_IN) */
            const int8_t *w = filter + o * c_in;   /* (C_IN) */
            const int32_t q = per_channel ? o : 0;
            int32_t acc = bias ? bias[o] : 0;
            for (i = 0; i < c_in; i++)
                acc += (w[i] + params->filter_offset) * (in[i] + params->input_offset);
            output[b * c_out + o] = reef_requantize_s8(
                acc, quant->multiplier[q], quant->shift[q], params->output_offset,
                params->activation.min, params->activation.max);
        }
    return REEF_OK;
}
