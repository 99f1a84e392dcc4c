/* Scalar reference of reef_conv_s8: TFLite's ConvPerChannel loop nest. */
#include "reef/conv.h"
#include "reef/requant.h"

#include "check.h"

int reef_conv_args_valid(const reef_conv_params *params, const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const int8_t *input,
                         const reef_dims *filter_dims, const int8_t *filter,
                         const reef_dims *output_dims, const int8_t *output)
{
    if (REEF_ARGS_TRUSTED) return 1; /* reef gen checked every step (check.h) */
    if (!params || !quant || !quant->multiplier || !quant->shift ||
        !reef_filter_args_present(input, filter, output, input_dims, filter_dims, output_dims))
        return 0;
    return input_dims->c == filter_dims->c && output_dims->c == filter_dims->n &&
           output_dims->n == input_dims->n &&
           reef_conv_window_valid(&params->stride, &params->padding, &params->dilation, &params->activation);
}

/* One output value at (b, out_y, out_x, o). */
static int32_t conv_point(const reef_conv_params *params, const reef_dims *input_dims,
                          const int8_t *input, const reef_dims *filter_dims,
                          const int8_t *filter, int32_t b, int32_t out_y, int32_t out_x,
                          int32_t o)
{
    const int32_t c_in = input_dims->c;
    const int32_t y0 = out_y * params->stride.h - params->padding.h;
    const int32_t x0 = out_x * params->stride.w - params->padding.w;
    int32_t acc = 0, ky, kx, i;
    for (ky = 0; ky < filter_dims->h; ky++) {
        const int32_t y = y0 + ky * params->dilation.h;
        if (y < 0 || y >= input_dims->h) continue;
        for (kx = 0; kx < filter_dims->w; kx++) {
            const int32_t x = x0 + kx * params->dilation.w;
            const int8_t *in, *w;
            if (x < 0 || x >= input_dims->w) continue;
            in = input + ((b * input_dims->h + y) * input_dims->w + x) * c_in;
            w = filter + ((o * filter_dims->h + ky) * filter_dims->w + kx) * c_in;
            for (i = 0; i < c_in; i++) acc += w[i] * (in[i] + params->input_offset);
        }
    }
    return acc;
}

reef_status reef_conv_s8_ref(const reef_context *ctx, const reef_conv_params *params,
                             const reef_per_channel_quant *quant,
                             const reef_dims *input_dims, const int8_t *input,
                             const reef_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias,
                             const reef_dims *output_dims, int8_t *output)
{
    int32_t b, y, x, o;
    (void)ctx;
    if (!reef_conv_args_valid(params, quant, input_dims, input, filter_dims, filter,
                              output_dims, output) || params->paired)
        return REEF_ARG_ERROR;
    for (b = 0; b < output_dims->n; b++)
        for (y = 0; y < output_dims->h; y++)
            for (x = 0; x < output_dims->w; x++)
                for (o = 0; o < output_dims->c; o++) {
                    int32_t acc = conv_point(params, input_dims, input, filter_dims, filter,
                                             b, y, x, o);
                    if (bias) acc += bias[o];
                    *output++ = reef_requantize_s8(acc, quant->multiplier[o], quant->shift[o],
                                                   params->output_offset,
                                                   params->activation.min,
                                                   params->activation.max);
                }
    return REEF_OK;
}
