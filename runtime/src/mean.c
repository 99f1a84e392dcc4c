/* reef_mean_hw_s8: TFLite Micro's int8 MEAN over height and width
 * (reference_ops::QuantizedMeanOrSum; see reef/mean.h). */
#include "reef/mean.h"
#include "reef/requant.h"

#include "check.h"

reef_status reef_mean_hw_s8(const reef_mean_params *params,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_dims *output_dims, int8_t *output)
{
    int32_t b, c, k, count;
    if (!params || !input || !output || !reef_dims_valid(input_dims) ||
        !reef_dims_valid(output_dims) || output_dims->n != input_dims->n ||
        output_dims->c != input_dims->c || output_dims->h != 1 || output_dims->w != 1)
        return REEF_ARG_ERROR;
    count = input_dims->h * input_dims->w;
    for (b = 0; b < input_dims->n; b++)
        for (c = 0; c < input_dims->c; c++) {
            const int8_t *in = input + b * count * input_dims->c + c; /* (H*W) stride C */
            int32_t acc = 0;
            for (k = 0; k < count; k++) acc += in[k * input_dims->c] + params->input_offset;
            acc = reef_requantize(acc, params->multiplier, params->shift);
            output[b * input_dims->c + c] =
                (int8_t)reef_clamp(acc + params->output_offset, -128, 127);
        }
    return REEF_OK;
}
