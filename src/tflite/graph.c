/* reef_graph: ownership, helpers (names, sizes, MACs) and the builder. */
#include <stdlib.h>
#include <string.h>

#include "tflite/fault.h"
#include "tflite/internal.h"

/* ---- allocations with a fault hook -------------------------------------- */

static _Thread_local long fail_countdown; /* 0: disarmed */
static _Thread_local int fail_fired;

void reef_tflite_fail_alloc(long k)
{
    fail_countdown = k;
    fail_fired = 0;
}

int reef_tflite_alloc_failed(void) { return fail_fired; }

static int should_fail(void)
{
    if (fail_countdown <= 0) return 0;
    if (--fail_countdown > 0) return 0;
    fail_fired = 1;
    return 1;
}

void *tfl_malloc(size_t size)
{
    if (should_fail()) return NULL;
    return malloc(size ? size : 1);
}

void *tfl_realloc(void *p, size_t size)
{
    if (should_fail()) return NULL;
    return realloc(p, size ? size : 1);
}

/* What g->owner_ points at. */
typedef struct tfl_owner {
    void **blocks;
    int nblocks, cap_blocks;
    int cap_tensors, cap_ops;  /* capacity of g->tensors / g->ops */
} tfl_owner;

static tfl_owner *owner_of(reef_graph *g)
{
    if (!g->owner_) {
        tfl_owner *o = tfl_malloc(sizeof *o);
        if (!o) return NULL;
        memset(o, 0, sizeof *o);
        g->owner_ = o;
    }
    return g->owner_;
}

void *tfl_graph_alloc(reef_graph *g, size_t size)
{
    tfl_owner *o = owner_of(g);
    if (!o) return NULL;
    if (o->nblocks == o->cap_blocks) {
        int cap = o->cap_blocks ? 2 * o->cap_blocks : 16;
        void **blocks = tfl_realloc(o->blocks, (size_t)cap * sizeof *blocks);
        if (!blocks) return NULL;
        o->blocks = blocks;
        o->cap_blocks = cap;
    }
    /* 16-byte alignment for constant data: glibc's malloc gives it on
     * x86-64; aligned_alloc makes it explicit. */
    size_t rounded = (size + 15) / 16 * 16;
    void *p = should_fail() ? NULL : aligned_alloc(16, rounded ? rounded : 16);
    if (!p) return NULL;
    memset(p, 0, rounded ? rounded : 16);
    o->blocks[o->nblocks++] = p;
    return p;
}

char *tfl_graph_strndup(reef_graph *g, const char *s, size_t len)
{
    char *d = tfl_graph_alloc(g, len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void reef_graph_free(reef_graph *g)
{
    if (!g) return;
    tfl_owner *o = g->owner_;
    if (o) {
        for (int i = 0; i < o->nblocks; i++) free(o->blocks[i]);
        free(o->blocks);
        free(o);
    }
    free(g->tensors);
    free(g->ops);
    memset(g, 0, sizeof *g);
}

/* ---- names and sizes ---------------------------------------------------- */

const char *reef_builtin_name(int32_t builtin)
{
    switch (builtin) {
    case REEF_OP_ADD: return "ADD";
    case REEF_OP_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case REEF_OP_CONCATENATION: return "CONCATENATION";
    case REEF_OP_CONV_2D: return "CONV_2D";
    case REEF_OP_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case REEF_OP_DEQUANTIZE: return "DEQUANTIZE";
    case REEF_OP_FULLY_CONNECTED: return "FULLY_CONNECTED";
    case REEF_OP_LOGISTIC: return "LOGISTIC";
    case REEF_OP_MAX_POOL_2D: return "MAX_POOL_2D";
    case REEF_OP_MUL: return "MUL";
    case REEF_OP_RELU: return "RELU";
    case REEF_OP_RELU_N1_TO_1: return "RELU_N1_TO_1";
    case REEF_OP_RELU6: return "RELU6";
    case REEF_OP_LEAKY_RELU: return "LEAKY_RELU";
    case REEF_OP_RESHAPE: return "RESHAPE";
    case REEF_OP_SOFTMAX: return "SOFTMAX";
    case REEF_OP_PAD: return "PAD";
    case REEF_OP_MEAN: return "MEAN";
    case REEF_OP_SQUEEZE: return "SQUEEZE";
    case REEF_OP_QUANTIZE: return "QUANTIZE";
    /* a few more that show up in models, so reports read well */
    case REEF_OP_TANH: return "TANH";
    case 32: return "CUSTOM";
    case REEF_OP_SUB: return "SUB";
    case REEF_OP_MAXIMUM: return "MAXIMUM";
    case REEF_OP_PRELU: return "PRELU";
    case REEF_OP_PADV2: return "PADV2";
    case REEF_OP_EXPAND_DIMS: return "EXPAND_DIMS";
    case REEF_OP_MINIMUM: return "MINIMUM";
    case REEF_OP_TRANSPOSE: return "TRANSPOSE";
    case REEF_OP_SLICE: return "SLICE";
    case REEF_OP_REDUCE_MAX: return "REDUCE_MAX";
    case REEF_OP_STRIDED_SLICE: return "STRIDED_SLICE";
    case REEF_OP_ARG_MAX: return "ARG_MAX";
    case REEF_OP_SPLIT: return "SPLIT";
    case REEF_OP_SPLIT_V: return "SPLIT_V";
    case REEF_OP_PACK: return "PACK";
    case REEF_OP_UNPACK: return "UNPACK";
    case REEF_OP_RESIZE_NEAREST_NEIGHBOR: return "RESIZE_NEAREST_NEIGHBOR";
    case REEF_OP_RESIZE_BILINEAR: return "RESIZE_BILINEAR";
    case 67: return "TRANSPOSE_CONV";
    case REEF_OP_HARD_SWISH: return "HARD_SWISH";
    default: return "UNKNOWN";
    }
}

const char *reef_dtype_name(reef_dtype t)
{
    switch (t) {
    case REEF_FLOAT32: return "float32";
    case REEF_FLOAT16: return "float16";
    case REEF_INT32: return "int32";
    case REEF_UINT8: return "uint8";
    case REEF_INT64: return "int64";
    case REEF_BOOL: return "bool";
    case REEF_INT16: return "int16";
    case REEF_INT8: return "int8";
    default: return "unknown";
    }
}

int tfl_dtype_size(int32_t type)
{
    switch (type) {
    case REEF_FLOAT32: case REEF_INT32: return 4;
    case REEF_FLOAT16: case REEF_INT16: return 2;
    case REEF_UINT8: case REEF_BOOL: case REEF_INT8: return 1;
    case REEF_INT64: return 8;
    default: return 0;
    }
}

int64_t reef_tensor_elements(const reef_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->shape[i];
    return n;
}

static const reef_tensor *op_tensor(const reef_graph *g, int32_t index, int min_rank)
{
    if (index < 0 || index >= g->ntensors) return NULL;
    const reef_tensor *t = &g->tensors[index];
    return t->rank >= min_rank ? t : NULL;
}

int64_t reef_op_macs(const reef_graph *g, const reef_op *op)
{
    if (op->ninputs < 2 || op->noutputs < 1) return 0;
    const reef_tensor *filter = op_tensor(g, op->inputs[1], 2);
    const reef_tensor *out = op_tensor(g, op->outputs[0], 1);
    if (!filter || !out) return 0;
    int64_t outputs = reef_tensor_elements(out);
    switch (op->builtin) {
    case REEF_OP_CONV_2D: /* filter (OC, KH, KW, IC) */
        if (filter->rank != 4) return 0;
        return outputs * filter->shape[1] * filter->shape[2] * filter->shape[3];
    case REEF_OP_DEPTHWISE_CONV_2D: /* filter (1, KH, KW, OC) */
        if (filter->rank != 4) return 0;
        return outputs * filter->shape[1] * filter->shape[2];
    case REEF_OP_FULLY_CONNECTED: /* weights (OUT, IN) */
        return outputs * filter->shape[filter->rank - 1];
    default:
        return 0;
    }
}

/* ---- builder ------------------------------------------------------------ */

int reef_graph_init(reef_graph *g, const char *name, reef_error *err)
{
    memset(g, 0, sizeof *g);
    g->nsubgraphs = 1;
    if (!owner_of(g) || !(g->name = tfl_graph_strndup(g, name, strlen(name)))) {
        reef_graph_free(g);
        return reef_fail(err, "graph %s: out of memory", name);
    }
    return 0;
}

static int grow(void **array, int *cap, int need, size_t elem_size)
{
    if (need <= *cap) return 0;
    int cap_new = *cap ? 2 * *cap : 16;
    while (cap_new < need) cap_new *= 2;
    void *p = tfl_realloc(*array, (size_t)cap_new * elem_size);
    if (!p) return -1;
    *array = p;
    *cap = cap_new;
    return 0;
}

int reef_graph_add_tensor(reef_graph *g, const char *name, reef_dtype type, int rank,
                          const int32_t *shape, reef_error *err)
{
    if (rank < 0 || rank > REEF_MAX_RANK)
        return reef_fail(err, "tensor %s: rank %d is not in 0..%d", name, rank, REEF_MAX_RANK);
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0) return reef_fail(err, "tensor %s: dimension %d is negative (%d)", name, i, shape[i]);
    tfl_owner *o = owner_of(g);
    if (!o || grow((void **)&g->tensors, &o->cap_tensors, g->ntensors + 1, sizeof *g->tensors))
        return reef_fail(err, "tensor %s: out of memory", name);
    reef_tensor *t = &g->tensors[g->ntensors];
    memset(t, 0, sizeof *t);
    t->name = tfl_graph_strndup(g, name, strlen(name));
    if (!t->name) return reef_fail(err, "tensor %s: out of memory", name);
    t->type = type;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    return g->ntensors++;
}

static int check_tensor_index(const reef_graph *g, int index, reef_error *err)
{
    if (index < 0 || index >= g->ntensors)
        return reef_fail(err, "tensor index %d is out of range (graph has %d tensors)", index, g->ntensors);
    return 0;
}

int reef_graph_set_quant(reef_graph *g, int tensor, int nquant, const float *scale,
                         const int64_t *zero_point, int quant_dim, reef_error *err)
{
    if (check_tensor_index(g, tensor, err)) return -1;
    reef_tensor *t = &g->tensors[tensor];
    if (nquant > 1 && (quant_dim < 0 || quant_dim >= t->rank || t->shape[quant_dim] != nquant))
        return reef_fail(err, "tensor %s: %d per-channel scales do not match dimension %d", t->name, nquant,
                         quant_dim);
    if (nquant < 0) return reef_fail(err, "tensor %s: negative scale count", t->name);
    float *s = tfl_graph_alloc(g, (size_t)nquant * sizeof *s);
    int64_t *z = tfl_graph_alloc(g, (size_t)nquant * sizeof *z);
    if (!s || !z) return reef_fail(err, "tensor %s: out of memory", t->name);
    memcpy(s, scale, (size_t)nquant * sizeof *s);
    memcpy(z, zero_point, (size_t)nquant * sizeof *z);
    t->nquant = nquant;
    t->scale = nquant ? s : NULL;
    t->zero_point = nquant ? z : NULL;
    t->quant_dim = quant_dim;
    return 0;
}

int reef_graph_set_data(reef_graph *g, int tensor, const void *data, size_t size, reef_error *err)
{
    if (check_tensor_index(g, tensor, err)) return -1;
    reef_tensor *t = &g->tensors[tensor];
    size_t want = (size_t)reef_tensor_elements(t) * (size_t)tfl_dtype_size(t->type);
    if (size != want)
        return reef_fail(err, "tensor %s: %zu bytes of data given, its shape and type need %zu", t->name, size,
                         want);
    uint8_t *copy = tfl_graph_alloc(g, size);
    if (!copy) return reef_fail(err, "tensor %s: out of memory", t->name);
    memcpy(copy, data, size);
    t->data = copy;
    t->data_size = size;
    return 0;
}

void reef_op_options_init(reef_op_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->padding = REEF_PAD_SAME;
    opt->stride_w = opt->stride_h = 1;
    opt->dilation_w = opt->dilation_h = 1;
    opt->filter_w = opt->filter_h = 1;
    opt->depth_multiplier = 1;
    opt->beta = 1.0f;
}

static int check_io_list(const reef_graph *g, const int32_t *list, int n, int allow_absent, const char *what,
                         reef_error *err)
{
    if (n < 0 || n > REEF_MAX_OP_IO)
        return reef_fail(err, "%s: %d tensors, reef handles 0..%d", what, n, REEF_MAX_OP_IO);
    for (int i = 0; i < n; i++) {
        if (allow_absent && list[i] == -1) continue;
        if (list[i] < 0 || list[i] >= g->ntensors)
            return reef_fail(err, "%s: tensor index %d is out of range (graph has %d tensors)", what, list[i],
                             g->ntensors);
    }
    return 0;
}

int reef_graph_add_op(reef_graph *g, int32_t builtin, const int32_t *inputs, int ninputs,
                      const int32_t *outputs, int noutputs, const reef_op_options *opt, reef_error *err)
{
    const char *name = reef_builtin_name(builtin);
    if (check_io_list(g, inputs, ninputs, 1, name, err) || check_io_list(g, outputs, noutputs, 0, name, err))
        return -1;
    tfl_owner *o = owner_of(g);
    if (!o || grow((void **)&g->ops, &o->cap_ops, g->nops + 1, sizeof *g->ops))
        return reef_fail(err, "op %s: out of memory", name);
    reef_op *op = &g->ops[g->nops];
    memset(op, 0, sizeof *op);
    op->builtin = builtin;
    op->version = 1;
    op->ninputs = ninputs;
    op->noutputs = noutputs;
    memcpy(op->inputs, inputs, (size_t)ninputs * sizeof *inputs);
    memcpy(op->outputs, outputs, (size_t)noutputs * sizeof *outputs);
    if (opt)
        op->opt = *opt;
    else
        reef_op_options_init(&op->opt);
    /* unused new_shape entries are zero, so equal graphs compare equal */
    int used = op->opt.nnew_shape > 0 && op->opt.nnew_shape <= REEF_MAX_RANK ? op->opt.nnew_shape : 0;
    for (int i = used; i < REEF_MAX_RANK; i++) op->opt.new_shape[i] = 0;
    return g->nops++;
}

int reef_graph_set_io(reef_graph *g, const int32_t *inputs, int ninputs, const int32_t *outputs,
                      int noutputs, reef_error *err)
{
    if (check_io_list(g, inputs, ninputs, 0, "graph inputs", err) ||
        check_io_list(g, outputs, noutputs, 0, "graph outputs", err))
        return -1;
    g->ninputs = ninputs;
    g->noutputs = noutputs;
    memcpy(g->inputs, inputs, (size_t)ninputs * sizeof *inputs);
    memcpy(g->outputs, outputs, (size_t)noutputs * sizeof *outputs);
    return 0;
}

int reef_graph_set_description(reef_graph *g, const char *description, reef_error *err)
{
    char *d = tfl_graph_strndup(g, description, strlen(description));
    if (!d) return reef_fail(err, "graph description: out of memory");
    g->description = d;
    return 0;
}

int reef_graph_set_class_names(reef_graph *g, const reef_class_names *c, reef_error *err)
{
    memset(&g->classes, 0, sizeof g->classes);
    if (!c->count) return 0;
    char *blob = tfl_graph_alloc(g, c->size);
    if (!blob) return reef_fail(err, "graph class names: out of memory");
    memcpy(blob, c->blob, c->size);
    g->classes = (reef_class_names){c->count, c->size, blob};
    return 0;
}

int tfl_options_type(int32_t builtin)
{
    switch (builtin) {
    case REEF_OP_CONV_2D: return TFL_OPT_CONV2D;
    case REEF_OP_DEPTHWISE_CONV_2D: return TFL_OPT_DEPTHWISE_CONV2D;
    case REEF_OP_AVERAGE_POOL_2D:
    case REEF_OP_MAX_POOL_2D: return TFL_OPT_POOL2D;
    case REEF_OP_FULLY_CONNECTED: return TFL_OPT_FULLY_CONNECTED;
    case REEF_OP_SOFTMAX: return TFL_OPT_SOFTMAX;
    case REEF_OP_CONCATENATION: return TFL_OPT_CONCATENATION;
    case REEF_OP_ADD: return TFL_OPT_ADD;
    case REEF_OP_RESHAPE: return TFL_OPT_RESHAPE;
    case REEF_OP_MUL: return TFL_OPT_MUL;
    case REEF_OP_SUB: return TFL_OPT_SUB;
    case REEF_OP_LEAKY_RELU: return TFL_OPT_LEAKY_RELU;
    case REEF_OP_PAD: return TFL_OPT_PAD;
    case REEF_OP_MEAN:
    case REEF_OP_REDUCE_MAX: return TFL_OPT_REDUCER;
    case REEF_OP_SQUEEZE: return TFL_OPT_SQUEEZE;
    case REEF_OP_DEQUANTIZE: return TFL_OPT_DEQUANTIZE;
    case REEF_OP_QUANTIZE: return TFL_OPT_QUANTIZE;
    case REEF_OP_STRIDED_SLICE: return TFL_OPT_STRIDED_SLICE;
    case REEF_OP_RESIZE_NEAREST_NEIGHBOR: return TFL_OPT_RESIZE_NEAREST_NEIGHBOR;
    case REEF_OP_RESIZE_BILINEAR: return TFL_OPT_RESIZE_BILINEAR;
    case REEF_OP_SPLIT: return TFL_OPT_SPLIT;
    case REEF_OP_SPLIT_V: return TFL_OPT_SPLIT_V;
    case REEF_OP_PACK: return TFL_OPT_PACK;
    case REEF_OP_UNPACK: return TFL_OPT_UNPACK;
    default: return TFL_OPT_NONE;
    }
}
