/* Scalar reference of reef_dw_conv_s8: TFLite's DepthwiseConvPerChannel. */
#include "reef/dw_conv.h"
#include "reef/requant.h"

#include "check.h"

int reef_dw_conv_args_valid(const reef_dw_conv_params *params,
                            const reef_per_channel_quant *quant,
                            const reef_dims *input_dims, const int8_t *input,
                            const reef_dims *filter_dims, const int8_t *filter,
                            const reef_dims *output_dims, const int8_t *output)
{
    if (REEF_ARGS_TRUSTED) return 1; /* reef gen checked every step (check.h) */
    if (!params || !quant || !quant->multiplier || !quant->shift ||
        !reef_filter_args_present(input, filter, output, input_dims, filter_dims, output_dims) ||
        params->depth_multiplier < 1)
        return 0;
    return filter_dims->n == 1 && filter_dims->c == output_dims->c &&
           output_dims->c == input_dims->c * params->depth_multiplier &&
           output_dims->n == input_dims->n &&
           reef_conv_window_valid(&params->stride, &params->padding, &params->dilation, &params->activation);
}

/* One output value at (b, out_y, out_x, o), o = i * M + m. */
static int32_t dw_point(const reef_dw_conv_params *params, const reef_dims *input_dims,
                        const int8_t *input, const reef_dims *filter_dims,
                        const int8_t *filter, int32_t b, int32_t out_y, int32_t out_x,
                        int32_t o)
{
    const int32_t i = o / params->depth_multiplier;
    const int32_t c_out = filter_dims->c;
    const int32_t y0 = out_y * params->stride.h - params->padding.h;
    const int32_t x0 = out_x * params->stride.w - params->padding.w;
    int32_t acc = 0, ky, kx;
    for (ky = 0; ky < filter_dims->h; ky++) {
        const int32_t y = y0 + ky * params->dilation.h;
        if (y < 0 || y >= input_dims->h) continue;
        for (kx = 0; kx < filter_dims->w; kx++) {
            const int32_t x = x0 + kx * params->dilation.w;
            int32_t in;
            if (x < 0 || x >= input_dims->w) continue;
            in = input[((b * input_dims->h + y) * input_dims->w + x) * input_dims->c + i];
            acc += filter[(ky * filter_dims->w + kx) * c_out + o] * (in + params->input_offset);
        }
    }
    return acc;
}

reef_status reef_dw_conv_s8_ref(const reef_context *ctx, const reef_dw_conv_params *params,
                                const reef_per_channel_quant *quant,
                                const reef_dims *input_dims, const int8_t *input,
                                const reef_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias,
                                const reef_dims *output_dims, int8_t *output)
{
    int32_t b, y, x, o;
    (void)ctx;
    if (!reef_dw_conv_args_valid(params, quant, input_dims, input, filter_dims, filter,
                                 output_dims, output))
        return REEF_ARG_ERROR;
    for (b = 0; b < output_dims->n; b++)
        for (y = 0; y < output_dims->h; y++)
            for (x = 0; x < output_dims->w; x++)
                for (o = 0; o < output_dims->c; o++) {
                    int32_t acc = dw_point(params, input_dims, input, filter_dims, filter, b,
                                           y, x, o);
                    if (bias) acc += bias[o];
                    *output++ = reef_requantize_s8(acc, quant->multiplier[o], quant->shift[o],
                                                   params->output_offset,
                                                   params->activation.min,
                                                   params->activation.max);
                }
    return REEF_OK;
}
