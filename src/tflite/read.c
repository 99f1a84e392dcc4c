/* The .tflite reader: FlatBuffers (schema.fbs, version 3) -> reef_graph.
 * Written by hand (Debian has no C FlatBuffers library); every offset,
 * length and index is checked through fb_read.c before use. Field ids are
 * the order of the fields in schema.fbs's tables; a union takes two ids
 * (its type, then its value). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tflite/internal.h"
#include "util/io.h"

/* Field ids (schema.fbs). */
enum { MODEL_VERSION = 0, MODEL_OPERATOR_CODES = 1, MODEL_SUBGRAPHS = 2, MODEL_DESCRIPTION = 3,
       MODEL_BUFFERS = 4, MODEL_METADATA = 6 };
enum { METADATA_NAME = 0, METADATA_BUFFER = 1 };
enum { OPCODE_DEPRECATED_BUILTIN = 0, OPCODE_CUSTOM = 1, OPCODE_VERSION = 2, OPCODE_BUILTIN = 3 };
enum { SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS = 1, SUBGRAPH_OUTPUTS = 2, SUBGRAPH_OPERATORS = 3 };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3, TENSOR_QUANT = 4 };
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DIM = 6 };
enum { OPERATOR_OPCODE = 0, OPERATOR_INPUTS = 1, OPERATOR_OUTPUTS = 2, OPERATOR_OPTIONS_TYPE = 3,
       OPERATOR_OPTIONS = 4 };
enum { BUFFER_DATA = 0, BUFFER_OFFSET = 1, BUFFER_SIZE = 2 };

/* Largest tensor reef accepts (elements); far above any MCU model. */
#define MAX_ELEMENTS (INT64_C(1) << 31)

typedef struct opcode {
    int32_t builtin;
    int32_t version;
    const char *custom;
    size_t custom_len;
} opcode;

typedef struct reader {
    fbr r;
    reef_graph *g;
    fbr_vec buffers;     /* Model.buffers */
    opcode *codes;       /* (ncodes) */
    uint32_t ncodes;
} reader;

static int oom(const reader *rd, const char *what)
{
    return reef_fail(rd->r.err, "%s: out of memory reading %s", rd->r.name, what);
}

/* ---- operator codes ----------------------------------------------------- */

static int read_opcode(reader *rd, const fbr_table *t, opcode *c, const char *what)
{
    const fbr *r = &rd->r;
    int8_t deprecated;
    int32_t code;
    if (fbr_i8(r, t, OPCODE_DEPRECATED_BUILTIN, 0, &deprecated, what) ||
        fbr_i32(r, t, OPCODE_BUILTIN, 0, &code, what) || fbr_i32(r, t, OPCODE_VERSION, 1, &c->version, what) ||
        fbr_string(r, t, OPCODE_CUSTOM, &c->custom, &c->custom_len, what))
        return -1;
    /* Files from before schema 3a only set the byte field; newer ones set
     * both (the byte clamped to 127): the real code is the larger. */
    c->builtin = code > deprecated ? code : deprecated;
    if (c->builtin < 0) return reef_fail(r->err, "%s: %s: negative builtin code %d", r->name, what, c->builtin);
    return 0;
}

static int read_opcodes(reader *rd, const fbr_table *model)
{
    fbr_vec v;
    if (fbr_vector(&rd->r, model, MODEL_OPERATOR_CODES, 4, &v, "operator_codes")) return -1;
    rd->ncodes = v.count;
    rd->codes = tfl_malloc((size_t)v.count * sizeof *rd->codes);
    if (!rd->codes) return oom(rd, "operator_codes");
    for (uint32_t i = 0; i < v.count; i++) {
        char what[64];
        fbr_table t;
        snprintf(what, sizeof what, "operator code %u", i);
        if (fbr_vector_table(&rd->r, &v, i, &t, what) || read_opcode(rd, &t, &rd->codes[i], what)) return -1;
    }
    return 0;
}

/* ---- tensors ------------------------------------------------------------ */

static int read_shape(reader *rd, const fbr_table *t, reef_tensor *ten, const char *what)
{
    const fbr *r = &rd->r;
    fbr_vec v;
    if (fbr_vector(r, t, TENSOR_SHAPE, 4, &v, what)) return -1;
    if (v.count > REEF_MAX_RANK)
        return reef_fail(r->err, "%s: %s: rank %u, reef handles at most %d", r->name, what, v.count, REEF_MAX_RANK);
    ten->rank = (int)v.count;
    int64_t elements = 1;
    for (uint32_t i = 0; i < v.count; i++) {
        ten->shape[i] = fbr_vec_i32(r, &v, i);
        if (ten->shape[i] < 0)
            return reef_fail(r->err, "%s: %s: dimension %u is negative (%d)", r->name, what, i, ten->shape[i]);
        elements *= ten->shape[i];
        if (elements > MAX_ELEMENTS)
            return reef_fail(r->err, "%s: %s: more than 2^31 elements", r->name, what);
    }
    return 0;
}

static int read_quant(reader *rd, const fbr_table *t, reef_tensor *ten, const char *what)
{
    const fbr *r = &rd->r;
    fbr_table q;
    int present;
    if (fbr_subtable(r, t, TENSOR_QUANT, &q, &present, what)) return -1;
    if (!present) return 0;
    fbr_vec scale, zp;
    int32_t dim;
    if (fbr_vector(r, &q, QUANT_SCALE, 4, &scale, what) || fbr_vector(r, &q, QUANT_ZERO_POINT, 8, &zp, what) ||
        fbr_i32(r, &q, QUANT_DIM, 0, &dim, what))
        return -1;
    if (scale.count == 0) return 0; /* min/max only, or empty: not quantized */
    if (zp.count != 0 && zp.count != scale.count)
        return reef_fail(r->err, "%s: %s: %u scales but %u zero points", r->name, what, scale.count, zp.count);
    if (scale.count > 1 && (dim < 0 || dim >= ten->rank || (uint32_t)ten->shape[dim] != scale.count))
        return reef_fail(r->err, "%s: %s: %u per-channel scales do not match dimension %d of its shape", r->name,
                         what, scale.count, dim);
    ten->nquant = (int)scale.count;
    ten->quant_dim = dim;
    ten->scale = tfl_graph_alloc(rd->g, scale.count * sizeof *ten->scale);
    ten->zero_point = tfl_graph_alloc(rd->g, scale.count * sizeof *ten->zero_point);
    if (!ten->scale || !ten->zero_point) return oom(rd, what);
    for (uint32_t i = 0; i < scale.count; i++) {
        ten->scale[i] = fbr_vec_f32(r, &scale, i);
        ten->zero_point[i] = zp.count ? fbr_vec_i64(r, &zp, i) : 0;
    }
    return 0;
}

/* Finds the bytes of buffer `index`: its data vector, or (models over 2 GB)
 * an offset/size pair relative to the start of the file. */
static int buffer_bytes(reader *rd, uint32_t index, size_t *pos, size_t *size, const char *what)
{
    const fbr *r = &rd->r;
    if (index >= rd->buffers.count)
        return reef_fail(r->err, "%s: %s: buffer index %u is out of range (model has %u buffers)", r->name, what,
                         index, rd->buffers.count);
    fbr_table b;
    fbr_vec data;
    uint64_t offset, length;
    if (fbr_vector_table(r, &rd->buffers, index, &b, what) || fbr_vector(r, &b, BUFFER_DATA, 1, &data, what) ||
        fbr_u64(r, &b, BUFFER_OFFSET, 0, &offset, what) || fbr_u64(r, &b, BUFFER_SIZE, 0, &length, what))
        return -1;
    *pos = data.data;
    *size = data.count;
    if (data.count == 0 && offset > 1) {
        if (offset > r->n || length > r->n - offset)
            return reef_fail(r->err, "%s: %s: buffer %u (offset %llu, %llu bytes) lies beyond the end of the file",
                             r->name, what, index, (unsigned long long)offset, (unsigned long long)length);
        *pos = (size_t)offset;
        *size = (size_t)length;
    }
    return 0;
}

static int read_data(reader *rd, const fbr_table *t, reef_tensor *ten, const char *what)
{
    const fbr *r = &rd->r;
    uint32_t index;
    size_t pos = 0, size = 0;
    if (fbr_u32(r, t, TENSOR_BUFFER, 0, &index, what)) return -1;
    if (index == 0) return 0; /* buffer 0: the empty sentinel */
    if (buffer_bytes(rd, index, &pos, &size, what)) return -1;
    if (size == 0) return 0;  /* an activation with a buffer of its own */
    int elem = tfl_dtype_size(ten->type);
    if (elem && (uint64_t)size != (uint64_t)reef_tensor_elements(ten) * (uint64_t)elem)
        return reef_fail(r->err, "%s: %s: buffer %u holds %zu bytes, its shape and type need %lld", r->name, what,
                         index, size, (long long)(reef_tensor_elements(ten) * elem));
    ten->data = r->p + pos;
    ten->data_size = size;
    if ((uintptr_t)ten->data % 16) { /* the converter aligns; others may not */
        uint8_t *copy = tfl_graph_alloc(rd->g, size);
        if (!copy) return oom(rd, what);
        memcpy(copy, ten->data, size);
        ten->data = copy;
    }
    return 0;
}

static int read_tensor(reader *rd, const fbr_vec *tensors, uint32_t i)
{
    const fbr *r = &rd->r;
    reef_tensor *ten = &rd->g->tensors[i];
    char what[64];
    snprintf(what, sizeof what, "tensor %u", i);
    fbr_table t;
    int8_t type;
    const char *name;
    size_t len;
    if (fbr_vector_table(r, tensors, i, &t, what) || fbr_i8(r, &t, TENSOR_TYPE, 0, &type, what) ||
        fbr_string(r, &t, TENSOR_NAME, &name, &len, what) || read_shape(rd, &t, ten, what))
        return -1;
    ten->type = (reef_dtype)type;
    ten->name = tfl_graph_strndup(rd->g, name ? name : "", len);
    if (!ten->name) return oom(rd, what);
    return read_quant(rd, &t, ten, what) || read_data(rd, &t, ten, what) ? -1 : 0;
}

/* ---- operators ---------------------------------------------------------- */

/* A list of tensor indices (op or subgraph inputs/outputs). */
static int read_index_list(reader *rd, const fbr_table *t, int id, int allow_absent, int32_t *out, int *n,
                           const char *what, const char *list)
{
    const fbr *r = &rd->r;
    fbr_vec v;
    if (fbr_vector(r, t, id, 4, &v, what)) return -1;
    if (v.count > REEF_MAX_OP_IO)
        return reef_fail(r->err, "%s: %s has %u %s, reef handles at most %d", r->name, what, v.count, list,
                         REEF_MAX_OP_IO);
    for (uint32_t i = 0; i < v.count; i++) {
        out[i] = fbr_vec_i32(r, &v, i);
        if (allow_absent && out[i] == -1) continue;
        if (out[i] < 0 || out[i] >= rd->g->ntensors)
            return reef_fail(r->err, "%s: %s: %s index %d is out of range (subgraph has %d tensors)", r->name, what,
                             list, out[i], rd->g->ntensors);
    }
    *n = (int)v.count;
    return 0;
}

static int check_geometry(const reader *rd, const reef_op *op, const char *what)
{
    const reef_op_options *o = &op->opt;
    const char *name = rd->r.name;
    if (o->padding != REEF_PAD_SAME && o->padding != REEF_PAD_VALID)
        return reef_fail(rd->r.err, "%s: %s: unknown padding %d", name, what, o->padding);
    if (o->stride_w < 1 || o->stride_h < 1)
        return reef_fail(rd->r.err, "%s: %s: stride %dx%d is invalid (must be >= 1)", name, what, o->stride_w,
                         o->stride_h);
    if (o->dilation_w < 1 || o->dilation_h < 1)
        return reef_fail(rd->r.err, "%s: %s: dilation %dx%d is invalid (must be >= 1)", name, what,
                         o->dilation_w, o->dilation_h);
    if (o->filter_w < 1 || o->filter_h < 1)
        return reef_fail(rd->r.err, "%s: %s: filter %dx%d is invalid (must be >= 1)", name, what, o->filter_w,
                         o->filter_h);
    return 0;
}

/* Reads a small int vector option (RESHAPE new_shape, SQUEEZE dims). */
static int read_dims_option(const reader *rd, const fbr_table *t, reef_op_options *o, const char *what)
{
    fbr_vec v;
    if (fbr_vector(&rd->r, t, 0, 4, &v, what)) return -1;
    if (v.count > REEF_MAX_RANK)
        return reef_fail(rd->r.err, "%s: %s: %u dims in its options, reef handles at most %d", rd->r.name, what,
                         v.count, REEF_MAX_RANK);
    o->nnew_shape = (int)v.count;
    for (uint32_t i = 0; i < v.count; i++) o->new_shape[i] = fbr_vec_i32(&rd->r, &v, i);
    return 0;
}

static int read_act(const reader *rd, const fbr_table *t, int id, reef_op_options *o, const char *what)
{
    uint8_t act;
    if (fbr_u8(&rd->r, t, id, 0, &act, what)) return -1;
    if (act > 5) return reef_fail(rd->r.err, "%s: %s: unknown fused activation %u", rd->r.name, what, act);
    o->activation = (reef_fused_act)act;
    return 0;
}

static int read_padding(const reader *rd, const fbr_table *t, int id, reef_op_options *o, const char *what)
{
    uint8_t pad;
    if (fbr_u8(&rd->r, t, id, 0, &pad, what)) return -1;
    o->padding = (reef_padding)pad;
    return 0;
}

static int read_i32(const reader *rd, const fbr_table *t, int id, int32_t def, int *v, const char *what)
{
    int32_t x;
    if (fbr_i32(&rd->r, t, id, def, &x, what)) return -1;
    *v = x;
    return 0;
}

/* Decodes the options table t of op (its type already checked). */
static int read_options(const reader *rd, const fbr_table *t, reef_op *op, const char *what)
{
    reef_op_options *o = &op->opt;
    const fbr *r = &rd->r;
    uint8_t flag;
    switch (op->builtin) {
    case REEF_OP_CONV_2D: /* padding, stride_w, stride_h, act, dilation_w, dilation_h, quantized_bias_type */
        if (read_padding(rd, t, 0, o, what) || read_i32(rd, t, 1, 0, &o->stride_w, what) ||
            read_i32(rd, t, 2, 0, &o->stride_h, what) || read_act(rd, t, 3, o, what) ||
            read_i32(rd, t, 4, 1, &o->dilation_w, what) || read_i32(rd, t, 5, 1, &o->dilation_h, what) ||
            fbr_u8(r, t, 6, 0, &flag, what))
            return -1;
        o->quantized_bias_type = flag;
        return 0;
    case REEF_OP_DEPTHWISE_CONV_2D: /* padding, stride_w, stride_h, depth_mult, act, dilation_w, dilation_h */
        return read_padding(rd, t, 0, o, what) || read_i32(rd, t, 1, 0, &o->stride_w, what) ||
               read_i32(rd, t, 2, 0, &o->stride_h, what) || read_i32(rd, t, 3, 0, &o->depth_multiplier, what) ||
               read_act(rd, t, 4, o, what) || read_i32(rd, t, 5, 1, &o->dilation_w, what) ||
               read_i32(rd, t, 6, 1, &o->dilation_h, what);
    case REEF_OP_TRANSPOSE_CONV: /* padding, stride_w, stride_h, act (quantized_bias_type: int32 only) */
        return read_padding(rd, t, 0, o, what) || read_i32(rd, t, 1, 0, &o->stride_w, what) ||
               read_i32(rd, t, 2, 0, &o->stride_h, what) || read_act(rd, t, 3, o, what);
    case REEF_OP_AVERAGE_POOL_2D:
    case REEF_OP_MAX_POOL_2D: /* padding, stride_w, stride_h, filter_w, filter_h, act */
        return read_padding(rd, t, 0, o, what) || read_i32(rd, t, 1, 0, &o->stride_w, what) ||
               read_i32(rd, t, 2, 0, &o->stride_h, what) || read_i32(rd, t, 3, 0, &o->filter_w, what) ||
               read_i32(rd, t, 4, 0, &o->filter_h, what) || read_act(rd, t, 5, o, what);
    case REEF_OP_FULLY_CONNECTED: /* act, weights_format, keep_num_dims, asymmetric_quantize_inputs,
                                     quantized_bias_type */
        if (read_act(rd, t, 0, o, what) || fbr_u8(r, t, 2, 0, &flag, what)) return -1;
        o->keep_num_dims = flag;
        if (fbr_u8(r, t, 4, 0, &flag, what)) return -1;
        o->quantized_bias_type = flag;
        return 0;
    case REEF_OP_SOFTMAX:
        return fbr_f32(r, t, 0, 0.0f, &o->beta, what);
    case REEF_OP_CONCATENATION: /* axis, act */
        return read_i32(rd, t, 0, 0, &o->axis, what) || read_act(rd, t, 1, o, what);
    case REEF_OP_ADD:
    case REEF_OP_SUB:
    case REEF_OP_MUL:
        return read_act(rd, t, 0, o, what);
    case REEF_OP_RESHAPE:
    case REEF_OP_SQUEEZE:
        return read_dims_option(rd, t, o, what);
    case REEF_OP_LEAKY_RELU:
        return fbr_f32(r, t, 0, 0.0f, &o->alpha, what);
    case REEF_OP_SPLIT: /* num_splits */
    case REEF_OP_SPLIT_V:
        return read_i32(rd, t, 0, 0, &o->count, what);
    case REEF_OP_PACK:   /* values_count, axis */
    case REEF_OP_UNPACK: /* num, axis */
        return read_i32(rd, t, 0, 0, &o->count, what) || read_i32(rd, t, 1, 0, &o->axis, what);
    case REEF_OP_RESIZE_NEAREST_NEIGHBOR: /* align_corners, half_pixel_centers */
        if (fbr_u8(r, t, 0, 0, &flag, what)) return -1;
        o->align_corners = flag;
        if (fbr_u8(r, t, 1, 0, &flag, what)) return -1;
        o->half_pixel_centers = flag;
        return 0;
    case REEF_OP_RESIZE_BILINEAR: /* new_height, new_width (deprecated), align_corners, half_pixel_centers */
        if (fbr_u8(r, t, 2, 0, &flag, what)) return -1;
        o->align_corners = flag;
        if (fbr_u8(r, t, 3, 0, &flag, what)) return -1;
        o->half_pixel_centers = flag;
        return 0;
    case REEF_OP_STRIDED_SLICE: /* begin, end, ellipsis, new_axis, shrink_axis masks, offset */
        if (read_i32(rd, t, 0, 0, &o->begin_mask, what) || read_i32(rd, t, 1, 0, &o->end_mask, what) ||
            read_i32(rd, t, 2, 0, &o->ellipsis_mask, what) || read_i32(rd, t, 3, 0, &o->new_axis_mask, what) ||
            read_i32(rd, t, 4, 0, &o->shrink_axis_mask, what) || fbr_u8(r, t, 5, 0, &flag, what))
            return -1;
        o->offset = flag;
        return 0;
    case REEF_OP_MEAN:
    case REEF_OP_REDUCE_MAX:
        if (fbr_u8(r, t, 0, 0, &flag, what)) return -1;
        o->keep_dims = flag;
        return 0;
    default: /* PAD, QUANTIZE, DEQUANTIZE: empty tables */
        return 0;
    }
}

static int read_op_options(const reader *rd, const fbr_table *op_table, reef_op *op, const char *what)
{
    const fbr *r = &rd->r;
    uint8_t type;
    size_t pos;
    if (fbr_u8(r, op_table, OPERATOR_OPTIONS_TYPE, 0, &type, what) ||
        fbr_ref(r, op_table, OPERATOR_OPTIONS, &pos, what))
        return -1;
    int want = tfl_options_type(op->builtin);
    /* Ops reef does not decode keep no options; an absent table means the
     * schema's defaults (set by schema_defaults). */
    if (want == TFL_OPT_NONE || type == TFL_OPT_NONE || !pos) return 0;
    if (type != want)
        return reef_fail(r->err, "%s: %s: builtin_options is union type %u, expected %d for %s", r->name, what,
                         type, want, reef_builtin_name(op->builtin));
    fbr_table t;
    return fbr_table_at(r, pos, &t, what) || read_options(rd, &t, op, what) ? -1 : 0;
}

/* Ops whose options carry geometry that later stages divide by. */
static int has_geometry(int32_t builtin)
{
    return builtin == REEF_OP_CONV_2D || builtin == REEF_OP_DEPTHWISE_CONV_2D ||
           builtin == REEF_OP_AVERAGE_POOL_2D || builtin == REEF_OP_MAX_POOL_2D;
}

/* Before reading a table, options take the schema's defaults for this op
 * (what an absent table means) over reef's neutral ones. */
static void schema_defaults(reef_op *op)
{
    reef_op_options_init(&op->opt);
    switch (op->builtin) {
    case REEF_OP_CONV_2D:
    case REEF_OP_DEPTHWISE_CONV_2D:
    case REEF_OP_TRANSPOSE_CONV:
        op->opt.stride_w = op->opt.stride_h = 0;
        if (op->builtin == REEF_OP_DEPTHWISE_CONV_2D) op->opt.depth_multiplier = 0;
        break;
    case REEF_OP_AVERAGE_POOL_2D:
    case REEF_OP_MAX_POOL_2D:
        op->opt.stride_w = op->opt.stride_h = 0;
        op->opt.filter_w = op->opt.filter_h = 0;
        break;
    case REEF_OP_SOFTMAX:
        op->opt.beta = 0.0f;
        break;
    default:
        break;
    }
}

static int read_operator(reader *rd, const fbr_vec *ops, uint32_t i)
{
    const fbr *r = &rd->r;
    reef_op *op = &rd->g->ops[i];
    char what[80];
    snprintf(what, sizeof what, "operator %u", i);
    fbr_table t;
    uint32_t code;
    if (fbr_vector_table(r, ops, i, &t, what) || fbr_u32(r, &t, OPERATOR_OPCODE, 0, &code, what)) return -1;
    if (code >= rd->ncodes)
        return reef_fail(r->err, "%s: %s: opcode index %u is out of range (model has %u operator codes)", r->name,
                         what, code, rd->ncodes);
    const opcode *c = &rd->codes[code];
    op->builtin = c->builtin;
    op->version = c->version;
    if (c->custom) {
        op->custom_code = tfl_graph_strndup(rd->g, c->custom, c->custom_len);
        if (!op->custom_code) return oom(rd, what);
    }
    snprintf(what, sizeof what, "operator %u (%s)", i, reef_builtin_name(op->builtin));
    schema_defaults(op);
    if (read_index_list(rd, &t, OPERATOR_INPUTS, 1, op->inputs, &op->ninputs, what, "inputs") ||
        read_index_list(rd, &t, OPERATOR_OUTPUTS, 0, op->outputs, &op->noutputs, what, "outputs") ||
        read_op_options(rd, &t, op, what))
        return -1;
    return has_geometry(op->builtin) ? check_geometry(rd, op, what) : 0;
}

/* ---- model -------------------------------------------------------------- */

/* A RESHAPE without a shape tensor whose new_shape is just its output's
 * shape reads as one with no new_shape: the writer states the output's shape
 * for such ops (TensorFlow Lite needs it), so a graph and its file read back
 * are the same graph. */
static void drop_implied_new_shape(const reef_graph *g, reef_op *op)
{
    if (op->builtin != REEF_OP_RESHAPE || op->opt.nnew_shape == 0 || (op->ninputs >= 2 && op->inputs[1] >= 0) ||
        op->noutputs < 1 || op->outputs[0] < 0 || op->outputs[0] >= g->ntensors)
        return;
    const reef_tensor *out = &g->tensors[op->outputs[0]];
    if (out->rank != op->opt.nnew_shape) return;
    for (int d = 0; d < out->rank; d++)
        if (out->shape[d] != op->opt.new_shape[d]) return;
    op->opt.nnew_shape = 0;
    memset(op->opt.new_shape, 0, sizeof op->opt.new_shape);
}

static int read_subgraph(reader *rd, const fbr_table *sg)
{
    const fbr *r = &rd->r;
    reef_graph *g = rd->g;
    fbr_vec tensors, ops;
    if (fbr_vector(r, sg, SUBGRAPH_TENSORS, 4, &tensors, "subgraph 0 tensors") ||
        fbr_vector(r, sg, SUBGRAPH_OPERATORS, 4, &ops, "subgraph 0 operators"))
        return -1;
    g->tensors = tfl_malloc((size_t)tensors.count * sizeof *g->tensors);
    g->ops = tfl_malloc((size_t)ops.count * sizeof *g->ops);
    if (!g->tensors || !g->ops) return oom(rd, "subgraph 0");
    memset(g->tensors, 0, (size_t)tensors.count * sizeof *g->tensors);
    memset(g->ops, 0, (size_t)ops.count * sizeof *g->ops);
    g->ntensors = (int)tensors.count;
    g->nops = (int)ops.count;
    for (uint32_t i = 0; i < tensors.count; i++)
        if (read_tensor(rd, &tensors, i)) return -1;
    if (read_index_list(rd, sg, SUBGRAPH_INPUTS, 0, g->inputs, &g->ninputs, "subgraph 0", "inputs") ||
        read_index_list(rd, sg, SUBGRAPH_OUTPUTS, 0, g->outputs, &g->noutputs, "subgraph 0", "outputs"))
        return -1;
    for (uint32_t i = 0; i < ops.count; i++)
        if (read_operator(rd, &ops, i)) return -1;
    for (int i = 0; i < g->nops; i++) drop_implied_new_shape(g, &g->ops[i]);
    return 0;
}

static int read_header(const fbr *r, size_t *root)
{
    if (r->n < 8)
        return reef_fail(r->err, "%s: not a TFLite model: only %zu bytes", r->name, r->n);
    if (memcmp(r->p + 4, "TFL3", 4)) {
        char id[5];
        for (int i = 0; i < 4; i++) id[i] = r->p[4 + i] >= 32 && r->p[4 + i] < 127 ? (char)r->p[4 + i] : '?';
        id[4] = '\0';
        return reef_fail(r->err, "%s: not a TFLite model: file identifier is '%s', expected 'TFL3'", r->name, id);
    }
    uint32_t off = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    if (off < 8 || (size_t)off > r->n - 4)
        return reef_fail(r->err, "%s: bad root table offset %u (file has %zu bytes)", r->name, off, r->n);
    *root = off;
    return 0;
}

/* Model.metadata: reef reads its own entry, "reef_class_names", and
 * ignores the others (TFLite's own, e.g. min_runtime_version). */
static int read_metadata(reader *rd, const fbr_table *model)
{
    const fbr *r = &rd->r;
    fbr_vec v;
    if (fbr_vector(r, model, MODEL_METADATA, 4, &v, "metadata")) return -1;
    for (uint32_t i = 0; i < v.count; i++) {
        char what[64];
        snprintf(what, sizeof what, "metadata %u", i);
        fbr_table t;
        const char *name;
        size_t name_len, pos, size;
        uint32_t buffer;
        if (fbr_vector_table(r, &v, i, &t, what) || fbr_string(r, &t, METADATA_NAME, &name, &name_len, what) ||
            fbr_u32(r, &t, METADATA_BUFFER, 0, &buffer, what))
            return -1;
        if (!name || name_len != strlen(REEF_TFLITE_CLASS_NAMES) || memcmp(name, REEF_TFLITE_CLASS_NAMES, name_len))
            continue;
        if (buffer_bytes(rd, buffer, &pos, &size, what)) return -1;
        char where[4200];
        snprintf(where, sizeof where, "%s: metadata '%s'", r->name, REEF_TFLITE_CLASS_NAMES);
        reef_class_names c;
        if (reef_class_names_parse(&c, r->p + pos, size, where, r->err)) return -1;
        int rc = reef_graph_set_class_names(rd->g, &c, r->err);
        reef_class_names_free(&c);
        if (rc) return oom(rd, "class names");
    }
    return 0;
}

static int read_model(reader *rd)
{
    const fbr *r = &rd->r;
    reef_graph *g = rd->g;
    size_t root = 0;
    fbr_table model, sg;
    uint32_t version;
    fbr_vec subgraphs;
    const char *desc;
    size_t desc_len;
    if (read_header(r, &root) || fbr_table_at(r, root, &model, "model") ||
        fbr_u32(r, &model, MODEL_VERSION, 0, &version, "model"))
        return -1;
    if (version != 3)
        return reef_fail(r->err, "%s: schema version %u, reef reads version 3", r->name, version);
    if (fbr_vector(r, &model, MODEL_SUBGRAPHS, 4, &subgraphs, "subgraphs") ||
        fbr_vector(r, &model, MODEL_BUFFERS, 4, &rd->buffers, "buffers") ||
        fbr_string(r, &model, MODEL_DESCRIPTION, &desc, &desc_len, "description") || read_opcodes(rd, &model) ||
        read_metadata(rd, &model))
        return -1;
    if (subgraphs.count == 0) return reef_fail(r->err, "%s: the model has no subgraph", r->name);
    g->nsubgraphs = (int)subgraphs.count;
    if (desc && !(g->description = tfl_graph_strndup(g, desc, desc_len))) return oom(rd, "description");
    return fbr_vector_table(r, &subgraphs, 0, &sg, "subgraph 0") || read_subgraph(rd, &sg) ? -1 : 0;
}

/* The model's name: the file's base name without its extension. */
static int set_name(reef_graph *g, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    g->name = tfl_graph_strndup(g, base, len);
    return g->name ? 0 : -1;
}

int reef_tflite_read_buffer(const uint8_t *data, size_t size, const char *name, reef_graph *g, reef_error *err)
{
    memset(g, 0, sizeof *g);
    reader rd = {.r = {.n = size, .name = name, .err = err}, .g = g};
    uint8_t *copy = tfl_graph_alloc(g, size);
    if (!copy || set_name(g, name)) {
        reef_graph_free(g);
        return reef_fail(err, "%s: out of memory (%zu bytes)", name, size);
    }
    if (size) memcpy(copy, data, size);
    rd.r.p = copy;
    int rc = read_model(&rd);
    free(rd.codes);
    if (rc) reef_graph_free(g);
    return rc;
}

int reef_tflite_read(const char *path, reef_graph *g, reef_error *err)
{
    reef_mapping map;
    memset(g, 0, sizeof *g);
    if (reef_map_file(path, &map, err)) return -1;
    int rc = reef_tflite_read_buffer(map.data, map.size, path, g, err);
    reef_unmap_file(&map);
    return rc;
}
