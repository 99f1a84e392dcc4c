/* Lowering of the binary elementwise ops (ADD with broadcasting or a
 * constant operand, SUB, MUL, MAXIMUM, MINIMUM) to the steps of
 * reef/elementwise.h. Parameters as TFLite Micro's Prepare computes them
 * (add.cc / sub.cc: left_shift 20 and three multipliers; mul_common.cc:
 * s1 * s2 / s_out by QuantizeMultiplier). */
#include <stdlib.h>
#include <string.h>

#include "codegen/lower_internal.h"
#include "codegen/qparams.h"

/* An int8 operand with one scale: an activation or a constant. */
static int int8_operand(const reef_graph *g, int32_t t, const reef_tensor **out, reef_error *err)
{
    if (t < 0 || t >= g->ntensors) return reef_fail(err, "tensor index %d is out of range", t);
    const reef_tensor *x = &g->tensors[t];
    if (x->type != REEF_INT8)
        return reef_fail(err, "tensor %d '%s' is %s, not INT8", t, x->name, reef_dtype_name(x->type));
    if (x->nquant != 1 || !(x->scale[0] > 0))
        return reef_fail(err, "tensor %d '%s' needs one int8 scale and zero point (has %d)", t, x->name,
                         x->nquant);
    if (x->zero_point[0] < -128 || x->zero_point[0] > 127)
        return reef_fail(err, "tensor %d '%s' has zero point %lld outside [-128, 127]", t, x->name,
                         (long long)x->zero_point[0]);
    if (x->rank > 4) return reef_fail(err, "tensor %d '%s' has rank %d (at most 4)", t, x->name, x->rank);
    for (int i = 0; i < x->rank; i++)
        if (x->shape[i] <= 0)
            return reef_fail(err, "tensor %d '%s' has an empty or unknown dimension", t, x->name);
    if (x->data && x->data_size != (size_t)reef_tensor_elements(x))
        return reef_fail(err, "constant '%s' holds %zu bytes for %lld values", x->name, x->data_size,
                         (long long)reef_tensor_elements(x));
    *out = x;
    return 0;
}

/* A shape as 4 dims, leading ones added. */
static void dims4_of(const reef_tensor *t, int32_t d[4])
{
    for (int i = 0; i < 4; i++) d[i] = 1;
    for (int i = 0; i < t->rank; i++) d[4 - t->rank + i] = t->shape[i];
}

/* TFLite's broadcasting of x and y to out (NdArrayDescsForElementwiseBroadcast):
 * each dimension equal, or 1 in one input; strides 0 where it is 1. */
static int broadcast_of(const reef_tensor *x, const reef_tensor *y, const reef_tensor *out, reef_broadcast *b,
                        reef_error *err)
{
    int32_t dx[4], dy[4], dout[4], sx[4], sy[4];
    dims4_of(x, dx), dims4_of(y, dy), dims4_of(out, dout);
    if (out->rank < x->rank || out->rank < y->rank)
        return reef_fail(err, "output '%s' has rank %d, below an input's", out->name, out->rank);
    for (int i = 0; i < 4; i++) {
        int32_t want = dx[i] == 1 ? dy[i] : dx[i];
        if ((dx[i] != 1 && dy[i] != 1 && dx[i] != dy[i]) || dout[i] != want)
            return reef_fail(err, "shapes do not match for broadcasting: dimension %d is %d and %d, output %d", i - 4, dx[i],
                             dy[i], dout[i]);
    }
    for (int i = 3, px = 1, py = 1; i >= 0; i--) {
        sx[i] = dx[i] == 1 ? 0 : px, sy[i] = dy[i] == 1 ? 0 : py;
        px *= dx[i], py *= dy[i];
    }
    b->output_dims = (reef_dims){dout[0], dout[1], dout[2], dout[3]};
    b->input1_strides = (reef_dims){sx[0], sx[1], sx[2], sx[3]};
    b->input2_strides = (reef_dims){sy[0], sy[1], sy[2], sy[3]};
    return 0;
}

typedef struct binary_operands {
    const reef_tensor *x, *y, *out;
    reef_broadcast bcast;
    const int8_t *input1_const, *input2_const; /* the step's copy, or NULL */
} binary_operands;

/* The operands of a binary op: at most one constant (copied into
 * s->filter), the activations as the step's input tensors in order. */
static int binary_get(const reef_graph *g, const reef_op *op, reef_lowered_step *s, binary_operands *b,
                      reef_error *err)
{
    if (op->ninputs != 2 || op->noutputs < 1) return reef_fail(err, "needs two inputs and an output");
    if (int8_operand(g, op->inputs[0], &b->x, err) || int8_operand(g, op->inputs[1], &b->y, err) ||
        int8_operand(g, op->outputs[0], &b->out, err))
        return -1;
    if (b->out->data) return reef_fail(err, "output '%s' is constant", b->out->name);
    if (b->x->data && b->y->data)
        return reef_fail(err, "both inputs are constant (the converter folds such ops)");
    if (broadcast_of(b->x, b->y, b->out, &b->bcast, err)) return -1;
    const reef_tensor *c = b->x->data ? b->x : b->y->data ? b->y : NULL;
    b->input1_const = b->input2_const = NULL;
    s->input_tensors[0] = b->x->data ? op->inputs[1] : op->inputs[0];
    s->input_tensors[1] = c ? -1 : op->inputs[1];
    if (c) {
        s->filter = malloc(c->data_size);
        if (!s->filter) return reef_fail(err, "out of memory");
        memcpy(s->filter, c->data, c->data_size);
        s->filter_size = c->data_size;
        if (c == b->x)
            b->input1_const = s->filter;
        else
            b->input2_const = s->filter;
    }
    return 0;
}

static int32_t zero_point(const reef_tensor *t)
{
    return (int32_t)t->zero_point[0];
}

static int fused_clamp(int fused, const reef_tensor *out, reef_activation *act, reef_error *err)
{
    if (reef_activation_range(fused, out->scale[0], zero_point(out), &act->min, &act->max))
        return reef_fail(err, "fused activation %d is not supported", fused);
    return 0;
}

/* ADD (broadcast or with a constant) and SUB. */
static int lower_addsub(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    binary_operands b;
    if (binary_get(g, op, s, &b, err)) return -1;
    reef_addsub_step_args *a = STEP_ARGS(s, reef_addsub_step_args);
    s->kind = op->builtin == REEF_OP_SUB ? REEF_STEP_SUB : REEF_STEP_ADD_BCAST;
    reef_add_quant q;
    if (reef_add_quantize(b.x->scale[0], b.y->scale[0], b.out->scale[0], &q)) return reef_fail(err, "bad scales");
    a->params = (reef_add_params){
        .input1_offset = -zero_point(b.x),
        .input1_multiplier = q.input1_multiplier,
        .input1_shift = q.input1_shift,
        .input2_offset = -zero_point(b.y),
        .input2_multiplier = q.input2_multiplier,
        .input2_shift = q.input2_shift,
        .left_shift = q.left_shift,
        .output_offset = zero_point(b.out),
        .output_multiplier = q.output_multiplier,
        .output_shift = q.output_shift,
    };
    a->bcast = b.bcast, a->input1_const = b.input1_const, a->input2_const = b.input2_const;
    return fused_clamp(op->opt.activation, b.out, &a->params.activation, err);
}

static int lower_mul(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    binary_operands b;
    if (binary_get(g, op, s, &b, err)) return -1;
    reef_mul_step_args *a = &s->args.mul;
    s->kind = REEF_STEP_MUL;
    a->params.input1_offset = -zero_point(b.x);
    a->params.input2_offset = -zero_point(b.y);
    a->params.output_offset = zero_point(b.out);
    reef_quantize_multiplier((double)b.x->scale[0] * (double)b.y->scale[0] / (double)b.out->scale[0],
                             &a->params.output_multiplier, &a->params.output_shift);
    a->bcast = b.bcast, a->input1_const = b.input1_const, a->input2_const = b.input2_const;
    return fused_clamp(op->opt.activation, b.out, &a->params.activation, err);
}

/* MAXIMUM, MINIMUM: TFLite compares the raw int8 values, meaningful only
 * when all three tensors share one quantization, which reef requires. */
static int lower_minmax(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    binary_operands b;
    if (binary_get(g, op, s, &b, err)) return -1;
    if (b.x->scale[0] != b.out->scale[0] || b.y->scale[0] != b.out->scale[0] ||
        zero_point(b.x) != zero_point(b.out) || zero_point(b.y) != zero_point(b.out))
        return reef_fail(err, "inputs and output quantization differ (TFLite compares raw values)");
    reef_minmax_step_args *a = STEP_ARGS(s, reef_minmax_step_args);
    s->kind = op->builtin == REEF_OP_MAXIMUM ? REEF_STEP_MAXIMUM : REEF_STEP_MINIMUM;
    a->bcast = b.bcast, a->input1_const = b.input1_const, a->input2_const = b.input2_const;
    return 0;
}

/* PRELU: input 0 the input (an activation), input 1 alpha (usually a
 * constant, broadcast over the input); prelu_common.cc's multipliers. */
static int lower_prelu(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    binary_operands b;
    if (binary_get(g, op, s, &b, err)) return -1;
    if (b.input1_const) return reef_fail(err, "input '%s' is constant (only alpha may be)", b.x->name);
    reef_prelu_step_args *a = STEP_ARGS(s, reef_prelu_step_args);
    s->kind = REEF_STEP_PRELU;
    a->params.input_offset = -zero_point(b.x);
    a->params.alpha_offset = -zero_point(b.y);
    a->params.output_offset = zero_point(b.out);
    reef_quantize_multiplier((double)b.x->scale[0] / (double)b.out->scale[0], &a->params.positive.multiplier,
                             &a->params.positive.shift);
    reef_quantize_multiplier((double)b.x->scale[0] * (double)b.y->scale[0] / (double)b.out->scale[0],
                             &a->params.negative.multiplier, &a->params.negative.shift);
    a->bcast = b.bcast, a->input1_const = b.input1_const, a->input2_const = b.input2_const;
    return 0;
}

int lower_binary(const reef_graph *g, const reef_op *op, reef_lowered_step *s, reef_error *err)
{
    switch (op->builtin) {
    case REEF_OP_ADD:
    case REEF_OP_SUB: return lower_addsub(g, op, s, err);
    case REEF_OP_MUL: return lower_mul(g, op, s, err);
    case REEF_OP_MAXIMUM:
    case REEF_OP_MINIMUM: return lower_minmax(g, op, s, err);
    case REEF_OP_PRELU: return lower_prelu(g, op, s, err);
    default: return reef_fail(err, "not a binary elementwise op");
    }
}
