/* Lowering of the standalone activations RELU, RELU_N1_TO_1, RELU6 and
 * LEAKY_RELU to the ACT step (reef/activation.h), with the parameters
 * TFLite Micro's Prepare computes: activations_common.cc
 * (CalculateReluOpData: QuantizeMultiplier(in / out), the clamp
 * zp + roundf(limit / out) in float; Relu6Prepare: a raw clamp to
 * [zp_in, FloatToQuantizedType(6, in)]) and leaky_relu_common.cc
 * (QuantizeMultiplier of in * alpha / out and in / out, in double). */
#include <math.h>

#include "codegen/lower_internal.h"
#include "codegen/qparams.h"

static int act_tensor(const reef_graph *g, int32_t t, const reef_tensor **out, reef_error *err)
{
    if (t < 0 || t >= g->ntensors) return reef_fail(err, "tensor index %d is out of range", t);
    const reef_tensor *x = &g->tensors[t];
    if (x->data) return reef_fail(err, "tensor %d '%s' is constant where an activation is expected", t, x->name);
    if (x->type != REEF_INT8 || x->nquant != 1 || !(x->scale[0] > 0))
        return reef_fail(err, "tensor %d '%s' is not per-tensor quantized INT8", t, x->name);
    if (x->zero_point[0] < -128 || x->zero_point[0] > 127)
        return reef_fail(err, "tensor %d '%s' has zero point %lld outside [-128, 127]", t, x->name,
                         (long long)x->zero_point[0]);
    *out = x;
    return 0;
}

/* FloatToQuantizedType<int8_t>: round(value / scale) + zero point, clamped. */
static int32_t float_to_q8(float value, float scale, int32_t zero_point)
{
    int32_t q = (int32_t)roundf(value / scale) + zero_point;
    return q < -128 ? -128 : q > 127 ? 127 : q;
}

int lower_activation(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    const reef_tensor *in, *out;
    if (op->ninputs != 1 || op->noutputs < 1) return reef_fail(err, "needs an input and an output");
    if (act_tensor(g, op->inputs[0], &in, err) || act_tensor(g, op->outputs[0], &out, err)) return -1;
    if (reef_tensor_elements(in) != reef_tensor_elements(out) || reef_tensor_elements(in) > INT32_MAX)
        return reef_fail(err, "input has %lld values, output %lld", (long long)reef_tensor_elements(in),
                         (long long)reef_tensor_elements(out));
    reef_act_step_args *a = &s->args.act;
    s->kind = REEF_STEP_ACT;
    a->count = (int32_t)reef_tensor_elements(in);
    reef_act_params *p = &a->params;
    int32_t zp_in = (int32_t)in->zero_point[0], zp_out = (int32_t)out->zero_point[0];
    double identity = (double)in->scale[0] / (double)out->scale[0];
    switch (op->builtin) {
    case REEF_OP_RELU6: /* a raw clamp in the input's quantization */
        p->input_zero_point = p->output_zero_point = 0;
        p->positive = p->negative = (reef_per_tensor_quant){1 << 30, 1};
        p->activation = (reef_activation){zp_in, float_to_q8(6.0f, in->scale[0], zp_in)};
        return 0;
    case REEF_OP_LEAKY_RELU:
        if (!isfinite(op->opt.alpha)) return reef_fail(err, "alpha %g is not finite", (double)op->opt.alpha);
        if (op->opt.alpha < 0) return reef_fail(err, "negative alpha %g is not supported", (double)op->opt.alpha);
        p->input_zero_point = zp_in, p->output_zero_point = zp_out;
        reef_quantize_multiplier(identity, &p->positive.multiplier, &p->positive.shift);
        reef_quantize_multiplier((double)in->scale[0] * (double)op->opt.alpha / (double)out->scale[0],
                                 &p->negative.multiplier, &p->negative.shift);
        p->activation = (reef_activation){-128, 127};
        return 0;
    default: /* RELU, RELU_N1_TO_1 */
        p->input_zero_point = zp_in, p->output_zero_point = zp_out;
        reef_quantize_multiplier(identity, &p->positive.multiplier, &p->positive.shift);
        p->negative = p->positive;
        if (reef_activation_range(op->builtin == REEF_OP_RELU ? REEF_ACT_RELU : REEF_ACT_RELU_N1_TO_1,
                                  out->scale[0], zp_out, &p->activation.min, &p->activation.max))
            return reef_fail(err, "no activation range");
        return 0;
    }
}
