/* reef_conv_s8: convolution as a matrix product. Each output position's
 * receptive field is a column of K = KH*KW*C_IN int8 values (taken in place
 * for 1x1 convolutions without padding, else copied by im2col into the
 * scratch, padded taps holding the input zero point), multiplied by the
 * (C_OUT, K) filter two rows by two columns at a time.
 *
 * The input offset is folded into the bias: sum w*(x + off) equals
 * sum w*x + off * sum w, and a padded tap x = -off contributes 0 either way,
 * which matches TFLite skipping it. Scratch: (C_OUT) int32 biases, then two
 * im2col columns. */
#include "reef/conv.h"
#include "reef/requant.h"

#include "check.h"
#include "dot.h"

int reef_conv_args_valid(const reef_conv_params *params, const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const int8_t *input,
                         const reef_dims *filter_dims, const int8_t *filter,
                         const reef_dims *output_dims, const int8_t *output);

typedef struct conv_job {
    const reef_conv_params *params;
    const reef_dims *input_dims;
    const reef_dims *filter_dims;
    const reef_dims *output_dims;
    const int8_t *input;  /* (N, H_IN, W_IN, C_IN) */
    int32_t k;            /* KH * KW * C_IN */
    int direct;           /* columns read in place (1x1, no padding) */
} conv_job;

static int conv_is_direct(const reef_conv_params *p, const reef_dims *in,
                          const reef_dims *f, const reef_dims *out)
{
    return f->h == 1 && f->w == 1 && p->padding.h == 0 && p->padding.w == 0 &&
           (out->h - 1) * p->stride.h < in->h && (out->w - 1) * p->stride.w < in->w;
}

int32_t reef_conv_s8_get_buffer_size(const reef_conv_params *params,
                                     const reef_dims *input_dims,
                                     const reef_dims *filter_dims,
                                     const reef_dims *output_dims)
{
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
    int32_t size = 4 * filter_dims->n;
    if (!conv_is_direct(params, input_dims, filter_dims, output_dims))
        size += 2 * ((k + 3) & ~3);
    return size;
}

/* The column of output position p (flat over N, H_OUT, W_OUT), in place or
 * gathered into buf. */
static const int8_t *conv_column(const conv_job *job, int32_t p, int8_t *buf)
{
    const reef_conv_params *prm = job->params;
    const reef_dims *in = job->input_dims, *f = job->filter_dims;
    const int32_t out_x = p % job->output_dims->w;
    const int32_t out_y = (p / job->output_dims->w) % job->output_dims->h;
    const int32_t b = p / (job->output_dims->w * job->output_dims->h);
    const int32_t y0 = out_y * prm->stride.h - prm->padding.h;
    const int32_t x0 = out_x * prm->stride.w - prm->padding.w;
    const int8_t pad = (int8_t)(-prm->input_offset);
    int32_t ky, kx, i;
    int8_t *dst = buf;
    if (job->direct) return job->input + ((b * in->h + y0) * in->w + x0) * in->c;
    for (ky = 0; ky < f->h; ky++) {
        const int32_t y = y0 + ky * prm->dilation.h;
        for (kx = 0; kx < f->w; kx++, dst += in->c) {
            const int32_t x = x0 + kx * prm->dilation.w;
            const int8_t *src;
            if (y < 0 || y >= in->h || x < 0 || x >= in->w) {
                for (i = 0; i < in->c; i++) dst[i] = pad;
                continue;
            }
            src = job->input + ((b * in->h + y) * in->w + x) * in->c;
            for (i = 0; i < in->c; i++) dst[i] = src[i];
        }
    }
    return buf;
}

/* Folded biases: bias[o] + input_offset * sum_k filter[o, k]. */
static void fold_bias(const int8_t *filter, const int32_t *bias, int32_t c_out, int32_t k,
                      int32_t input_offset, int32_t *folded)
{
    int32_t o;
    for (o = 0; o < c_out; o++)
        folded[o] = (bias ? bias[o] : 0) + input_offset * reef_sum_s8(filter + o * k, k);
}

reef_status reef_conv_s8(const reef_context *ctx, const reef_conv_params *params,
                         const reef_per_channel_quant *quant,
                         const reef_dims *input_dims, const int8_t *input,
                         const reef_dims *filter_dims, const int8_t *filter,
                         const int32_t *bias,
                         const reef_dims *output_dims, int8_t *output)
{
    conv_job job;
    int32_t *folded;       /* (C_OUT) */
    int8_t *cols;          /* (2, K rounded up to 4) */
    int32_t positions, c_out, p, o, sums[4];
    if (!reef_conv_args_valid(params, quant, input_dims, input, filter_dims, filter,
                              output_dims, output) || !ctx || !ctx->buf ||
        ctx->size < reef_conv_s8_get_buffer_size(params, input_dims, filter_dims, output_dims))
        return REEF_ARG_ERROR;
    job.params = params;
    job.input_dims = input_dims;
    job.filter_dims = filter_dims;
    job.output_dims = output_dims;
    job.input = input;
    job.k = filter_dims->h * filter_dims->w * filter_dims->c;
    job.direct = conv_is_direct(params, input_dims, filter_dims, output_dims);
    c_out = filter_dims->n;
    folded = (int32_t *)ctx->buf;
    cols = (int8_t *)(folded + c_out);
    fold_bias(filter, bias, c_out, job.k, params->input_offset, folded);
    positions = output_dims->n * output_dims->h * output_dims->w;
    for (p = 0; p < positions; p += 2) {
        /* A lone last position is paired with itself; its copy is dropped. */
        const int two = p + 1 < positions;
        const int8_t *col0 = conv_column(&job, p, cols);
        const int8_t *col1 = two ? conv_column(&job, p + 1, cols + ((job.k + 3) & ~3)) : col0;
        int8_t *out0 = output + p * c_out, *out1 = out0 + c_out;
        for (o = 0; o < c_out; o += 2) {
            const int32_t o1 = o + 1 < c_out ? o + 1 : o;
            reef_dot_2x2(filter + o * job.k, filter + o1 * job.k, col0, col1, job.k, sums);
            out0[o] = reef_requantize_s8(sums[0] + folded[o], quant->multiplier[o],
                                         quant->shift[o], params->output_offset,
                                         params->activation.min, params->activation.max);
            if (two)
                out1[o] = reef_requantize_s8(sums[1] + folded[o], quant->multiplier[o],
                                             quant->shift[o], params->output_offset,
                                             params->activation.min, params->activation.max);
            if (o1 == o) break;
            out0[o1] = reef_requantize_s8(sums[2] + folded[o1], quant->multiplier[o1],
                                          quant->shift[o1], params->output_offset,
                                          params->activation.min, params->activation.max);
            if (two)
                out1[o1] = reef_requantize_s8(sums[3] + folded[o1], quant->multiplier[o1],
                                              quant->shift[o1], params->output_offset,
                                              params->activation.min, params->activation.max);
        }
    }
    return REEF_OK;
}
