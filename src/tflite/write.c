/* The .tflite writer: reef_graph -> FlatBuffers (schema.fbs, version 3),
 * with a hand-written builder (Debian has no C FlatBuffers library).
 *
 * Layout: FlatBuffers only needs every uoffset to point forward, so the
 * file is written top-down in one pass: a table is written with zeroed
 * offset slots, then its children after it, and each slot is patched with
 * (child - slot). Each vtable sits just before its table. Constant buffers
 * come last, their data 16-byte aligned in the file (as the converter
 * does), so an MCU can use them in place. Fields of the op options tables
 * are all written, defaults included, so a read-back graph is identical. */
#include <stdlib.h>
#include <string.h>

#include "tflite/internal.h"
#include "util/io.h"

/* ---- byte buffer -------------------------------------------------------- */

typedef struct fbb {
    uint8_t *buf;
    size_t len, cap;
    int failed; /* out of memory: every later write is a no-op */
} fbb;

static void fbb_reserve(fbb *b, size_t more)
{
    if (b->failed || b->len + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    uint8_t *p = tfl_realloc(b->buf, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->buf = p;
    b->cap = cap;
}

static size_t fbb_put(fbb *b, const void *data, size_t n)
{
    fbb_reserve(b, n);
    size_t at = b->len;
    if (b->failed) return at;
    if (data)
        memcpy(b->buf + at, data, n);
    else
        memset(b->buf + at, 0, n);
    b->len += n;
    return at;
}

static void fbb_put_le(fbb *b, uint64_t v, int size)
{
    uint8_t bytes[8];
    for (int i = 0; i < size; i++) bytes[i] = (uint8_t)(v >> (8 * i));
    fbb_put(b, bytes, (size_t)size);
}

/* Zero padding until (len + extra) is a multiple of align. */
static void fbb_pad(fbb *b, size_t align, size_t extra)
{
    size_t rem = (b->len + extra) % align;
    if (rem) fbb_put(b, NULL, align - rem);
}

static void fbb_set_u32(fbb *b, size_t at, uint32_t v)
{
    if (b->failed) return;
    for (int i = 0; i < 4; i++) b->buf[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* Points the uoffset at `slot` to `target` (which lies after it). */
static void fbb_link(fbb *b, size_t slot, size_t target)
{
    fbb_set_u32(b, slot, (uint32_t)(target - slot));
}

/* ---- tables ------------------------------------------------------------- */

#define FBT_MAX_FIELDS 12

typedef struct fbt {
    int n;
    int id[FBT_MAX_FIELDS];
    int size[FBT_MAX_FIELDS];     /* 1 or 4 bytes */
    uint32_t value[FBT_MAX_FIELDS];
    size_t at[FBT_MAX_FIELDS];    /* position in the file, after fbt_write */
} fbt;

static void fbt_add(fbt *t, int id, int size, uint32_t value)
{
    t->id[t->n] = id;
    t->size[t->n] = size;
    t->value[t->n] = value;
    t->n++;
}

static void fbt_u8(fbt *t, int id, int v) { fbt_add(t, id, 1, (uint32_t)(v & 0xff)); }
static void fbt_i32(fbt *t, int id, int32_t v) { fbt_add(t, id, 4, (uint32_t)v); }
static void fbt_f32(fbt *t, int id, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    fbt_add(t, id, 4, bits);
}
/* An offset field, patched by fbt_link once its target is written. */
static void fbt_ref(fbt *t, int id) { fbt_add(t, id, 4, 0); }

/* Writes vtable then table: 4-byte fields first, then bytes, so every
 * field is aligned. Returns the table's position. */
static size_t fbt_write(fbb *b, fbt *t)
{
    int nslots = 0;
    uint16_t table_size = 4;
    for (int i = 0; i < t->n; i++) {
        if (t->id[i] + 1 > nslots) nslots = t->id[i] + 1;
        table_size = (uint16_t)(table_size + t->size[i]);
    }
    uint16_t vt_size = (uint16_t)(4 + 2 * nslots);
    uint16_t slot_off[FBT_MAX_FIELDS * 2] = {0};
    uint16_t off = 4;
    for (int pass = 4; pass >= 1; pass -= 3)
        for (int i = 0; i < t->n; i++)
            if (t->size[i] == pass) {
                slot_off[t->id[i]] = off;
                off = (uint16_t)(off + pass);
            }
    fbb_pad(b, 4, vt_size);
    size_t vt = b->len;
    fbb_put_le(b, vt_size, 2);
    fbb_put_le(b, table_size, 2);
    for (int s = 0; s < nslots; s++) fbb_put_le(b, slot_off[s], 2);
    size_t table = b->len;
    fbb_put_le(b, (uint32_t)(table - vt), 4); /* soffset: vtable = table - this */
    for (int pass = 4; pass >= 1; pass -= 3)
        for (int i = 0; i < t->n; i++)
            if (t->size[i] == pass) {
                t->at[i] = b->len;
                fbb_put_le(b, t->value[i], pass);
            }
    return table;
}

static void fbt_link(fbb *b, const fbt *t, int id, size_t target)
{
    for (int i = 0; i < t->n; i++)
        if (t->id[i] == id) fbb_link(b, t->at[i], target);
}

/* ---- vectors and strings ------------------------------------------------ */

static size_t vec_i32(fbb *b, const int32_t *v, int n)
{
    fbb_pad(b, 4, 0);
    size_t at = b->len;
    fbb_put_le(b, (uint32_t)n, 4);
    for (int i = 0; i < n; i++) fbb_put_le(b, (uint32_t)v[i], 4);
    return at;
}

static size_t vec_f32(fbb *b, const float *v, int n)
{
    fbb_pad(b, 4, 0);
    size_t at = b->len;
    fbb_put_le(b, (uint32_t)n, 4);
    for (int i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        fbb_put_le(b, bits, 4);
    }
    return at;
}

static size_t vec_i64(fbb *b, const int64_t *v, int n)
{
    fbb_pad(b, 8, 4); /* elements 8-aligned */
    size_t at = b->len;
    fbb_put_le(b, (uint32_t)n, 4);
    for (int i = 0; i < n; i++) fbb_put_le(b, (uint64_t)v[i], 8);
    return at;
}

static size_t vec_bytes(fbb *b, const uint8_t *data, size_t n, size_t align)
{
    fbb_pad(b, align, 4);
    size_t at = b->len;
    fbb_put_le(b, (uint32_t)n, 4);
    fbb_put(b, data, n);
    return at;
}

static size_t string(fbb *b, const char *s)
{
    fbb_pad(b, 4, 0);
    size_t at = b->len, n = strlen(s);
    fbb_put_le(b, (uint32_t)n, 4);
    fbb_put(b, s, n);
    fbb_put(b, NULL, 1); /* FlatBuffers strings end with a NUL */
    return at;
}

/* A vector of n table offsets, all zero; slot i is at return + 4 + 4i. */
static size_t vec_refs(fbb *b, int n)
{
    fbb_pad(b, 4, 0);
    size_t at = b->len;
    fbb_put_le(b, (uint32_t)n, 4);
    fbb_put(b, NULL, 4 * (size_t)n);
    return at;
}

static void link_elem(fbb *b, size_t vec, int i, size_t target)
{
    fbb_link(b, vec + 4 + 4 * (size_t)i, target);
}

/* ---- the model ---------------------------------------------------------- */

typedef struct writer {
    fbb b;
    const reef_graph *g;
    int32_t *op_code;   /* (nops) index into the distinct codes */
    int ncodes;
    int *code_op;       /* (ncodes) first op with that code */
    uint32_t *buffer;   /* (ntensors) buffer index of each tensor */
    uint32_t names_buffer; /* buffer of metadata "reef_class_names", 0 = none */
    int nbuffers;
} writer;

/* Same operator code: builtin, version and custom name. */
static int same_code(const reef_op *a, const reef_op *b)
{
    if (a->builtin != b->builtin || a->version != b->version) return 0;
    if (!a->custom_code || !b->custom_code) return a->custom_code == b->custom_code;
    return !strcmp(a->custom_code, b->custom_code);
}

static void assign_codes_and_buffers(writer *w)
{
    const reef_graph *g = w->g;
    for (int i = 0; i < g->nops; i++) {
        int k = 0;
        while (k < w->ncodes && !same_code(&g->ops[w->code_op[k]], &g->ops[i])) k++;
        if (k == w->ncodes) w->code_op[w->ncodes++] = i;
        w->op_code[i] = k;
    }
    w->nbuffers = 1; /* buffer 0: the empty sentinel every activation uses */
    for (int i = 0; i < g->ntensors; i++)
        w->buffer[i] = g->tensors[i].data && g->tensors[i].data_size ? (uint32_t)w->nbuffers++ : 0;
    w->names_buffer = g->classes.count ? (uint32_t)w->nbuffers++ : 0; /* the last, after the constants */
}

static void write_opcode(writer *w, const reef_op *op, size_t vec, int i)
{
    fbt t = {0};
    /* The byte field holds codes up to 127 (PLACEHOLDER_FOR_GREATER_OP_CODES);
     * readers take the larger of it and builtin_code. */
    fbt_u8(&t, 0, op->builtin < 127 ? op->builtin : 127);
    if (op->custom_code) fbt_ref(&t, 1);
    fbt_i32(&t, 2, op->version);
    fbt_i32(&t, 3, op->builtin);
    size_t table = fbt_write(&w->b, &t);
    link_elem(&w->b, vec, i, table);
    if (op->custom_code) fbt_link(&w->b, &t, 1, string(&w->b, op->custom_code));
}

static void write_quant(writer *w, const reef_tensor *ten, const fbt *tensor_table)
{
    fbt t = {0};
    fbt_ref(&t, 2);
    fbt_ref(&t, 3);
    fbt_i32(&t, 6, ten->quant_dim);
    size_t table = fbt_write(&w->b, &t);
    fbt_link(&w->b, tensor_table, 4, table);
    fbt_link(&w->b, &t, 2, vec_f32(&w->b, ten->scale, ten->nquant));
    fbt_link(&w->b, &t, 3, vec_i64(&w->b, ten->zero_point, ten->nquant));
}

static void write_tensor(writer *w, int i, size_t vec)
{
    const reef_tensor *ten = &w->g->tensors[i];
    fbt t = {0};
    fbt_ref(&t, 0);
    fbt_u8(&t, 1, (int)ten->type);
    fbt_i32(&t, 2, (int32_t)w->buffer[i]);
    fbt_ref(&t, 3);
    if (ten->nquant > 0) fbt_ref(&t, 4);
    size_t table = fbt_write(&w->b, &t);
    link_elem(&w->b, vec, i, table);
    fbt_link(&w->b, &t, 0, vec_i32(&w->b, ten->shape, ten->rank));
    fbt_link(&w->b, &t, 3, string(&w->b, ten->name ? ten->name : ""));
    if (ten->nquant > 0) write_quant(w, ten, &t);
}

/* The new_shape option a RESHAPE or SQUEEZE is written with (n values), or
 * NULL for none. A RESHAPE with neither a shape tensor nor new_shape takes
 * its output tensor's shape in reef, but TensorFlow Lite refuses to prepare
 * it (it reads the missing new_shape as zero elements): such a RESHAPE is
 * written with its output's shape, as TensorFlow's converter always does. */
static const int32_t *new_shape_option(const reef_graph *g, const reef_op *op, int *n)
{
    if (op->builtin != REEF_OP_RESHAPE && op->builtin != REEF_OP_SQUEEZE) return NULL;
    *n = op->opt.nnew_shape;
    if (*n > 0) return op->opt.new_shape;
    const reef_tensor *out = &g->tensors[op->outputs[0]];
    if (op->builtin != REEF_OP_RESHAPE || (op->ninputs >= 2 && op->inputs[1] >= 0) || out->rank == 0) return NULL;
    *n = out->rank;
    return out->shape;
}

/* The options table of op (field ids as in schema.fbs); its position, or 0
 * for ops without one. */
static size_t write_options(writer *w, const reef_op *op)
{
    const reef_op_options *o = &op->opt;
    int nshape = 0;
    const int32_t *shape = new_shape_option(w->g, op, &nshape);
    fbt t = {0};
    switch (op->builtin) {
    case REEF_OP_CONV_2D:
        fbt_u8(&t, 0, o->padding);
        fbt_i32(&t, 1, o->stride_w);
        fbt_i32(&t, 2, o->stride_h);
        fbt_u8(&t, 3, o->activation);
        fbt_i32(&t, 4, o->dilation_w);
        fbt_i32(&t, 5, o->dilation_h);
        if (o->quantized_bias_type) fbt_u8(&t, 6, (uint8_t)o->quantized_bias_type);
        break;
    case REEF_OP_TRANSPOSE_CONV:
        fbt_u8(&t, 0, o->padding);
        fbt_i32(&t, 1, o->stride_w);
        fbt_i32(&t, 2, o->stride_h);
        fbt_u8(&t, 3, o->activation);
        break;
    case REEF_OP_DEPTHWISE_CONV_2D:
        fbt_u8(&t, 0, o->padding);
        fbt_i32(&t, 1, o->stride_w);
        fbt_i32(&t, 2, o->stride_h);
        fbt_i32(&t, 3, o->depth_multiplier);
        fbt_u8(&t, 4, o->activation);
        fbt_i32(&t, 5, o->dilation_w);
        fbt_i32(&t, 6, o->dilation_h);
        break;
    case REEF_OP_AVERAGE_POOL_2D:
    case REEF_OP_MAX_POOL_2D:
        fbt_u8(&t, 0, o->padding);
        fbt_i32(&t, 1, o->stride_w);
        fbt_i32(&t, 2, o->stride_h);
        fbt_i32(&t, 3, o->filter_w);
        fbt_i32(&t, 4, o->filter_h);
        fbt_u8(&t, 5, o->activation);
        break;
    case REEF_OP_FULLY_CONNECTED:
        fbt_u8(&t, 0, o->activation);
        fbt_u8(&t, 1, 0); /* weights_format DEFAULT */
        fbt_u8(&t, 2, o->keep_num_dims);
        if (o->quantized_bias_type) fbt_u8(&t, 4, (uint8_t)o->quantized_bias_type);
        break;
    case REEF_OP_SOFTMAX:
        fbt_f32(&t, 0, o->beta);
        break;
    case REEF_OP_CONCATENATION:
        fbt_i32(&t, 0, o->axis);
        fbt_u8(&t, 1, o->activation);
        break;
    case REEF_OP_ADD:
    case REEF_OP_SUB:
    case REEF_OP_MUL:
        fbt_u8(&t, 0, o->activation);
        break;
    case REEF_OP_RESHAPE:
    case REEF_OP_SQUEEZE:
        if (shape) fbt_ref(&t, 0);
        break;
    case REEF_OP_LEAKY_RELU:
        fbt_f32(&t, 0, o->alpha);
        break;
    case REEF_OP_MEAN:
    case REEF_OP_REDUCE_MAX:
        fbt_u8(&t, 0, o->keep_dims);
        break;
    case REEF_OP_SPLIT:
    case REEF_OP_SPLIT_V:
        fbt_i32(&t, 0, o->count);
        break;
    case REEF_OP_PACK:
    case REEF_OP_UNPACK:
        fbt_i32(&t, 0, o->count);
        fbt_i32(&t, 1, o->axis);
        break;
    case REEF_OP_RESIZE_NEAREST_NEIGHBOR:
        fbt_u8(&t, 0, (uint8_t)o->align_corners);
        fbt_u8(&t, 1, (uint8_t)o->half_pixel_centers);
        break;
    case REEF_OP_RESIZE_BILINEAR: /* fields 0 and 1 (new_height, new_width) are deprecated */
        fbt_u8(&t, 2, (uint8_t)o->align_corners);
        fbt_u8(&t, 3, (uint8_t)o->half_pixel_centers);
        break;
    case REEF_OP_STRIDED_SLICE:
        fbt_i32(&t, 0, o->begin_mask);
        fbt_i32(&t, 1, o->end_mask);
        fbt_i32(&t, 2, o->ellipsis_mask);
        fbt_i32(&t, 3, o->new_axis_mask);
        fbt_i32(&t, 4, o->shrink_axis_mask);
        fbt_u8(&t, 5, (uint8_t)o->offset);
        break;
    case REEF_OP_PAD:
    case REEF_OP_QUANTIZE:
    case REEF_OP_DEQUANTIZE:
        break; /* empty tables */
    default:
        return 0;
    }
    size_t table = fbt_write(&w->b, &t);
    if (shape) fbt_link(&w->b, &t, 0, vec_i32(&w->b, shape, nshape));
    return table;
}

static void write_operator(writer *w, int i, size_t vec)
{
    const reef_op *op = &w->g->ops[i];
    int opt_type = tfl_options_type(op->builtin);
    fbt t = {0};
    fbt_i32(&t, 0, w->op_code[i]);
    fbt_ref(&t, 1);
    fbt_ref(&t, 2);
    if (opt_type != TFL_OPT_NONE) {
        fbt_u8(&t, 3, opt_type);
        fbt_ref(&t, 4);
    }
    size_t table = fbt_write(&w->b, &t);
    link_elem(&w->b, vec, i, table);
    fbt_link(&w->b, &t, 1, vec_i32(&w->b, op->inputs, op->ninputs));
    fbt_link(&w->b, &t, 2, vec_i32(&w->b, op->outputs, op->noutputs));
    if (opt_type != TFL_OPT_NONE) fbt_link(&w->b, &t, 4, write_options(w, op));
}

static void write_subgraph(writer *w, size_t vec)
{
    const reef_graph *g = w->g;
    fbt t = {0};
    for (int id = 0; id < 5; id++) fbt_ref(&t, id); /* tensors inputs outputs operators name */
    size_t table = fbt_write(&w->b, &t);
    link_elem(&w->b, vec, 0, table);
    size_t tensors = vec_refs(&w->b, g->ntensors);
    fbt_link(&w->b, &t, 0, tensors);
    for (int i = 0; i < g->ntensors; i++) write_tensor(w, i, tensors);
    fbt_link(&w->b, &t, 1, vec_i32(&w->b, g->inputs, g->ninputs));
    fbt_link(&w->b, &t, 2, vec_i32(&w->b, g->outputs, g->noutputs));
    size_t ops = vec_refs(&w->b, g->nops);
    fbt_link(&w->b, &t, 3, ops);
    for (int i = 0; i < g->nops; i++) write_operator(w, i, ops);
    fbt_link(&w->b, &t, 4, string(&w->b, g->name ? g->name : "main"));
}

static void write_buffers(writer *w, size_t vec)
{
    const reef_graph *g = w->g;
    fbt empty = {0};
    link_elem(&w->b, vec, 0, fbt_write(&w->b, &empty));
    for (int i = 0; i < g->ntensors; i++) {
        if (!w->buffer[i]) continue;
        fbt t = {0};
        fbt_ref(&t, 0);
        size_t table = fbt_write(&w->b, &t);
        link_elem(&w->b, vec, (int)w->buffer[i], table);
        fbt_link(&w->b, &t, 0, vec_bytes(&w->b, g->tensors[i].data, g->tensors[i].data_size, 16));
    }
    if (w->names_buffer) {
        fbt t = {0};
        fbt_ref(&t, 0);
        size_t table = fbt_write(&w->b, &t);
        link_elem(&w->b, vec, (int)w->names_buffer, table);
        fbt_link(&w->b, &t, 0, vec_bytes(&w->b, (const uint8_t *)g->classes.blob, g->classes.size, 16));
    }
}

/* Model.metadata: one entry, "reef_class_names", naming the buffer that
 * holds the class names (NUL-terminated, in output order). */
static void write_metadata(writer *w, size_t vec)
{
    fbt t = {0};
    fbt_ref(&t, 0);
    fbt_add(&t, 1, 4, w->names_buffer);
    size_t table = fbt_write(&w->b, &t);
    link_elem(&w->b, vec, 0, table);
    fbt_link(&w->b, &t, 0, string(&w->b, REEF_TFLITE_CLASS_NAMES));
}

static void write_model(writer *w)
{
    const reef_graph *g = w->g;
    fbb *b = &w->b;
    fbb_put(b, NULL, 4); /* root offset, patched below */
    fbb_put(b, "TFL3", 4);
    fbt t = {0};
    fbt_i32(&t, 0, 3); /* schema version */
    for (int id = 1; id <= 4; id++) fbt_ref(&t, id); /* operator_codes subgraphs description buffers */
    if (w->names_buffer) fbt_ref(&t, 6);               /* metadata */
    size_t model = fbt_write(b, &t);
    fbb_set_u32(b, 0, (uint32_t)model);
    size_t codes = vec_refs(b, w->ncodes);
    fbt_link(b, &t, 1, codes);
    for (int k = 0; k < w->ncodes; k++) write_opcode(w, &g->ops[w->code_op[k]], codes, k);
    size_t subgraphs = vec_refs(b, 1);
    fbt_link(b, &t, 2, subgraphs);
    write_subgraph(w, subgraphs);
    fbt_link(b, &t, 3, string(b, g->description ? g->description : "reef"));
    if (w->names_buffer) {
        size_t metadata = vec_refs(b, 1);
        fbt_link(b, &t, 6, metadata);
        write_metadata(w, metadata);
    }
    size_t buffers = vec_refs(b, w->nbuffers);
    fbt_link(b, &t, 4, buffers);
    write_buffers(w, buffers);
}

/* ---- checks before writing --------------------------------------------- */

static int check_list(const reef_graph *g, const int32_t *list, int n, int allow_absent, const char *what,
                      int index, reef_error *err)
{
    if (n < 0 || n > REEF_MAX_OP_IO)
        return reef_fail(err, "%s %d: %d tensors listed, reef handles 0..%d", what, index, n, REEF_MAX_OP_IO);
    for (int i = 0; i < n; i++)
        if (!(allow_absent && list[i] == -1) && (list[i] < 0 || list[i] >= g->ntensors))
            return reef_fail(err, "%s %d: tensor index %d is out of range (graph has %d tensors)", what, index,
                             list[i], g->ntensors);
    return 0;
}

static int check_graph(const reef_graph *g, reef_error *err)
{
    for (int i = 0; i < g->ntensors; i++) {
        const reef_tensor *t = &g->tensors[i];
        if (t->rank < 0 || t->rank > REEF_MAX_RANK)
            return reef_fail(err, "tensor %d: rank %d is not in 0..%d", i, t->rank, REEF_MAX_RANK);
        if (t->nquant < 0 || (t->nquant > 0 && (!t->scale || !t->zero_point)))
            return reef_fail(err, "tensor %d: bad quantization parameters", i);
        if (t->data_size > UINT32_MAX) return reef_fail(err, "tensor %d: constant over 4 GB", i);
    }
    for (int i = 0; i < g->nops; i++) {
        const reef_op *op = &g->ops[i];
        if (check_list(g, op->inputs, op->ninputs, 1, "op", i, err) ||
            check_list(g, op->outputs, op->noutputs, 0, "op", i, err))
            return -1;
        if (op->opt.nnew_shape < 0 || op->opt.nnew_shape > REEF_MAX_RANK)
            return reef_fail(err, "op %d: %d new_shape entries", i, op->opt.nnew_shape);
    }
    return check_list(g, g->inputs, g->ninputs, 0, "graph inputs", 0, err) ||
                   check_list(g, g->outputs, g->noutputs, 0, "graph outputs", 0, err)
               ? -1
               : 0;
}

int reef_tflite_serialize(const reef_graph *g, uint8_t **data, size_t *size, reef_error *err)
{
    *data = NULL;
    *size = 0;
    if (check_graph(g, err)) return -1;
    writer w = {.g = g};
    size_t nops = (size_t)(g->nops > 0 ? g->nops : 1), nt = (size_t)(g->ntensors > 0 ? g->ntensors : 1);
    w.op_code = tfl_malloc(nops * sizeof *w.op_code);
    w.code_op = tfl_malloc(nops * sizeof *w.code_op);
    w.buffer = tfl_malloc(nt * sizeof *w.buffer);
    int rc = 0;
    if (!w.op_code || !w.code_op || !w.buffer) {
        rc = reef_fail(err, "serializing %s: out of memory", g->name ? g->name : "model");
    } else {
        assign_codes_and_buffers(&w);
        write_model(&w);
        if (w.b.failed)
            rc = reef_fail(err, "serializing %s: out of memory", g->name ? g->name : "model");
        else if (w.b.len > INT32_MAX)
            rc = reef_fail(err, "serializing %s: %zu bytes, over FlatBuffers' 2 GB limit",
                           g->name ? g->name : "model", w.b.len);
    }
    free(w.op_code);
    free(w.code_op);
    free(w.buffer);
    if (rc) {
        free(w.b.buf);
        return -1;
    }
    *data = w.b.buf;
    *size = w.b.len;
    return 0;
}

/* The test suite sets REEF_TFLITE_COLLECT to a folder: every .tflite reef
 * writes is then also written there, named by a hash of its bytes, so that
 * a second reader (real TensorFlow Lite, tests/tflite/test_tfjs_reader.c)
 * checks every file the suite writes. Best effort: a failure here never
 * fails the write the user asked for. */
static void collect_for_tests(const uint8_t *data, size_t size)
{
    const char *dir = getenv("REEF_TFLITE_COLLECT");
    if (!dir || !*dir) return;
    uint64_t hash = 14695981039346656037ull;  // FNV-1a
    for (size_t i = 0; i < size; i++) hash = (hash ^ data[i]) * 1099511628211ull;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%016llx.tflite", dir, (unsigned long long)hash) >= (int)sizeof path) return;
    reef_error ignored;
    (void)reef_write_file(path, data, size, &ignored);
}

int reef_tflite_write(const char *path, const reef_graph *g, reef_error *err)
{
    uint8_t *data;
    size_t size;
    if (reef_tflite_serialize(g, &data, &size, err)) return reef_fail_wrap(err, "%s", path);
    int rc = reef_write_file(path, data, size, err);
    if (!rc) collect_for_tests(data, size);
    free(data);
    return rc;
}
