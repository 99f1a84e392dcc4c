/* TRANSPOSE_CONV, int8 per-channel (see reef/conv.h). */
#include "reef/conv.h"
#include "reef/requant.h"
#include "reef/step.h"

#include "check.h"

/* The filter taps k in [0, size) for which (out + pad - k) is a multiple of
 * stride whose quotient is an input index in [0, in_size): the first such
 * k in *first, the count returned; taps then step by stride. */
static int32_t taps(int32_t out, int32_t pad, int32_t stride, int32_t size, int32_t in_size, int32_t *first)
{
    const int32_t at = out + pad; /* = in * stride + k */
    int32_t k = at % stride, n = 0;
    if (k < 0) k += stride;
    /* the largest input index is in = (at - k) / stride; skip taps past the input's end */
    while (k < size && (at - k) / stride >= in_size) k += stride;
    *first = k;
    for (; k < size && at - k >= 0; k += stride) n++;
    return n;
}

reef_status reef_transpose_conv_s8(const reef_conv_params *params, const reef_per_channel_quant *quant,
                                   const reef_dims *input_dims, const int8_t *input, const reef_dims *filter_dims,
                                   const int8_t *filter, const int32_t *bias, const reef_dims *output_dims,
                                   int8_t *output)
{
    if (!params || !quant || !quant->multiplier || !quant->shift || !input_dims || !input || !filter_dims ||
        !filter || !output_dims || !output || !reef_dims_valid(input_dims) || !reef_dims_valid(filter_dims) ||
        !reef_dims_valid(output_dims) || input_dims->c != filter_dims->c || output_dims->c != filter_dims->n ||
        output_dims->n != input_dims->n || params->stride.h < 1 || params->stride.w < 1 ||
        params->activation.min > params->activation.max)
        return REEF_ARG_ERROR;
    const int32_t ic = input_dims->c, oc = output_dims->c, sh = params->stride.h, sw = params->stride.w;
    for (int32_t n = 0; n < output_dims->n; n++)
        for (int32_t y = 0; y < output_dims->h; y++) {
            int32_t ky0, kx0;
            const int32_t nky = taps(y, params->padding.h, sh, filter_dims->h, input_dims->h, &ky0);
            for (int32_t x = 0; x < output_dims->w; x++) {
                const int32_t nkx = taps(x, params->padding.w, sw, filter_dims->w, input_dims->w, &kx0);
                for (int32_t o = 0; o < oc; o++) {
                    int32_t acc = 0;
                    for (int32_t i = 0; i < nky; i++) {
                        const int32_t ky = ky0 + i * sh, in_y = (y + params->padding.h - ky) / sh;
                        for (int32_t j = 0; j < nkx; j++) {
                            const int32_t kx = kx0 + j * sw, in_x = (x + params->padding.w - kx) / sw;
                            const int8_t *px = input + ((n * input_dims->h + in_y) * input_dims->w + in_x) * ic;
                            const int8_t *w = filter + ((o * filter_dims->h + ky) * filter_dims->w + kx) * ic;
                            for (int32_t c = 0; c < ic; c++)
                                acc += ((int32_t)px[c] + params->input_offset) * (int32_t)w[c];
                        }
                    }
                    if (bias) acc += bias[o];
                    *output++ = reef_requantize_s8(acc, quant->multiplier[o], quant->shift[o],
                                                   params->output_offset, params->activation.min,
                                                   params->activation.max);
                }
            }
        }
    return REEF_OK;
}

reef_status reef_transpose_conv_step(const void *args, uint8_t *arena)
{
    const reef_conv_step_args *a = (const reef_conv_step_args *)args;
    return reef_transpose_conv_s8(&a->params, &a->quant, &a->input_dims, (const int8_t *)(arena + a->io.input_at),
                                  &a->filter_dims, a->filter, a->bias, &a->output_dims,
                                  (int8_t *)(arena + a->io.output_at));
}
