/* Ops with several activation operands, as one COPY_ROWS step per operand
 * (reef/permute.h): CONCATENATION and PACK get one step per input, each
 * writing its part of the output; SPLIT, SPLIT_V and UNPACK one step per
 * output, each reading its part of the input.
 *
 * All five cut one "whole" tensor (the CONCATENATION / PACK output, the
 * SPLIT / SPLIT_V / UNPACK input) along one axis into "parts": with
 * outer = the product of the whole's dimensions before the axis and
 * inner = after it, part i is outer rows of extent_i * inner elements,
 * rows whole_axis * inner apart in the whole, starting at
 * (extent_0 + ... + extent_(i-1)) * inner. PACK and UNPACK parts lack
 * the axis (extent 1).
 *
 * TFLite Micro's kernels copy raw values; its CONCATENATION refuses
 * inputs quantized unlike the output. A part quantized unlike the whole
 * is requantized here as TFLite Micro's int8 -> int8 QUANTIZE does it, so
 * such a model means what its scales say. */
#include <stdlib.h>
#include <string.h>

#include "codegen/lower_internal.h"
#include "codegen/qparams.h"

static int32_t read_i32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* A non-constant int8 per-tensor tensor with no empty dimension (a scalar
 * allowed: the parts of PACK and UNPACK of a rank-1 tensor). */
static int int8_activation(const reef_graph *g, int32_t t, const reef_tensor **out, reef_error *err)
{
    if (t < 0 || t >= g->ntensors) return reef_fail(err, "tensor index %d is out of range", t);
    const reef_tensor *x = &g->tensors[t];
    if (x->data) return reef_fail(err, "tensor %d '%s' is constant where an activation is expected", t, x->name);
    if (x->type != REEF_INT8 || x->nquant < 1 || !(x->scale[0] > 0))
        return reef_fail(err, "tensor %d '%s' is not a quantized INT8 activation", t, x->name);
    if (x->zero_point[0] < -128 || x->zero_point[0] > 127)
        return reef_fail(err, "tensor %d '%s' has zero point %lld outside [-128, 127]", t, x->name,
                         (long long)x->zero_point[0]);
    for (int i = 0; i < x->rank; i++)
        if (x->shape[i] <= 0) return reef_fail(err, "tensor %d '%s' has an empty or unknown dimension", t, x->name);
    if (reef_tensor_elements(x) > INT32_MAX) return reef_fail(err, "tensor '%s' has more than 2^31 values", x->name);
    *out = x;
    return 0;
}

/* The one int32 value of a constant (SPLIT's and SPLIT_V's axis). */
static int scalar_i32(const reef_graph *g, int32_t t, int32_t *v, reef_error *err)
{
    const reef_tensor *x = t >= 0 && t < g->ntensors ? &g->tensors[t] : NULL;
    if (!x || !x->data || x->type != REEF_INT32 || x->data_size != 4)
        return reef_fail(err, "the axis must be one constant int32 value");
    *v = read_i32(x->data);
    return 0;
}

/* The copy (or requantization) from tensor `from` to tensor `to`. */
static void copy_quant(const reef_tensor *from, const reef_tensor *to, reef_copy_quant *q)
{
    memset(q, 0, sizeof *q);
    if (from->scale[0] == to->scale[0] && from->zero_point[0] == to->zero_point[0]) return;
    q->requantize = 1;
    q->input_offset = -(int32_t)from->zero_point[0];
    q->output_offset = (int32_t)to->zero_point[0];
    reef_quantize_multiplier((double)from->scale[0] / (double)to->scale[0], &q->multiplier, &q->shift);
}

/* The cut: the whole, its axis (already in range), and whether parts lack
 * it (PACK, UNPACK). */
typedef struct cut {
    const reef_tensor *whole;
    int axis;
    int parts_drop_axis;
    int32_t outer, inner;
} cut;

static void cut_init(cut *c, const reef_tensor *whole, int axis, int parts_drop_axis)
{
    c->whole = whole, c->axis = axis, c->parts_drop_axis = parts_drop_axis;
    c->outer = c->inner = 1;
    for (int i = 0; i < axis; i++) c->outer *= whole->shape[i];
    for (int i = axis + 1; i < whole->rank; i++) c->inner *= whole->shape[i];
}

/* Part p's extent along the axis, after checking its other dimensions
 * are the whole's. */
static int part_extent(const cut *c, const reef_tensor *p, int32_t *extent, reef_error *err)
{
    const reef_tensor *w = c->whole;
    if (p->rank != w->rank - c->parts_drop_axis)
        return reef_fail(err, "'%s' has rank %d, '%s' rank %d", p->name, p->rank, w->name, w->rank);
    for (int i = 0, j = 0; i < w->rank; i++) {
        if (i == c->axis && c->parts_drop_axis) continue;
        if (i != c->axis && p->shape[j] != w->shape[i])
            return reef_fail(err, "'%s' and '%s' differ in dimension %d (%d, %d)", p->name, w->name, i,
                             p->shape[j], w->shape[i]);
        j++;
    }
    *extent = c->parts_drop_axis ? 1 : p->shape[c->axis];
    return 0;
}

/* The step of part p at `begin` along the axis; into_whole: it writes the
 * whole (CONCATENATION, PACK) rather than reading it. */
static void part_step(const cut *c, const reef_op *op, int32_t part_tensor, const reef_tensor *p, int32_t extent,
                      int32_t begin, int into_whole, reef_lowered_step *s)
{
    int32_t whole_tensor = into_whole ? op->outputs[0] : op->inputs[op->builtin == REEF_OP_SPLIT ? 1 : 0];
    reef_copy_rows_step_args *a = &s->args.copy_rows;
    s->kind = REEF_STEP_COPY_ROWS;
    s->builtin = op->builtin;
    s->input_tensors[0] = into_whole ? part_tensor : whole_tensor;
    s->input_tensors[1] = -1;
    s->output_tensor = into_whole ? whole_tensor : part_tensor;
    s->writes_part = into_whole;
    a->rows = c->outer;
    a->row_size = extent * c->inner;
    const int32_t whole_stride = c->whole->shape[c->axis] * c->inner, whole_offset = begin * c->inner;
    a->input_stride = into_whole ? a->row_size : whole_stride;
    a->input_offset = into_whole ? 0 : whole_offset;
    a->output_stride = into_whole ? whole_stride : a->row_size;
    a->output_offset = into_whole ? whole_offset : 0;
    copy_quant(into_whole ? p : c->whole, into_whole ? c->whole : p, &a->quant);
}

static int normalized_axis(int32_t axis, int rank, reef_error *err)
{
    if (axis < -rank || axis >= rank) return reef_fail(err, "axis %d is out of range for rank %d", axis, rank);
    return 0;
}

/* The whole tensor, the parts' tensor indices and the axis of op. */
static int op_cut(const reef_graph *g, const reef_op *op, cut *c, const int32_t **parts, int *nparts, int *into_whole,
                  reef_error *err)
{
    const reef_tensor *whole;
    int32_t axis;
    *into_whole = op->builtin == REEF_OP_CONCATENATION || op->builtin == REEF_OP_PACK;
    int drop = op->builtin == REEF_OP_PACK || op->builtin == REEF_OP_UNPACK;
    if (*into_whole) {
        if (op->noutputs != 1 || op->ninputs < 1) return reef_fail(err, "needs inputs and one output");
        if (int8_activation(g, op->outputs[0], &whole, err)) return -1;
        *parts = op->inputs, *nparts = op->ninputs, axis = op->opt.axis;
        if (op->builtin == REEF_OP_CONCATENATION && op->opt.activation != REEF_ACT_NONE)
            return reef_fail(err, "a fused activation (TFLite Micro refuses it too)");
        if (op->builtin == REEF_OP_PACK && op->opt.count != op->ninputs)
            return reef_fail(err, "values_count %d, but %d inputs", op->opt.count, op->ninputs);
    } else {
        int data = op->builtin == REEF_OP_SPLIT ? 1 : 0;
        if (op->noutputs < 1 || op->ninputs != (op->builtin == REEF_OP_SPLIT_V ? 3 : op->builtin == REEF_OP_SPLIT ? 2 : 1))
            return reef_fail(err, "wrong number of inputs or outputs");
        if (int8_activation(g, op->inputs[data], &whole, err)) return -1;
        *parts = op->outputs, *nparts = op->noutputs, axis = op->opt.axis;
        if (op->builtin == REEF_OP_SPLIT && scalar_i32(g, op->inputs[0], &axis, err)) return -1;
        if (op->builtin == REEF_OP_SPLIT_V && scalar_i32(g, op->inputs[2], &axis, err)) return -1;
        if (op->opt.count != op->noutputs)
            return reef_fail(err, "%s %d, but %d outputs", op->builtin == REEF_OP_UNPACK ? "num" : "num_splits",
                             op->opt.count, op->noutputs);
    }
    if (whole->rank < 1) return reef_fail(err, "'%s' is a scalar", whole->name);
    if (normalized_axis(axis, whole->rank, err)) return -1;
    cut_init(c, whole, axis < 0 ? axis + whole->rank : axis, drop);
    return 0;
}

int lower_is_pieces(int32_t builtin)
{
    return builtin == REEF_OP_CONCATENATION || builtin == REEF_OP_PACK || builtin == REEF_OP_SPLIT ||
           builtin == REEF_OP_SPLIT_V || builtin == REEF_OP_UNPACK;
}

int lower_pieces(const reef_graph *g, int index, reef_lowered_step *steps, int *nsteps, reef_error *err)
{
    const reef_op *op = &g->ops[index];
    cut c = {0};
    const int32_t *parts = NULL;
    int nparts = 0, into_whole = 0;
    *nsteps = 0;
    if (op_cut(g, op, &c, &parts, &nparts, &into_whole, err)) return -1;
    int32_t begin = 0;
    for (int i = 0; i < nparts; i++) {
        const reef_tensor *p;
        int32_t extent = 0;
        if (int8_activation(g, parts[i], &p, err) || part_extent(&c, p, &extent, err)) return -1;
        if (begin + extent > c.whole->shape[c.axis]) break;
        reef_lowered_step *s = &steps[i];
        memset(s, 0, sizeof *s);
        s->op = index;
        part_step(&c, op, parts[i], p, extent, begin, into_whole, s);
        begin += extent;
    }
    if (begin != c.whole->shape[c.axis])
        return reef_fail(err, "the parts' extents along axis %d do not add up to %d ('%s')", c.axis,
                         c.whole->shape[c.axis], c.whole->name);
    if (op->builtin == REEF_OP_SPLIT)
        for (int i = 1; i < nparts; i++)
            if (steps[i].args.copy_rows.row_size != steps[0].args.copy_rows.row_size)
                return reef_fail(err, "SPLIT outputs of different sizes");
    *nsteps = nparts;
    return 0;
}
