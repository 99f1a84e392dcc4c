/* Lowering a reef_graph into runtime steps (see lower.h): per-op argument
 * computation here, the whole-model pass, arena planning and the interpreter in
 * lower_model.c. */
#include "codegen/lower.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/lower_internal.h"
#include "codegen/qparams.h"

/* ---- tensor helpers ----------------------------------------------------- */

static const reef_tensor *tensor_at_index(const reef_graph *g, int32_t t)
{
    return t >= 0 && t < g->ntensors ? &g->tensors[t] : NULL;
}

/* A non-constant int8 tensor with per-tensor quantization. */
static int activation(const reef_graph *g, int32_t t, const reef_tensor **out, reef_error *err)
{
    const reef_tensor *x = tensor_at_index(g, t);
    if (!x) return reef_fail(err, "tensor index %d is out of range", t);
    if (x->data)
        return reef_fail(err, "tensor %d '%s' is constant where an activation is expected", t, x->name);
    if (x->type != REEF_INT8)
        return reef_fail(err, "tensor %d '%s' is %s, not INT8", t, x->name, reef_dtype_name(x->type));
    if (x->nquant < 1 || !(x->scale[0] > 0))
        return reef_fail(err, "tensor %d '%s' has no int8 quantization (scale, zero point)", t, x->name);
    if (x->zero_point[0] < -128 || x->zero_point[0] > 127)
        return reef_fail(err, "tensor %d '%s' has zero point %lld outside [-128, 127]", t, x->name,
                         (long long)x->zero_point[0]);
    *out = x;
    return 0;
}

/* A non-constant int16 tensor (the 16x8 scheme): per-tensor scale, zero
 * point 0 (TFLite's int16 activations are symmetric). */
static int activation16(const reef_graph *g, int32_t t, const reef_tensor **out, reef_error *err)
{
    const reef_tensor *x = tensor_at_index(g, t);
    if (!x) return reef_fail(err, "tensor index %d is out of range", t);
    if (x->data)
        return reef_fail(err, "tensor %d '%s' is constant where an activation is expected", t, x->name);
    if (x->type != REEF_INT16)
        return reef_fail(err, "tensor %d '%s' is %s, not INT16 (16x8: int16 in, int16 out)", t, x->name,
                         reef_dtype_name(x->type));
    if (x->nquant < 1 || !(x->scale[0] > 0))
        return reef_fail(err, "tensor %d '%s' has no int16 quantization (scale, zero point)", t, x->name);
    if (x->zero_point[0] != 0)
        return reef_fail(err, "tensor %d '%s' is int16 with zero point %lld (TFLite's int16 is symmetric: 0)", t,
                         x->name, (long long)x->zero_point[0]);
    *out = x;
    return 0;
}

/* 1 when op's first input is an int16 tensor: the 16x8 scheme. */
static int is_16x8(const reef_graph *g, const reef_op *op)
{
    const reef_tensor *x = op->ninputs > 0 ? tensor_at_index(g, op->inputs[0]) : NULL;
    return x && x->type == REEF_INT16;
}

/* A constant tensor of the given type and element count. */
static int constant(const reef_graph *g, int32_t t, reef_dtype type, const reef_tensor **out, reef_error *err)
{
    const reef_tensor *x = tensor_at_index(g, t);
    if (!x) return reef_fail(err, "tensor index %d is out of range", t);
    if (!x->data)
        return reef_fail(err, "tensor %d '%s' should be constant (weights) but has no data", t, x->name);
    if (x->type != type)
        return reef_fail(err, "tensor %d '%s' is %s, expected %s", t, x->name, reef_dtype_name(x->type),
                         reef_dtype_name(type));
    size_t elem = type == REEF_INT8 ? 1 : type == REEF_INT16 ? 2 : type == REEF_INT64 ? 8 : 4;
    int64_t n = reef_tensor_elements(x);
    if (n < 0 || x->data_size != (size_t)n * elem)
        return reef_fail(err, "tensor %d '%s' holds %zu bytes for %lld elements", t, x->name, x->data_size,
                         (long long)n);
    *out = x;
    return 0;
}

static int32_t zp(const reef_tensor *t)
{
    return (int32_t)t->zero_point[0];
}

/* NHWC dims of a tensor of rank <= 4, leading dimensions 1. */
static int dims_of(const reef_tensor *t, reef_dims *d, reef_error *err)
{
    int32_t v[4] = {1, 1, 1, 1};
    if (t->rank > 4) return reef_fail(err, "tensor '%s' has rank %d (at most 4)", t->name, t->rank);
    for (int i = 0; i < t->rank; i++) v[4 - t->rank + i] = t->shape[i];
    for (int i = 0; i < 4; i++)
        if (v[i] <= 0) return reef_fail(err, "tensor '%s' has an empty or unknown dimension", t->name);
    *d = (reef_dims){v[0], v[1], v[2], v[3]};
    return 0;
}

static int dims4(const reef_tensor *t, reef_dims *d, reef_error *err)
{
    if (t->rank != 4) return reef_fail(err, "tensor '%s' has rank %d, expected 4 (NHWC)", t->name, t->rank);
    return dims_of(t, d, err);
}

static int32_t read_i32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static int64_t read_i64(const uint8_t *p)
{
    return (int64_t)((uint64_t)(uint32_t)read_i32(p) | (uint64_t)(uint32_t)read_i32(p + 4) << 32);
}

/* ---- shared pieces of conv-like ops ------------------------------------- */

/* TFLite's ComputeOutSize and ComputePaddingWithOffset: the top/left
 * padding for an output size; checks the output tensor has that size. */
static int window_padding(reef_padding padding, int32_t in, int32_t filter, int32_t stride, int32_t dilation,
                          int32_t out, int32_t *pad, reef_error *err)
{
    if (stride < 1 || dilation < 1 || filter < 1)
        return reef_fail(err, "stride %d, dilation %d, filter %d must be positive", stride, dilation, filter);
    int32_t effective = (filter - 1) * dilation + 1;
    int32_t expect =
        padding == REEF_PAD_SAME ? (in + stride - 1) / stride : (in + stride - effective) / stride;
    if (expect != out)
        return reef_fail(err, "output size %d does not match input %d, filter %d, stride %d, %s padding (%d)",
                         out, in, filter, stride, padding == REEF_PAD_SAME ? "SAME" : "VALID", expect);
    int32_t total = (out - 1) * stride + effective - in;
    *pad = total > 0 ? total / 2 : 0;
    return 0;
}

static int activation_clamp(int fused, const reef_tensor *out, reef_activation *act, reef_error *err)
{
    if (out->type == REEF_INT16 ? reef_activation_range_s16(fused, out->scale[0], zp(out), &act->min, &act->max)
                                : reef_activation_range(fused, out->scale[0], zp(out), &act->min, &act->max))
        return reef_fail(err, "fused activation %d is not supported (or its range overflows the output scale %g)",
                         fused, (double)out->scale[0]);
    return 0;
}

static int copy_bias(reef_lowered_step *s, const reef_graph *g, int32_t t, int32_t nout, reef_error *err);

/* The bias of a 16x8 op (the third input, when there is one): int64 (s->bias64)
 * or none. An int32 bias, or none where the op asks for it
 * (quantized_bias_type INT32), is TFLite Micro's 32-bit path (*acc32 = 1,
 * s->bias) for CONV_2D and FULLY_CONNECTED (allow32); its depthwise kernel
 * would read an int32 bias as int64: refused there. */
static int copy_bias_s16(reef_lowered_step *s, const reef_graph *g, const reef_op *op, int32_t nout, int allow32,
                         int32_t *acc32, reef_error *err)
{
    const int32_t t = op->ninputs > 2 ? op->inputs[2] : -1;
    const reef_tensor *b = t >= 0 ? tensor_at_index(g, t) : NULL;
    *acc32 = t >= 0 ? b && b->type == REEF_INT32 : op->opt.quantized_bias_type == REEF_INT32;
    if (*acc32 && !allow32)
        return reef_fail(err, "an int32 bias is not supported for 16x8 DEPTHWISE_CONV_2D (TFLite Micro reads its bias "
                              "as int64)");
    if (t < 0) return 0;
    if (*acc32) return copy_bias(s, g, t, nout, err);
    if (constant(g, t, REEF_INT64, &b, err)) return -1;
    if (reef_tensor_elements(b) != nout)
        return reef_fail(err, "bias '%s' has %lld values for %d output channels", b->name,
                         (long long)reef_tensor_elements(b), nout);
    s->bias64 = malloc((size_t)nout * sizeof(int64_t));
    if (!s->bias64) return reef_fail(err, "out of memory");
    for (int32_t i = 0; i < nout; i++) s->bias64[i] = read_i64(b->data + 8 * (size_t)i);
    s->nbias = nout;
    return 0;
}

/* TFLite's 64-bit MultiplyByQuantizedMultiplier takes shifts in [-31, 7]
 * (its 32-bit one, acc32, every shift reef_quantize_multiplier gives). */
static int shifts_fit_s64(const reef_lowered_step *s, int32_t acc32, reef_error *err)
{
    if (acc32) return 0;
    for (int32_t c = 0; c < s->nchannels; c++)
        if (s->shift[c] < -31 || s->shift[c] > 7)
            return reef_fail(err, "channel %d: input * filter / output scale needs shift %d, outside TFLite's "
                                  "[-31, 7] for 16x8",
                             c, s->shift[c]);
    return 0;
}

/* Copies int32 little-endian bias data. */
static int copy_bias(reef_lowered_step *s, const reef_graph *g, int32_t t, int32_t nout, reef_error *err)
{
    if (t < 0) return 0; /* optional, absent */
    const reef_tensor *b;
    if (constant(g, t, REEF_INT32, &b, err)) return -1;
    if (reef_tensor_elements(b) != nout)
        return reef_fail(err, "bias '%s' has %lld values for %d output channels", b->name,
                         (long long)reef_tensor_elements(b), nout);
    s->bias = malloc((size_t)nout * sizeof(int32_t));
    if (!s->bias) return reef_fail(err, "out of memory");
    for (int32_t i = 0; i < nout; i++) s->bias[i] = read_i32(b->data + 4 * (size_t)i);
    s->nbias = nout;
    return 0;
}

static int copy_filter(reef_lowered_step *s, const reef_tensor *f, reef_error *err)
{
    s->filter = malloc(f->data_size ? f->data_size : 1);
    if (!s->filter) return reef_fail(err, "out of memory");
    memcpy(s->filter, f->data, f->data_size);
    s->filter_size = f->data_size;
    return 0;
}

/* Per-channel multipliers and shifts: input_scale * filter_scale[c] /
 * output_scale in double, as TFLite's PopulateConvolutionQuantizationParams
 * (a per-tensor filter scale is broadcast over the channels). */
static int channel_quant(reef_lowered_step *s, const reef_tensor *in, const reef_tensor *f,
                         const reef_tensor *out, int32_t nout, reef_error *err)
{
    if (f->nquant != 1 && f->nquant != nout)
        return reef_fail(err, "filter '%s' has %d scales for %d output channels", f->name, f->nquant, nout);
    s->multiplier = malloc((size_t)nout * sizeof(int32_t));
    s->shift = malloc((size_t)nout * sizeof *s->shift);
    if (!s->multiplier || !s->shift) return reef_fail(err, "out of memory");
    for (int32_t c = 0; c < nout; c++) {
        double fs = (double)f->scale[f->nquant == 1 ? 0 : c];
        double m = (double)in->scale[0] * fs / (double)out->scale[0];
        if (!(m >= 0) || !isfinite(m))
            return reef_fail(err, "filter '%s' channel %d has a bad scale %g", f->name, c, fs);
        int32_t shift;
        reef_quantize_multiplier(m, &s->multiplier[c], &shift);
        s->shift[c] = (int8_t)shift; /* [-31, 30] (qparams.h) */
    }
    s->nchannels = nout;
    return 0;
}

/* ---- one function per op ------------------------------------------------ */

/* The int8 operands every conv-like op has. */
typedef struct conv_operands {
    const reef_tensor *in, *filter, *out;
    reef_dims in_dims, filter_dims, out_dims;
} conv_operands;

static int conv_operands_get(const reef_graph *g, const reef_op *op, conv_operands *c, reef_error *err)
{
    if (op->ninputs < 2 || op->noutputs < 1) return reef_fail(err, "needs an input, a filter and an output");
    const int s16 = is_16x8(g, op);
    if ((s16 ? activation16(g, op->inputs[0], &c->in, err) : activation(g, op->inputs[0], &c->in, err)) ||
        constant(g, op->inputs[1], REEF_INT8, &c->filter, err) ||
        (s16 ? activation16(g, op->outputs[0], &c->out, err) : activation(g, op->outputs[0], &c->out, err)))
        return -1;
    if (dims4(c->in, &c->in_dims, err) || dims4(c->filter, &c->filter_dims, err) ||
        dims4(c->out, &c->out_dims, err))
        return -1;
    if (c->in_dims.n != c->out_dims.n) return reef_fail(err, "input and output batch differ");
    return 0;
}

static int conv_window(const reef_op *op, const conv_operands *c, reef_hw *padding, reef_error *err)
{
    const reef_op_options *o = &op->opt;
    int dh = o->dilation_h ? o->dilation_h : 1, dw = o->dilation_w ? o->dilation_w : 1;
    if (window_padding(o->padding, c->in_dims.h, c->filter_dims.h, o->stride_h, dh, c->out_dims.h,
                       &padding->h, err) ||
        window_padding(o->padding, c->in_dims.w, c->filter_dims.w, o->stride_w, dw, c->out_dims.w,
                       &padding->w, err))
        return -1;
    return 0;
}

/* Stride, dilation (0 read as 1), padding and activation clamp of a conv or
 * depthwise op. */
static int conv_geometry(const reef_op *op, const conv_operands *c, reef_hw *stride, reef_hw *padding,
                         reef_hw *dilation, reef_activation *activation, reef_error *err)
{
    *stride = (reef_hw){op->opt.stride_h, op->opt.stride_w};
    *dilation = (reef_hw){op->opt.dilation_h ? op->opt.dilation_h : 1, op->opt.dilation_w ? op->opt.dilation_w : 1};
    return conv_window(op, c, padding, err) || activation_clamp(op->opt.activation, c->out, activation, err) ? -1 : 0;
}

/* The step's own copies of a conv or depthwise op's filter, per-channel
 * requantization and bias (the third input, when there is one). */
static int conv_constants(const reef_graph *g, const reef_op *op, const conv_operands *c, reef_lowered_step *s,
                          reef_error *err)
{
    return copy_filter(s, c->filter, err) || channel_quant(s, c->in, c->filter, c->out, c->out_dims.c, err) ||
                   copy_bias(s, g, op->ninputs > 2 ? op->inputs[2] : -1, c->out_dims.c, err)
               ? -1
               : 0;
}

/* The 16x8 constants of a conv or depthwise op: filter, per-channel
 * requantization (shifts TFLite's 64-bit requantization takes), int64 bias. */
static int conv_constants_s16(const reef_graph *g, const reef_op *op, const conv_operands *c, reef_lowered_step *s,
                              int allow32, int32_t *acc32, reef_error *err)
{
    return copy_filter(s, c->filter, err) || channel_quant(s, c->in, c->filter, c->out, c->out_dims.c, err) ||
                   copy_bias_s16(s, g, op, c->out_dims.c, allow32, acc32, err) || shifts_fit_s64(s, *acc32, err)
               ? -1
               : 0;
}

/* CONV_2D, 16x8: reference_integer_ops::ConvPerChannel<int64_t>. */
static int lower_conv_s16(const reef_graph *g, const reef_op *op, const conv_operands *c, reef_lowered_step *s,
                          reef_error *err)
{
    reef_conv_s16_step_args *a = &s->args.conv_s16;
    s->kind = REEF_STEP_CONV_S16;
    if (c->filter_dims.c != c->in_dims.c || c->filter_dims.n != c->out_dims.c)
        return reef_fail(err, "16x8 filter %dx%dx%dx%d does not fit input channels %d, output channels %d",
                         c->filter_dims.n, c->filter_dims.h, c->filter_dims.w, c->filter_dims.c, c->in_dims.c,
                         c->out_dims.c);
    if (conv_geometry(op, c, &a->params.stride, &a->params.padding, &a->params.dilation, &a->params.activation,
                      err))
        return -1;
    a->input_dims = c->in_dims, a->filter_dims = c->filter_dims, a->output_dims = c->out_dims;
    if (conv_constants_s16(g, op, c, s, 1, &a->acc32, err)) return reef_fail_wrap(err, "conv (16x8)");
    a->quant = (reef_per_channel_quant){s->multiplier, s->shift};
    a->filter = s->filter, a->bias = s->bias64, a->bias32 = s->bias;
    s->macs = (int64_t)reef_dims_count(&c->out_dims) * c->filter_dims.h * c->filter_dims.w * c->filter_dims.c;
    return 0;
}

static int lower_conv(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    conv_operands c;
    if (conv_operands_get(g, op, &c, err)) return -1;
    if (is_16x8(g, op)) return lower_conv_s16(g, op, &c, s, err);
    reef_conv_step_args *a = &s->args.conv;
    s->kind = REEF_STEP_CONV;
    if (c.filter_dims.c != c.in_dims.c || c.filter_dims.n != c.out_dims.c)
        return reef_fail(err, "filter %dx%dx%dx%d does not fit input channels %d, output channels %d",
                         c.filter_dims.n, c.filter_dims.h, c.filter_dims.w, c.filter_dims.c, c.in_dims.c,
                         c.out_dims.c);
    a->params.input_offset = -zp(c.in);
    a->params.output_offset = zp(c.out);
    if (conv_geometry(op, &c, &a->params.stride, &a->params.padding, &a->params.dilation,
                      &a->params.activation, err))
        return -1;
    a->input_dims = c.in_dims, a->filter_dims = c.filter_dims, a->output_dims = c.out_dims;
    if (conv_constants(g, op, &c, s, err)) return reef_fail_wrap(err, "conv");
    a->quant = (reef_per_channel_quant){s->multiplier, s->shift};
    a->filter = s->filter, a->bias = s->bias;
    a->io.scratch_size =
        reef_conv_s8_get_buffer_size(&a->params, &a->input_dims, &a->filter_dims, &a->output_dims);
    s->macs = (int64_t)reef_dims_count(&c.out_dims) * c.filter_dims.h * c.filter_dims.w * c.filter_dims.c;
    return 0;
}

/* TRANSPOSE_CONV (transpose_conv.cc, int8: reference_integer_ops::
 * TransposeConv): inputs output_shape (constant int32, must match the
 * output), filter (C_OUT, KH, KW, C_IN), input, optional bias; per-channel
 * requantization as CONV_2D's. The padding is TFLite Micro's: the
 * convolution padding of the output size (ComputePaddingHeightWidth on
 * the output's height and width), whatever the input's size. */
static int32_t transpose_padding(reef_padding padding, int32_t out, int32_t filter, int32_t stride)
{
    const int32_t conv_out = padding == REEF_PAD_SAME ? (out + stride - 1) / stride : (out + stride - filter) / stride;
    const int32_t total = (conv_out - 1) * stride + filter - out;
    return total > 0 ? total / 2 : 0;
}

static int lower_transpose_conv(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    conv_operands c;
    const reef_tensor *shape;
    if (op->ninputs > 2 && tensor_at_index(g, op->inputs[2]) && tensor_at_index(g, op->inputs[2])->type == REEF_INT16)
        return reef_fail(err, "16x8 (int16 activations) is not supported for TRANSPOSE_CONV");
    if (op->ninputs < 3 || op->ninputs > 4 || op->noutputs != 1)
        return reef_fail(err, "needs an output shape, a filter, an input, an optional bias and an output");
    if (constant(g, op->inputs[0], REEF_INT32, &shape, err) || constant(g, op->inputs[1], REEF_INT8, &c.filter, err) ||
        activation(g, op->inputs[2], &c.in, err) || activation(g, op->outputs[0], &c.out, err))
        return -1;
    if (dims4(c.in, &c.in_dims, err) || dims4(c.filter, &c.filter_dims, err) || dims4(c.out, &c.out_dims, err))
        return -1;
    if (reef_tensor_elements(shape) != 4) return reef_fail(err, "output shape '%s' is not 4 values", shape->name);
    const int32_t want[4] = {c.out_dims.n, c.out_dims.h, c.out_dims.w, c.out_dims.c};
    for (int i = 0; i < 4; i++)
        if (read_i32(shape->data + 4 * i) != want[i])
            return reef_fail(err, "output shape '%s' does not match the output %dx%dx%dx%d", shape->name, want[0],
                             want[1], want[2], want[3]);
    if (c.in_dims.n != c.out_dims.n || c.filter_dims.c != c.in_dims.c || c.filter_dims.n != c.out_dims.c)
        return reef_fail(err, "filter %dx%dx%dx%d does not fit input channels %d, output channels %d",
                         c.filter_dims.n, c.filter_dims.h, c.filter_dims.w, c.filter_dims.c, c.in_dims.c,
                         c.out_dims.c);
    const reef_op_options *o = &op->opt;
    if (o->stride_h < 1 || o->stride_w < 1)
        return reef_fail(err, "stride %dx%d must be positive", o->stride_h, o->stride_w);
    reef_conv_step_args *a = &s->args.transpose_conv;
    a->params.input_offset = -zp(c.in);
    a->params.output_offset = zp(c.out);
    a->params.stride = (reef_hw){o->stride_h, o->stride_w};
    a->params.dilation = (reef_hw){1, 1};
    a->params.padding = (reef_hw){transpose_padding(o->padding, c.out_dims.h, c.filter_dims.h, o->stride_h),
                                  transpose_padding(o->padding, c.out_dims.w, c.filter_dims.w, o->stride_w)};
    if (activation_clamp(o->activation, c.out, &a->params.activation, err)) return -1;
    if (copy_filter(s, c.filter, err) || channel_quant(s, c.in, c.filter, c.out, c.out_dims.c, err) ||
        copy_bias(s, g, op->ninputs > 3 ? op->inputs[3] : -1, c.out_dims.c, err))
        return reef_fail_wrap(err, "transpose conv");
    a->input_dims = c.in_dims, a->filter_dims = c.filter_dims, a->output_dims = c.out_dims;
    a->quant = (reef_per_channel_quant){s->multiplier, s->shift};
    a->filter = s->filter, a->bias = s->bias;
    s->kind = REEF_STEP_TRANSPOSE_CONV;
    s->input_tensors[0] = op->inputs[2]; /* the activation is the third operand */
    s->macs = (int64_t)reef_dims_count(&c.in_dims) * c.filter_dims.n * c.filter_dims.h * c.filter_dims.w;
    return 0;
}

/* DEPTHWISE_CONV_2D, 16x8: reference_integer_ops::DepthwiseConvPerChannel
 * for int16 (always an int64 bias). */
static int lower_dw_conv_s16(const reef_graph *g, const reef_op *op, const conv_operands *c, reef_lowered_step *s,
                             reef_error *err)
{
    reef_dw_conv_s16_step_args *a = &s->args.dw_conv_s16;
    s->kind = REEF_STEP_DW_CONV_S16;
    if (c->filter_dims.n != 1 || c->filter_dims.c != c->out_dims.c || c->out_dims.c % c->in_dims.c)
        return reef_fail(err,
                         "16x8 depthwise filter 1x%dx%dx%d does not fit input channels %d, output channels %d",
                         c->filter_dims.h, c->filter_dims.w, c->filter_dims.c, c->in_dims.c, c->out_dims.c);
    a->params.depth_multiplier = c->out_dims.c / c->in_dims.c;
    if (conv_geometry(op, c, &a->params.stride, &a->params.padding, &a->params.dilation, &a->params.activation,
                      err))
        return -1;
    a->input_dims = c->in_dims, a->filter_dims = c->filter_dims, a->output_dims = c->out_dims;
    int32_t acc32;
    if (conv_constants_s16(g, op, c, s, 0, &acc32, err)) return reef_fail_wrap(err, "depthwise conv (16x8)");
    a->quant = (reef_per_channel_quant){s->multiplier, s->shift};
    a->filter = s->filter, a->bias = s->bias64;
    s->macs = (int64_t)reef_dims_count(&c->out_dims) * c->filter_dims.h * c->filter_dims.w;
    return 0;
}

static int lower_dw_conv(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    conv_operands c;
    if (conv_operands_get(g, op, &c, err)) return -1;
    if (is_16x8(g, op)) return lower_dw_conv_s16(g, op, &c, s, err);
    reef_dw_conv_step_args *a = &s->args.dw_conv;
    s->kind = REEF_STEP_DW_CONV;
    if (c.filter_dims.n != 1 || c.filter_dims.c != c.out_dims.c || c.out_dims.c % c.in_dims.c)
        return reef_fail(err,
                         "depthwise filter 1x%dx%dx%d does not fit input channels %d, output channels %d",
                         c.filter_dims.h, c.filter_dims.w, c.filter_dims.c, c.in_dims.c, c.out_dims.c);
    a->params.input_offset = -zp(c.in);
    a->params.output_offset = zp(c.out);
    /* From the shapes: some converters write depth_multiplier 1 or 0. */
    a->params.depth_multiplier = c.out_dims.c / c.in_dims.c;
    if (conv_geometry(op, &c, &a->params.stride, &a->params.padding, &a->params.dilation,
                      &a->params.activation, err))
        return -1;
    a->input_dims = c.in_dims, a->filter_dims = c.filter_dims, a->output_dims = c.out_dims;
    if (conv_constants(g, op, &c, s, err)) return reef_fail_wrap(err, "depthwise conv");
    a->quant = (reef_per_channel_quant){s->multiplier, s->shift};
    a->filter = s->filter, a->bias = s->bias;
    a->io.scratch_size =
        reef_dw_conv_s8_get_buffer_size(&a->params, &a->input_dims, &a->filter_dims, &a->output_dims);
    s->macs = (int64_t)reef_dims_count(&c.out_dims) * c.filter_dims.h * c.filter_dims.w;
    return 0;
}

/* FULLY_CONNECTED, 16x8: reference_integer_ops::FullyConnected (per tensor)
 * or FullyConnectedPerChannel, int64 accumulator; per-tensor multipliers
 * repeated over the channels (the same arithmetic). */
static int lower_fc_s16(const reef_graph *g, const reef_op *op, const reef_tensor *in, const reef_tensor *f,
                        const reef_tensor *out, int32_t rows, reef_lowered_step *s, reef_error *err)
{
    const int32_t nout = f->shape[0], nin = f->shape[1];
    reef_fc_s16_step_args *a = &s->args.fc_s16;
    s->kind = REEF_STEP_FC_S16;
    if (f->nquant < 1) return reef_fail(err, "weights '%s' are not quantized", f->name);
    for (int i = 0; i < f->nquant; i++)
        if (f->zero_point[i] != 0)
            return reef_fail(err, "16x8 weights '%s' have zero point %lld (symmetric int8 weights only)", f->name,
                             (long long)f->zero_point[i]);
    if (activation_clamp(op->opt.activation, out, &a->params.activation, err)) return -1;
    a->input_dims = (reef_dims){rows, 1, 1, nin};
    a->filter_dims = (reef_dims){nout, 1, 1, nin};
    a->output_dims = (reef_dims){rows, 1, 1, nout};
    if (copy_filter(s, f, err) || channel_quant(s, in, f, out, nout, err) ||
        copy_bias_s16(s, g, op, nout, 1, &a->acc32, err) || shifts_fit_s64(s, a->acc32, err))
        return reef_fail_wrap(err, "fully connected (16x8)");
    a->quant = (reef_per_channel_quant){s->multiplier, s->shift};
    a->filter = s->filter, a->bias = s->bias64, a->bias32 = s->bias;
    s->macs = (int64_t)rows * nout * nin;
    return 0;
}

static int lower_fc(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *f, *out;
    const int s16 = is_16x8(g, op);
    if (op->ninputs < 2 || op->noutputs < 1) return reef_fail(err, "needs an input, weights and an output");
    if ((s16 ? activation16(g, op->inputs[0], &in, err) : activation(g, op->inputs[0], &in, err)) ||
        constant(g, op->inputs[1], REEF_INT8, &f, err) ||
        (s16 ? activation16(g, op->outputs[0], &out, err) : activation(g, op->outputs[0], &out, err)))
        return -1;
    if (f->rank != 2)
        return reef_fail(err, "weights '%s' have rank %d, expected 2 (OUT, IN)", f->name, f->rank);
    int32_t nout = f->shape[0], nin = f->shape[1];
    int64_t in_count = reef_tensor_elements(in);
    if (nin <= 0 || nout <= 0 || in_count % nin)
        return reef_fail(err, "input of %lld values does not split into rows of %d", (long long)in_count,
                         nin);
    int32_t rows = (int32_t)(in_count / nin);
    if (reef_tensor_elements(out) != (int64_t)rows * nout)
        return reef_fail(err, "output has %lld values, expected %d x %d",
                         (long long)reef_tensor_elements(out), rows, nout);
    if (s16) return lower_fc_s16(g, op, in, f, out, rows, s, err);
    reef_fc_step_args *a = &s->args.fc;
    s->kind = REEF_STEP_FC;
    a->params.input_offset = -zp(in);
    a->params.filter_offset = f->nquant ? -(int32_t)f->zero_point[0] : 0;
    a->params.output_offset = zp(out);
    if (activation_clamp(op->opt.activation, out, &a->params.activation, err)) return -1;
    a->input_dims = (reef_dims){rows, 1, 1, nin};
    a->filter_dims = (reef_dims){nout, 1, 1, nin};
    a->output_dims = (reef_dims){rows, 1, 1, nout};
    if (copy_filter(s, f, err) || copy_bias(s, g, op->ninputs > 2 ? op->inputs[2] : -1, nout, err))
        return reef_fail_wrap(err, "fully connected");
    a->filter = s->filter, a->bias = s->bias;
    if (f->nquant > 1) {
        if (channel_quant(s, in, f, out, nout, err)) return -1;
        a->channel_quant = (reef_per_channel_quant){s->multiplier, s->shift};
    } else {
        if (f->nquant < 1) return reef_fail(err, "weights '%s' are not quantized", f->name);
        /* GetQuantizedConvolutionMultipler: (input * filter) / output, double */
        double m = (double)in->scale[0] * (double)f->scale[0] / (double)out->scale[0];
        reef_quantize_multiplier(m, &a->quant.multiplier, &a->quant.shift);
    }
    a->io.scratch_size = reef_fc_s8_get_buffer_size(&a->filter_dims);
    s->macs = (int64_t)rows * nout * nin;
    return 0;
}

static int same_shape(const reef_tensor *a, const reef_tensor *b)
{
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Two activations of the output's shape: the plain ADD step; a constant
 * operand or broadcasting takes the general one (lower_elementwise.c). */
static int elementwise_add(const reef_graph *g, const reef_op *op)
{
    const reef_tensor *x = tensor_at_index(g, op->inputs[0]), *y = tensor_at_index(g, op->inputs[1]),
                      *out = tensor_at_index(g, op->outputs[0]);
    return x && y && out && !x->data && !y->data && same_shape(x, y) && same_shape(x, out);
}

/* ADD, int16: reference_ops::Add(int16, pot_scale false), i.e. the int8
 * arithmetic with left_shift 15 (add_common.cc). */
static int lower_add_s16(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *x, *y, *out;
    if (!elementwise_add(g, op))
        return reef_fail(err, "int16 ADD with a constant operand or broadcasting is not supported "
                              "(two same-shaped int16 activations only)");
    if (activation16(g, op->inputs[0], &x, err) || activation16(g, op->inputs[1], &y, err) ||
        activation16(g, op->outputs[0], &out, err))
        return -1;
    reef_add_step_args *a = &s->args.add_s16;
    s->kind = REEF_STEP_ADD_S16;
    reef_add_quant q;
    if (reef_add_quantize_s16(x->scale[0], y->scale[0], out->scale[0], &q))
        return reef_fail(err, "int16 ADD: 2 * max input scale / (2^15 * output scale) must be below 1 (TFLite's "
                              "QuantizeMultiplierSmallerThanOneExp)");
    a->params = (reef_add_params){
        .input1_multiplier = q.input1_multiplier,
        .input1_shift = q.input1_shift,
        .input2_multiplier = q.input2_multiplier,
        .input2_shift = q.input2_shift,
        .left_shift = q.left_shift,
        .output_multiplier = q.output_multiplier,
        .output_shift = q.output_shift,
    };
    if (activation_clamp(op->opt.activation, out, &a->params.activation, err)) return -1;
    a->count = (int32_t)reef_tensor_elements(out);
    return 0;
}

static int lower_add(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *x, *y, *out;
    if (op->ninputs != 2 || op->noutputs < 1) return reef_fail(err, "needs two inputs and an output");
    if (is_16x8(g, op)) return lower_add_s16(g, op, s, err);
    if (!elementwise_add(g, op)) return lower_binary(g, op, s, err);
    if (activation(g, op->inputs[0], &x, err) || activation(g, op->inputs[1], &y, err) ||
        activation(g, op->outputs[0], &out, err))
        return -1;
    if (!same_shape(x, y) || !same_shape(x, out))
        return reef_fail(err, "broadcasting ADD (inputs of different shapes) is not supported");
    reef_add_step_args *a = &s->args.add;
    s->kind = REEF_STEP_ADD;
    reef_add_quant q;
    if (reef_add_quantize(x->scale[0], y->scale[0], out->scale[0], &q)) return reef_fail(err, "bad scales");
    a->params = (reef_add_params){
        .input1_offset = -zp(x),
        .input1_multiplier = q.input1_multiplier,
        .input1_shift = q.input1_shift,
        .input2_offset = -zp(y),
        .input2_multiplier = q.input2_multiplier,
        .input2_shift = q.input2_shift,
        .left_shift = q.left_shift,
        .output_offset = zp(out),
        .output_multiplier = q.output_multiplier,
        .output_shift = q.output_shift,
    };
    if (activation_clamp(op->opt.activation, out, &a->params.activation, err)) return -1;
    a->count = (int32_t)reef_tensor_elements(out);
    return 0;
}

/* Pools: one input, one output, the same quantization (TFLite requires it). */
static int lower_pool(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (op->ninputs < 1 || op->noutputs < 1) return reef_fail(err, "needs an input and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err)) return -1;
    /* avgpool and maxpool share one args type */
    reef_pool_step_args *a = STEP_ARGS(s, reef_pool_step_args);
    s->kind = op->builtin == REEF_OP_MAX_POOL_2D ? REEF_STEP_MAXPOOL : REEF_STEP_AVGPOOL;
    if (dims4(in, &a->input_dims, err) || dims4(out, &a->output_dims, err)) return -1;
    if (in->scale[0] != out->scale[0] || zp(in) != zp(out))
        return reef_fail(err, "input and output quantization differ (TFLite requires them equal)");
    if (a->input_dims.c != a->output_dims.c || a->input_dims.n != a->output_dims.n)
        return reef_fail(err, "input and output batch or channels differ");
    const reef_op_options *o = &op->opt;
    a->filter = (reef_hw){o->filter_h, o->filter_w};
    a->params.stride = (reef_hw){o->stride_h, o->stride_w};
    if (window_padding(o->padding, a->input_dims.h, o->filter_h, o->stride_h, 1, a->output_dims.h,
                       &a->params.padding.h, err) ||
        window_padding(o->padding, a->input_dims.w, o->filter_w, o->stride_w, 1, a->output_dims.w,
                       &a->params.padding.w, err) ||
        activation_clamp(o->activation, out, &a->params.activation, err))
        return -1;
    if (s->kind == REEF_STEP_AVGPOOL)
        a->io.scratch_size = reef_avgpool_s8_get_buffer_size(&a->input_dims, &a->output_dims);
    return 0;
}

/* MEAN over height and width of an NHWC tensor (global average pooling). */
static int lower_mean(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *axis, *out;
    if (op->ninputs < 2 || op->noutputs < 1) return reef_fail(err, "needs an input, axes and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err) ||
        constant(g, op->inputs[1], REEF_INT32, &axis, err))
        return -1;
    int64_t naxis = reef_tensor_elements(axis);
    int32_t a0 = naxis == 2 ? read_i32(axis->data) : -1, a1 = naxis == 2 ? read_i32(axis->data + 4) : -1;
    if (in->rank != 4 || !((a0 == 1 && a1 == 2) || (a0 == 2 && a1 == 1)))
        return reef_fail(err, "only MEAN over axes (1, 2) of a 4-D tensor is supported");
    reef_mean_step_args *a = &s->args.mean;
    s->kind = REEF_STEP_MEAN;
    if (dims4(in, &a->input_dims, err)) return -1;
    a->output_dims = (reef_dims){a->input_dims.n, 1, 1, a->input_dims.c};
    if (reef_tensor_elements(out) != reef_dims_count(&a->output_dims))
        return reef_fail(err, "output has %lld values, expected %d", (long long)reef_tensor_elements(out),
                         reef_dims_count(&a->output_dims));
    a->params.input_offset = -zp(in);
    a->params.output_offset = zp(out);
    int32_t multiplier, shift;
    reef_quantize_multiplier((double)in->scale[0] / (double)out->scale[0], &multiplier, &shift);
    /* QuantizedMeanOrSum folds 1 / (H * W) into the multiplier: shifted left by
     * floor(log2(count)) (at most 32 and 31 + shift), divided by count */
    const int64_t count = (int64_t)a->input_dims.h * a->input_dims.w;
    int up = 0;
    while (up < 62 && (count >> (up + 1)) > 0) up++;
    if (up > 32) up = 32;
    if (up > 31 + shift) up = 31 + shift;
    a->params.multiplier = (int32_t)(((int64_t)multiplier << up) / count);
    a->params.shift = shift - up;
    return 0;
}

static int lower_softmax(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (op->ninputs < 1 || op->noutputs < 1) return reef_fail(err, "needs an input and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err)) return -1;
    if (zp(out) != -128 || fabs((double)out->scale[0] - 1.0 / 256) > 1e-6)
        return reef_fail(err, "int8 softmax output must have scale 1/256 and zero point -128 (has %g, %d)",
                         (double)out->scale[0], zp(out));
    if (in->rank < 1 || !same_shape(in, out)) return reef_fail(err, "input and output shapes differ");
    reef_softmax_step_args *a = &s->args.softmax;
    s->kind = REEF_STEP_SOFTMAX;
    a->depth = in->shape[in->rank - 1];
    if (a->depth <= 0) return reef_fail(err, "empty last dimension");
    a->rows = (int32_t)(reef_tensor_elements(in) / a->depth);
    double beta = op->opt.beta != 0 ? (double)op->opt.beta : 1.0;
    reef_softmax_scaling(beta, (double)in->scale[0], &a->params.input_multiplier, &a->params.input_left_shift,
                         &a->params.diff_min);
    return 0;
}

static int lower_reshape(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (op->ninputs < 1 || op->noutputs < 1) return reef_fail(err, "needs an input and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err)) return -1;
    if (reef_tensor_elements(in) != reef_tensor_elements(out))
        return reef_fail(err, "input has %lld values, output %lld", (long long)reef_tensor_elements(in),
                         (long long)reef_tensor_elements(out));
    s->kind = REEF_STEP_RESHAPE;
    s->args.reshape.count = (int32_t)reef_tensor_elements(in);
    return 0;
}

/* PADV2's constant_values: one int8 value in the output's quantization
 * (TFLite Micro's pad.cc checks the scales and zero points equal). */
static int pad_constant(const reef_graph *g, int32_t t, const reef_tensor *out, int32_t *value, reef_error *err)
{
    const reef_tensor *c;
    if (constant(g, t, REEF_INT8, &c, err)) return -1;
    if (reef_tensor_elements(c) != 1) return reef_fail(err, "constant_values '%s' is not one value", c->name);
    if (c->nquant != 1 || c->scale[0] != out->scale[0] || c->zero_point[0] != out->zero_point[0])
        return reef_fail(err, "constant_values '%s' is not in the output's quantization", c->name);
    *value = (int8_t)c->data[0];
    return 0;
}

static int lower_pad(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *pads, *out;
    if (op->ninputs < 2 || op->ninputs > 3 || op->noutputs < 1)
        return reef_fail(err, "needs an input, paddings, (PADV2) a constant value and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err)) return -1;
    const reef_tensor *p = tensor_at_index(g, op->inputs[1]);
    int is64 = p && p->type == REEF_INT64;
    if (constant(g, op->inputs[1], is64 ? REEF_INT64 : REEF_INT32, &pads, err)) return -1;
    if (pads->rank != 2 || pads->shape[0] != in->rank || pads->shape[1] != 2 || in->rank > 4)
        return reef_fail(err, "paddings must be (%d, 2) for a tensor of rank %d <= 4", in->rank, in->rank);
    reef_pad_step_args *a = &s->args.pad;
    s->kind = REEF_STEP_PAD;
    int32_t before[4] = {0, 0, 0, 0}, after[4] = {0, 0, 0, 0};
    for (int i = 0; i < in->rank; i++) {
        int64_t b = is64 ? read_i64(pads->data + 16 * (size_t)i) : read_i32(pads->data + 8 * (size_t)i);
        int64_t e =
            is64 ? read_i64(pads->data + 16 * (size_t)i + 8) : read_i32(pads->data + 8 * (size_t)i + 4);
        if (b < 0 || e < 0 || b > 65535 || e > 65535) return reef_fail(err, "padding out of range");
        before[4 - in->rank + i] = (int32_t)b, after[4 - in->rank + i] = (int32_t)e;
    }
    a->params.before = (reef_dims){before[0], before[1], before[2], before[3]};
    a->params.after = (reef_dims){after[0], after[1], after[2], after[3]};
    a->params.pad_value = zp(out);
    if (op->ninputs == 3 && op->inputs[2] >= 0 && pad_constant(g, op->inputs[2], out, &a->params.pad_value, err))
        return -1;
    if (dims_of(in, &a->input_dims, err) || dims_of(out, &a->output_dims, err)) return -1;
    const int32_t *di = &a->input_dims.n, *dout = &a->output_dims.n;
    for (int i = 0; i < 4; i++)
        if (dout[i] != di[i] + before[i] + after[i])
            return reef_fail(err, "output shape does not match the paddings");
    if (in->scale[0] != out->scale[0] || zp(in) != zp(out))
        return reef_fail(err, "input and output quantization differ");
    return 0;
}

/* ---- TRANSPOSE and SLICE: the STRIDED step ------------------------------ */

/* A constant int32 or int64 vector of n values (perm, begin, size). */
static int int_vector(const reef_graph *g, int32_t t, int n, int64_t *v, reef_error *err)
{
    const reef_tensor *x = tensor_at_index(g, t), *c;
    int is64 = x && x->type == REEF_INT64;
    if (constant(g, t, is64 ? REEF_INT64 : REEF_INT32, &c, err)) return -1;
    if (reef_tensor_elements(c) != n)
        return reef_fail(err, "'%s' has %lld values, expected %d", c->name, (long long)reef_tensor_elements(c), n);
    for (int i = 0; i < n; i++) v[i] = is64 ? read_i64(c->data + 8 * (size_t)i) : read_i32(c->data + 4 * (size_t)i);
    return 0;
}

/* Input and output of a data-movement op: rank <= 4, one quantization. */
static int movement_tensors(const reef_graph *g, const reef_op *op, const reef_tensor **in, const reef_tensor **out,
                            reef_error *err)
{
    if (op->ninputs != (op->builtin == REEF_OP_SLICE ? 3 : 2) || op->noutputs < 1)
        return reef_fail(err, "needs %s and an output",
                         op->builtin == REEF_OP_SLICE ? "an input, begin and size" : "an input and a permutation");
    if (activation(g, op->inputs[0], in, err) || activation(g, op->outputs[0], out, err)) return -1;
    if ((*in)->rank < 1 || (*in)->rank > 4 || (*out)->rank != (*in)->rank)
        return reef_fail(err, "input rank %d, output rank %d (1 to 4, equal)", (*in)->rank, (*out)->rank);
    if ((*in)->scale[0] != (*out)->scale[0] || zp(*in) != zp(*out))
        return reef_fail(err, "input and output quantization differ");
    for (int i = 0; i < (*in)->rank; i++)
        if ((*in)->shape[i] <= 0 || (*out)->shape[i] <= 0) return reef_fail(err, "empty or unknown dimension");
    return 0;
}

/* Fills the step from per-axis output sizes and input strides (rank r),
 * leading axes of size 1. */
static void strided_args(reef_lowered_step *s, int r, const int32_t *size, const int64_t *stride, int64_t offset)
{
    int32_t d[4] = {1, 1, 1, 1}, st[4] = {0, 0, 0, 0};
    for (int i = 0; i < r; i++) d[4 - r + i] = size[i], st[4 - r + i] = (int32_t)stride[i];
    s->kind = REEF_STEP_STRIDED;
    s->args.strided.output_dims = (reef_dims){d[0], d[1], d[2], d[3]};
    s->args.strided.input_strides = (reef_dims){st[0], st[1], st[2], st[3]};
    s->args.strided.input_offset = (int32_t)offset;
}

static int lower_movement(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (movement_tensors(g, op, &in, &out, err)) return -1;
    const int r = in->rank;
    int64_t row_stride[4], stride[4], offset = 0, a[4], b[4];
    row_stride[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--) row_stride[i] = row_stride[i + 1] * in->shape[i + 1];
    if (reef_tensor_elements(in) > INT32_MAX) return reef_fail(err, "input has more than 2^31 values");
    if (op->builtin == REEF_OP_TRANSPOSE) { /* out axis i = in axis perm[i] */
        int used[4] = {0, 0, 0, 0};
        if (int_vector(g, op->inputs[1], r, a, err)) return -1;
        for (int i = 0; i < r; i++) {
            if (a[i] < 0 || a[i] >= r || used[a[i]]++) return reef_fail(err, "perm is not a permutation of 0..%d", r - 1);
            if (out->shape[i] != in->shape[a[i]]) return reef_fail(err, "output shape does not match perm");
            stride[i] = row_stride[a[i]];
        }
    } else { /* SLICE: size -1 runs to the end of the axis */
        if (int_vector(g, op->inputs[1], r, a, err) || int_vector(g, op->inputs[2], r, b, err)) return -1;
        for (int i = 0; i < r; i++) {
            int64_t size = b[i] == -1 ? in->shape[i] - a[i] : b[i];
            if (a[i] < 0 || size < 1 || a[i] + size > in->shape[i])
                return reef_fail(err, "begin %lld, size %lld do not fit axis %d of %d", (long long)a[i],
                                 (long long)b[i], i, in->shape[i]);
            if (out->shape[i] != size) return reef_fail(err, "output shape does not match size");
            stride[i] = row_stride[i];
            offset += a[i] * row_stride[i];
        }
    }
    strided_args(s, r, out->shape, stride, offset);
    return 0;
}

/* STRIDED_SLICE as TFLite Micro runs it (strided_slice_common.cc, the
 * reference StridedSlice): begin, end and strides constant int32 vectors;
 * per axis the start and stop of StridedSliceStartForAxis /
 * StridedSliceEndForAxis (negative indices from the end, clamped, then the
 * begin and end masks), a shrunk axis one element. TFLite Micro ignores
 * the ellipsis and new-axis masks and offset, so a model using them is
 * refused rather than sliced differently than it says. */
static int32_t clamp_index(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int slice_axis(const reef_op_options *o, int i, int32_t size, int64_t begin, int64_t end, int64_t stride,
                      int32_t *start, int32_t *count, reef_error *err)
{
    if (stride == 0) return reef_fail(err, "stride of axis %d is 0", i);
    int32_t b = (int32_t)(begin < 0 ? begin + size : begin), e = (int32_t)(end < 0 ? end + size : end);
    b = stride > 0 ? clamp_index(b, 0, size) : clamp_index(b, -1, size - 1);
    if (o->begin_mask & 1 << i) b = stride > 0 ? 0 : size - 1;
    e = stride > 0 ? clamp_index(e, 0, size) : clamp_index(e, -1, size - 1);
    if (o->end_mask & 1 << i) e = stride > 0 ? size : -1;
    if ((o->shrink_axis_mask & 1 << i) && stride < 0)
        return reef_fail(err, "axis %d is shrunk with a negative stride (TFLite Micro writes no element)", i);
    if (o->shrink_axis_mask & 1 << i) e = b + 1;
    int64_t n = stride > 0 ? (e - b + stride - 1) / stride : (b - e - stride - 1) / -stride;
    if (n < 1 || b < 0 || b >= size)
        return reef_fail(err, "axis %d: begin %lld, end %lld, stride %lld select no element (zero-size output)", i,
                         (long long)begin, (long long)end, (long long)stride);
    *start = b, *count = (int32_t)n;
    return 0;
}

static int lower_strided_slice(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    const reef_op_options *o = &op->opt;
    if (op->ninputs != 4 || op->noutputs < 1) return reef_fail(err, "needs an input, begin, end, strides and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err)) return -1;
    if (in->rank < 1 || in->rank > 4) return reef_fail(err, "input rank %d (1 to 4, as TFLite Micro)", in->rank);
    if (in->scale[0] != out->scale[0] || zp(in) != zp(out))
        return reef_fail(err, "input and output quantization differ");
    if (o->ellipsis_mask || o->new_axis_mask || o->offset)
        return reef_fail(err, "ellipsis_mask, new_axis_mask or offset set (TFLite Micro ignores them)");
    const int r = in->rank;
    int64_t begin[4], end[4], stride[4], row_stride[4], offset = 0;
    for (int k = 1; k <= 3; k++) {
        const reef_tensor *v = tensor_at_index(g, op->inputs[k]);
        if (v && v->type != REEF_INT32) return reef_fail(err, "'%s' is not int32 (TFLite Micro reads int32)", v->name);
    }
    if (int_vector(g, op->inputs[1], r, begin, err) || int_vector(g, op->inputs[2], r, end, err) ||
        int_vector(g, op->inputs[3], r, stride, err))
        return -1;
    row_stride[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--) row_stride[i] = row_stride[i + 1] * in->shape[i + 1];
    int32_t count[4];
    int kept = 0;
    for (int i = 0; i < r; i++) {
        int32_t start = 0;
        if (in->shape[i] <= 0) return reef_fail(err, "empty or unknown dimension");
        if (slice_axis(o, i, in->shape[i], begin[i], end[i], stride[i], &start, &count[i], err)) return -1;
        if (!(o->shrink_axis_mask & 1 << i) && (kept >= out->rank || out->shape[kept++] != count[i]))
            return reef_fail(err, "output shape does not match the slice (axis %d has %d elements)", i, count[i]);
        offset += start * row_stride[i];
        row_stride[i] *= stride[i];
    }
    if (kept != out->rank && !(kept == 0 && reef_tensor_elements(out) == 1))
        return reef_fail(err, "output rank %d, the slice keeps %d axes", out->rank, kept);
    strided_args(s, r, count, row_stride, offset);
    return 0;
}

/* REDUCE_MAX (reduce_common.cc): raw int8 max over the axes (negative
 * ones count from the end, repeats allowed), one quantization in and out;
 * keep_dims only changes the output's shape, checked by its value count. */
static int lower_reduce_max(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out, *axis;
    if (op->ninputs != 2 || op->noutputs < 1) return reef_fail(err, "needs an input, axes and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err) ||
        constant(g, op->inputs[1], REEF_INT32, &axis, err))
        return -1;
    if (in->rank < 1 || in->rank > 4) return reef_fail(err, "input rank %d (1 to 4)", in->rank);
    if (in->scale[0] != out->scale[0] || zp(in) != zp(out))
        return reef_fail(err, "input and output quantization differ (TFLite Micro requires them equal)");
    reef_reduce_step_args *a = &s->args.reduce_max;
    if (dims_of(in, &a->input_dims, err)) return -1;
    int32_t axes = 0;
    for (int64_t i = 0; i < reef_tensor_elements(axis); i++) {
        int32_t ax = read_i32(axis->data + 4 * (size_t)i);
        if (ax < -in->rank || ax >= in->rank) return reef_fail(err, "axis %d is out of range for rank %d", ax, in->rank);
        if (ax < 0) ax += in->rank;
        axes |= 1 << (in->rank - 1 - ax); /* bit 0 = the last axis (c) */
    }
    int64_t kept = 1;
    for (int i = 0; i < in->rank; i++)
        if (!(axes & (1 << (in->rank - 1 - i)))) kept *= in->shape[i];
    if (reef_tensor_elements(out) != kept)
        return reef_fail(err, "output has %lld values, expected %lld", (long long)reef_tensor_elements(out), (long long)kept);
    s->kind = REEF_STEP_REDUCE_MAX;
    a->axes = axes;
    return 0;
}

/* RESIZE_NEAREST_NEIGHBOR (resize_nearest_neighbor.cc, the reference
 * kernel): a 4-D input, a constant int32 size (H, W), one quantization;
 * each output row's and column's input index is TFLite's
 * GetNearestNeighbor, in float32 as it computes it, tabled here. */
static int32_t nearest_neighbor(int32_t v, int32_t in_size, int32_t out_size, int align_corners, int half_pixel)
{
    const float scale = align_corners && out_size > 1 ? (float)(in_size - 1) / (float)(out_size - 1)
                                                      : (float)in_size / (float)out_size;
    const float offset = half_pixel ? 0.5f : 0.0f;
    const float at = ((float)v + offset) * scale;
    int32_t i = align_corners ? (int32_t)roundf(at) : (int32_t)floorf(at);
    if (i > in_size - 1) i = in_size - 1;
    return half_pixel && i < 0 ? 0 : i;
}

/* What both RESIZE ops check: an input, a constant int32 size (H, W) and
 * an output of that size, one quantization for both (the kernels move raw
 * int8 values); their 4-D shapes. */
static int resize_shapes(const reef_graph *g, const reef_op *op, reef_dims *in_dims, reef_dims *out_dims,
                         reef_error *err)
{
    const reef_tensor *in, *out, *size;
    if (op->ninputs != 2 || op->noutputs != 1) return reef_fail(err, "needs an input, a size and an output");
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err) ||
        constant(g, op->inputs[1], REEF_INT32, &size, err))
        return -1;
    if (in->scale[0] != out->scale[0] || zp(in) != zp(out))
        return reef_fail(err, "input and output quantization differ");
    if (dims4(in, in_dims, err) || dims4(out, out_dims, err)) return -1;
    if (reef_tensor_elements(size) != 2) return reef_fail(err, "size '%s' is not 2 values (H, W)", size->name);
    const int32_t oh = read_i32(size->data), ow = read_i32(size->data + 4);
    if (oh != out_dims->h || ow != out_dims->w || out_dims->n != in_dims->n || out_dims->c != in_dims->c)
        return reef_fail(err, "output shape does not match the input and the size %dx%d", oh, ow);
    return 0;
}

static int lower_resize_nearest(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    reef_resize_nearest_step_args *a = &s->args.resize_nearest;
    if (resize_shapes(g, op, &a->input_dims, &a->output_dims, err)) return -1;
    const int32_t oh = a->output_dims.h, ow = a->output_dims.w;
    s->bias = malloc((size_t)(oh + ow) * sizeof(int32_t));
    if (!s->bias) return reef_fail(err, "out of memory");
    s->nbias = oh + ow;
    for (int32_t y = 0; y < oh; y++)
        s->bias[y] = nearest_neighbor(y, a->input_dims.h, oh, op->opt.align_corners, op->opt.half_pixel_centers);
    for (int32_t x = 0; x < ow; x++)
        s->bias[oh + x] = nearest_neighbor(x, a->input_dims.w, ow, op->opt.align_corners, op->opt.half_pixel_centers);
    a->index = s->bias;
    s->kind = REEF_STEP_RESIZE_NEAREST;
    return 0;
}

/* RESIZE_BILINEAR (resize_bilinear.cc, int8: ResizeBilinearInteger): a
 * 4-D input, a constant int32 size (H, W), one quantization (the kernel
 * interpolates raw int8 values), align_corners and half_pixel_centers not
 * both (TFLite refuses that too). The 10-bit scales are computed here as
 * TFLite computes them; a size whose last sample would land past the
 * input's last row or column (TFLite reads outside the input there, e.g.
 * 1 -> 2000 rows with half_pixel_centers) is refused. */
static int32_t bilinear_scale_10(int32_t in_size, int32_t out_size, int align_corners)
{
    if (align_corners && out_size > 1) return ((1 << 10) * (in_size - 1) + (out_size - 1) / 2) / (out_size - 1);
    return ((1 << 10) * in_size + out_size / 2) / out_size;
}

static int bilinear_axis_fits(int32_t in_size, int32_t out_size, int32_t scale_10, int half_pixel)
{
    const int64_t last = (int64_t)(out_size - 1) * scale_10 + (half_pixel ? scale_10 / 2 - (1 << 9) : 0);
    return last + scale_10 + (1 << 10) < INT32_MAX && last / (1 << 10) <= in_size - 1;
}

static int lower_resize_bilinear(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    reef_resize_bilinear_step_args *a = &s->args.resize_bilinear;
    if (resize_shapes(g, op, &a->input_dims, &a->output_dims, err)) return -1;
    if (op->opt.align_corners && op->opt.half_pixel_centers)
        return reef_fail(err, "align_corners and half_pixel_centers are both set");
    const int32_t oh = a->output_dims.h, ow = a->output_dims.w;
    if (a->input_dims.h > (1 << 20) || a->input_dims.w > (1 << 20))
        return reef_fail(err, "input %dx%d too large for 10-bit fixed point", a->input_dims.h, a->input_dims.w);
    a->geometry.y_scale_10 = bilinear_scale_10(a->input_dims.h, oh, op->opt.align_corners);
    a->geometry.x_scale_10 = bilinear_scale_10(a->input_dims.w, ow, op->opt.align_corners);
    a->geometry.half_pixel_centers = op->opt.half_pixel_centers != 0;
    if (!bilinear_axis_fits(a->input_dims.h, oh, a->geometry.y_scale_10, op->opt.half_pixel_centers) ||
        !bilinear_axis_fits(a->input_dims.w, ow, a->geometry.x_scale_10, op->opt.half_pixel_centers))
        return reef_fail(err, "resizing %dx%d to %dx%d samples outside the input in 10-bit fixed point",
                         a->input_dims.h, a->input_dims.w, oh, ow);
    s->kind = REEF_STEP_RESIZE_BILINEAR;
    return 0;
}

/* ARG_MAX (arg_min_max.cc, reference ArgMinMax with GreaterFn): over one
 * axis, a constant int32 (TFLite Micro reads only int32 axes) counting
 * from the end when negative; int32 indices out, the first of equal
 * values (TFLite Micro has no int64 output either). */
static int lower_arg_max(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *axis, *out = tensor_at_index(g, op->noutputs > 0 ? op->outputs[0] : -1);
    if (op->ninputs != 2 || op->noutputs != 1) return reef_fail(err, "needs an input, an axis and an output");
    if (activation(g, op->inputs[0], &in, err) || constant(g, op->inputs[1], REEF_INT32, &axis, err)) return -1;
    if (!out || out->data || out->type != REEF_INT32)
        return reef_fail(err, "the output must be an int32 activation (TFLite Micro writes int32 indices only)");
    if (reef_tensor_elements(axis) != 1) return reef_fail(err, "the axis must be one value");
    int32_t ax = read_i32(axis->data);
    if (in->rank < 1 || ax < -in->rank || ax >= in->rank)
        return reef_fail(err, "axis %d is out of range for rank %d", ax, in->rank);
    if (ax < 0) ax += in->rank;
    reef_arg_max_step_args *a = &s->args.arg_max;
    a->outer = a->axis_size = a->inner = 1;
    for (int i = 0; i < in->rank; i++) {
        if (in->shape[i] <= 0) return reef_fail(err, "empty or unknown dimension");
        if (i < ax) a->outer *= in->shape[i];
        if (i > ax) a->inner *= in->shape[i];
    }
    a->axis_size = in->shape[ax];
    if (out->rank != in->rank - 1 && !(in->rank == 1 && reef_tensor_elements(out) == 1))
        return reef_fail(err, "output rank %d, expected %d (the axis removed)", out->rank, in->rank - 1);
    for (int i = 0, j = 0; i < in->rank && out->rank == in->rank - 1; i++)
        if (i != ax && out->shape[j++] != in->shape[i]) return reef_fail(err, "output shape does not match the input");
    s->kind = REEF_STEP_ARG_MAX;
    return 0;
}

/* ---- float boundaries: QUANTIZE and DEQUANTIZE -------------------------- */

/* A non-constant float32 tensor (a model's float input or output). */
static int float_activation(const reef_graph *g, int32_t t, const reef_tensor **out, reef_error *err)
{
    const reef_tensor *x = tensor_at_index(g, t);
    if (!x) return reef_fail(err, "tensor index %d is out of range", t);
    if (x->data)
        return reef_fail(err, "tensor %d '%s' is constant where an activation is expected", t, x->name);
    if (x->type != REEF_FLOAT32)
        return reef_fail(err, "tensor %d '%s' is %s, not FLOAT32", t, x->name, reef_dtype_name(x->type));
    *out = x;
    return 0;
}

static int same_count(const reef_tensor *in, const reef_tensor *out, reef_error *err)
{
    if (reef_tensor_elements(in) != reef_tensor_elements(out) || reef_tensor_elements(in) > INT32_MAX)
        return reef_fail(err, "input has %lld values, output %lld", (long long)reef_tensor_elements(in),
                         (long long)reef_tensor_elements(out));
    return 0;
}

/* QUANTIZE int8 -> int8: TFLite's Requantize, multiplier in / out scale. */
static int lower_requantize(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (activation(g, op->inputs[0], &in, err) || activation(g, op->outputs[0], &out, err) ||
        same_count(in, out, err))
        return -1;
    reef_requantize_step_args *a = &s->args.requantize;
    s->kind = REEF_STEP_REQUANTIZE;
    a->input_offset = -zp(in), a->output_offset = zp(out);
    a->count = (int32_t)reef_tensor_elements(in);
    reef_quantize_multiplier((double)in->scale[0] / (double)out->scale[0], &a->multiplier, &a->shift);
    return 0;
}

/* QUANTIZE float32 -> int8, or int8 -> int8. */
static int lower_quantize(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (op->ninputs != 1 || op->noutputs < 1) return reef_fail(err, "needs an input and an output");
    const reef_tensor *x = tensor_at_index(g, op->inputs[0]);
    if (x && x->type == REEF_INT8) return lower_requantize(g, op, s, err);
    const reef_tensor *y = tensor_at_index(g, op->outputs[0]);
    const int s16 = y && y->type == REEF_INT16; /* float32 -> int16: the 16x8 scheme's input */
    if (float_activation(g, op->inputs[0], &in, err) ||
        (s16 ? activation16(g, op->outputs[0], &out, err) : activation(g, op->outputs[0], &out, err)) ||
        same_count(in, out, err))
        return -1;
    if (out->nquant != 1) return reef_fail(err, "per-channel QUANTIZE output is not supported");
    reef_quantize_step_args *a = &s->args.quantize;
    s->kind = s16 ? REEF_STEP_QUANTIZE_S16 : REEF_STEP_QUANTIZE;
    a->scale = out->scale[0], a->zero_point = zp(out), a->count = (int32_t)reef_tensor_elements(in);
    return 0;
}

/* DEQUANTIZE int8 -> float32. */
static int lower_dequantize(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (op->ninputs != 1 || op->noutputs < 1) return reef_fail(err, "needs an input and an output");
    const int s16 = is_16x8(g, op); /* int16 -> float32: the 16x8 scheme's output */
    if ((s16 ? activation16(g, op->inputs[0], &in, err) : activation(g, op->inputs[0], &in, err)) ||
        float_activation(g, op->outputs[0], &out, err) || same_count(in, out, err))
        return -1;
    if (in->nquant != 1) return reef_fail(err, "per-channel DEQUANTIZE input is not supported");
    reef_quantize_step_args *a = &s->args.dequantize;
    s->kind = s16 ? REEF_STEP_DEQUANTIZE_S16 : REEF_STEP_DEQUANTIZE;
    a->scale = in->scale[0], a->zero_point = zp(in), a->count = (int32_t)reef_tensor_elements(in);
    return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

typedef int (*lower_fn)(const reef_graph *, const reef_op *, reef_lowered_step *, reef_error *);

/* TFLite operator -> its lowering, which picks the step kind (QUANTIZE of
 * an int8 tensor is a REQUANTIZE step; SQUEEZE is a RESHAPE). Keyed by
 * operator, not by step kind: the kinds are listed in reef/step_kinds.h. */
static const struct {
    int32_t builtin;
    lower_fn lower;
} op_table[] = {
    {REEF_OP_CONV_2D, lower_conv},
    {REEF_OP_DEPTHWISE_CONV_2D, lower_dw_conv},
    {REEF_OP_FULLY_CONNECTED, lower_fc},
    {REEF_OP_ADD, lower_add},
    {REEF_OP_SUB, lower_binary},
    {REEF_OP_MUL, lower_binary},
    {REEF_OP_MAXIMUM, lower_binary},
    {REEF_OP_MINIMUM, lower_binary},
    {REEF_OP_PRELU, lower_binary},
    {REEF_OP_RELU, lower_activation},
    {REEF_OP_RELU_N1_TO_1, lower_activation},
    {REEF_OP_RELU6, lower_activation},
    {REEF_OP_LEAKY_RELU, lower_activation},
    {REEF_OP_LOGISTIC, lower_lut},
    {REEF_OP_TANH, lower_lut},
    {REEF_OP_HARD_SWISH, lower_lut},
    {REEF_OP_AVERAGE_POOL_2D, lower_pool},
    {REEF_OP_MAX_POOL_2D, lower_pool},
    {REEF_OP_MEAN, lower_mean},
    {REEF_OP_SOFTMAX, lower_softmax},
    {REEF_OP_RESHAPE, lower_reshape},
    {REEF_OP_SQUEEZE, lower_reshape},
    {REEF_OP_PAD, lower_pad},
    {REEF_OP_PADV2, lower_pad},
    {REEF_OP_EXPAND_DIMS, lower_reshape},
    {REEF_OP_TRANSPOSE, lower_movement},
    {REEF_OP_SLICE, lower_movement},
    {REEF_OP_STRIDED_SLICE, lower_strided_slice},
    {REEF_OP_REDUCE_MAX, lower_reduce_max},
    {REEF_OP_ARG_MAX, lower_arg_max},
    {REEF_OP_RESIZE_NEAREST_NEIGHBOR, lower_resize_nearest},
    {REEF_OP_RESIZE_BILINEAR, lower_resize_bilinear},
    {REEF_OP_TRANSPOSE_CONV, lower_transpose_conv},
    {REEF_OP_QUANTIZE, lower_quantize},
    {REEF_OP_DEQUANTIZE, lower_dequantize},
};

int lower_one_op(const reef_graph *g, int index, reef_lowered_step *s, reef_error *err)
{
    const reef_op *op = &g->ops[index];
    memset(s, 0, sizeof *s);
    s->op = index;
    s->builtin = op->builtin;
    s->output_tensor = op->noutputs > 0 ? op->outputs[0] : -1;
    s->input_tensors[0] = op->ninputs > 0 ? op->inputs[0] : -1;
    s->input_tensors[1] = op->builtin == REEF_OP_ADD && op->ninputs > 1 ? op->inputs[1] : -1;
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (op_table[i].builtin == op->builtin) {
            if (op->noutputs != 1) return reef_fail(err, "has %d outputs (1 supported)", op->noutputs);
            return op_table[i].lower(g, op, s, err);
        }
    return reef_fail(err, "no int8 kernel in reef's runtime");
}

void lower_step_free(reef_lowered_step *s)
{
    for (int j = 0; s->sub && j < s->nsub; j++) lower_step_free(&s->sub[j]);
    free(s->sub);
    free(s->filter);
    free(s->bias);
    free(s->bias64);
    free(s->multiplier);
    free(s->shift);
    memset(s, 0, sizeof *s);
}
