/* What `reef inspect` prints about a graph, and the checks other commands
 * use to refuse a model: unsupported ops, MAC and parameter totals. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tflite/internal.h"
#include "util/json.h"
#include "util/table.h"

int reef_builtin_supported(int32_t builtin)
{
    switch (builtin) {
    case REEF_OP_CONV_2D:
    case REEF_OP_DEPTHWISE_CONV_2D:
    case REEF_OP_FULLY_CONNECTED:
    case REEF_OP_ADD:
    case REEF_OP_SUB:
    case REEF_OP_MUL:
    case REEF_OP_MAXIMUM:
    case REEF_OP_MINIMUM:
    case REEF_OP_RELU:
    case REEF_OP_RELU_N1_TO_1:
    case REEF_OP_RELU6:
    case REEF_OP_LEAKY_RELU:
    case REEF_OP_LOGISTIC:
    case REEF_OP_TANH:
    case REEF_OP_HARD_SWISH:
    case REEF_OP_SQUEEZE:
    case REEF_OP_PRELU:
    case REEF_OP_TRANSPOSE:
    case REEF_OP_SLICE:
    case REEF_OP_REDUCE_MAX:
    case REEF_OP_ARG_MAX:
    case REEF_OP_CONCATENATION:
    case REEF_OP_SPLIT:
    case REEF_OP_SPLIT_V:
    case REEF_OP_PACK:
    case REEF_OP_UNPACK:
    case REEF_OP_STRIDED_SLICE:
    case REEF_OP_RESIZE_NEAREST_NEIGHBOR:
    case REEF_OP_RESIZE_BILINEAR:
    case REEF_OP_TRANSPOSE_CONV:
    case REEF_OP_PADV2:
    case REEF_OP_EXPAND_DIMS:
    case REEF_OP_AVERAGE_POOL_2D:
    case REEF_OP_MAX_POOL_2D:
    case REEF_OP_MEAN:
    case REEF_OP_SOFTMAX:
    case REEF_OP_RESHAPE:
    case REEF_OP_PAD:
    case REEF_OP_QUANTIZE:
    case REEF_OP_DEQUANTIZE:
        return 1;
    default:
        return 0;
    }
}

/* "LOGISTIC", "CUSTOM:name" or "code 77" for ops without a name. */
static void op_label(const reef_op *op, char *buf, size_t size)
{
    const char *name = reef_builtin_name(op->builtin);
    if (op->custom_code)
        snprintf(buf, size, "CUSTOM:%s", op->custom_code);
    else if (!strcmp(name, "UNKNOWN"))
        snprintf(buf, size, "builtin code %d", (int)op->builtin);
    else
        snprintf(buf, size, "%s", name);
}

int reef_graph_unsupported_ops(const reef_graph *g, reef_error *err)
{
    int count = 0;
    for (int i = 0; i < g->nops; i++) count += !reef_builtin_supported(g->ops[i].builtin);
    if (!count) return 0;
    char list[900] = "";
    size_t used = 0;
    for (int i = 0; i < g->nops && used < sizeof list; i++) {
        if (reef_builtin_supported(g->ops[i].builtin)) continue;
        char label[80];
        op_label(&g->ops[i], label, sizeof label);
        int w = snprintf(list + used, sizeof list - used, "%s%s (op %d)", used ? ", " : "", label, i);
        used += w > 0 ? (size_t)w : 0;
    }
    reef_fail(err, "%d unsupported operator%s: %s", count, count > 1 ? "s" : "", list);
    return count;
}

int64_t reef_graph_macs(const reef_graph *g)
{
    /* one op has at most 2^62 MACs (2^31-element tensors); a hostile file
     * can repeat such ops, so the sum saturates instead of overflowing */
    int64_t total = 0;
    for (int i = 0; i < g->nops; i++) {
        int64_t macs = reef_op_macs(g, &g->ops[i]);
        total = macs > INT64_MAX - total ? INT64_MAX : total + macs;
    }
    return total;
}

size_t reef_graph_param_bytes(const reef_graph *g)
{
    size_t total = 0;
    for (int i = 0; i < g->ntensors; i++) total += g->tensors[i].data_size;
    return total;
}

/* ---- text ---------------------------------------------------------------- */

static void shape_text(const reef_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->rank && used < size; i++) {
        int w = snprintf(buf + used, size - used, i ? "x%d" : "%d", (int)t->shape[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (t->rank == 0) snprintf(buf, size, "scalar");
}

static void index_list_text(const int32_t *list, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, i ? ",%d" : "%d", (int)list[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

static const char *act_name(reef_fused_act a)
{
    static const char *names[] = {"", "relu", "relu_n1_1", "relu6", "tanh", "sign_bit"};
    return (unsigned)a < 6 ? names[a] : "?";
}

static void options_text(const reef_op *op, char *buf, size_t size)
{
    const reef_op_options *o = &op->opt;
    const char *pad = o->padding == REEF_PAD_SAME ? "same" : "valid";
    switch (op->builtin) {
    case REEF_OP_CONV_2D:
    case REEF_OP_DEPTHWISE_CONV_2D:
        snprintf(buf, size, "%s s%dx%d d%dx%d %s", pad, o->stride_h, o->stride_w, o->dilation_h, o->dilation_w,
                 act_name(o->activation));
        break;
    case REEF_OP_TRANSPOSE_CONV:
        snprintf(buf, size, "%s s%dx%d %s", pad, o->stride_h, o->stride_w, act_name(o->activation));
        break;
    case REEF_OP_AVERAGE_POOL_2D:
    case REEF_OP_MAX_POOL_2D:
        snprintf(buf, size, "%s f%dx%d s%dx%d %s", pad, o->filter_h, o->filter_w, o->stride_h, o->stride_w,
                 act_name(o->activation));
        break;
    case REEF_OP_SOFTMAX:
        snprintf(buf, size, "beta %g", o->beta);
        break;
    case REEF_OP_CONCATENATION:
        snprintf(buf, size, "axis %d %s", o->axis, act_name(o->activation));
        break;
    case REEF_OP_PACK:
    case REEF_OP_UNPACK:
        snprintf(buf, size, "axis %d, %d values", o->axis, o->count);
        break;
    case REEF_OP_SPLIT:
    case REEF_OP_SPLIT_V:
        snprintf(buf, size, "%d splits", o->count);
        break;
    case REEF_OP_STRIDED_SLICE:
        snprintf(buf, size, "masks begin %d end %d shrink %d", o->begin_mask, o->end_mask, o->shrink_axis_mask);
        break;
    case REEF_OP_MEAN:
    case REEF_OP_REDUCE_MAX:
        snprintf(buf, size, "%s", o->keep_dims ? "keep_dims" : "");
        break;
    case REEF_OP_FULLY_CONNECTED:
    case REEF_OP_ADD:
    case REEF_OP_MUL:
        snprintf(buf, size, "%s%s", act_name(o->activation), o->keep_num_dims ? " keep_num_dims" : "");
        break;
    default:
        buf[0] = '\0';
    }
}

static void quant_text(const reef_tensor *t, char *scale, char *zp, size_t size)
{
    scale[0] = zp[0] = '\0';
    if (t->nquant == 1) {
        snprintf(scale, size, "%.9g", t->scale[0]);
        snprintf(zp, size, "%" PRId64, t->zero_point[0]);
    } else if (t->nquant > 1) {
        float lo = t->scale[0], hi = t->scale[0];
        for (int i = 1; i < t->nquant; i++) {
            lo = t->scale[i] < lo ? t->scale[i] : lo;
            hi = t->scale[i] > hi ? t->scale[i] : hi;
        }
        snprintf(scale, size, "%d ch %.3g..%.3g", t->nquant, lo, hi);
        snprintf(zp, size, "per-ch (dim %d)", t->quant_dim);
    }
}

static size_t tensor_bytes(const reef_tensor *t)
{
    return (size_t)reef_tensor_elements(t) * (size_t)tfl_dtype_size(t->type);
}

static void print_ops_text(const reef_graph *g, FILE *fp)
{
    reef_table tab;
    reef_table_init(&tab, ">#", "op", "inputs", "outputs", "options", ">MACs", NULL);
    for (int i = 0; i < g->nops; i++) {
        const reef_op *op = &g->ops[i];
        char label[80], ins[96], outs[96], opts[96];
        op_label(op, label, sizeof label);
        index_list_text(op->inputs, op->ninputs, ins, sizeof ins);
        index_list_text(op->outputs, op->noutputs, outs, sizeof outs);
        options_text(op, opts, sizeof opts);
        reef_table_cell(&tab, "%d", i);
        reef_table_cell(&tab, "%s%s", label, reef_builtin_supported(op->builtin) ? "" : " (unsupported)");
        reef_table_cell(&tab, "%s", ins);
        reef_table_cell(&tab, "%s", outs);
        reef_table_cell(&tab, "%s", opts);
        reef_table_cell(&tab, "%" PRId64, reef_op_macs(g, op));
    }
    reef_table_print(&tab, fp, "operators");
}

static void print_tensors_text(const reef_graph *g, FILE *fp)
{
    reef_table tab;
    reef_table_init(&tab, ">#", "name", "type", "shape", "scale", "zero point", ">bytes", "kind", NULL);
    for (int i = 0; i < g->ntensors; i++) {
        const reef_tensor *t = &g->tensors[i];
        char shape[96], scale[64], zp[64];
        shape_text(t, shape, sizeof shape);
        quant_text(t, scale, zp, sizeof scale);
        reef_table_cell(&tab, "%d", i);
        reef_table_cell(&tab, "%.60s", t->name);
        reef_table_cell(&tab, "%s", reef_dtype_name(t->type));
        reef_table_cell(&tab, "%s", shape);
        reef_table_cell(&tab, "%s", scale);
        reef_table_cell(&tab, "%s", zp);
        reef_table_cell(&tab, "%zu", t->data ? t->data_size : tensor_bytes(t));
        reef_table_cell(&tab, "%s", t->data ? "constant" : "activation");
    }
    reef_table_print(&tab, fp, "tensors");
}

/* Distinct op labels and their counts, in order of first use. */
typedef struct histogram {
    int n;
    char (*label)[80]; /* (n) */
    int *count;        /* (n) */
} histogram;

static int histogram_build(const reef_graph *g, histogram *h)
{
    h->n = 0;
    h->label = malloc((size_t)(g->nops ? g->nops : 1) * sizeof *h->label);
    h->count = malloc((size_t)(g->nops ? g->nops : 1) * sizeof *h->count);
    if (!h->label || !h->count) {
        free(h->label);
        free(h->count);
        return -1;
    }
    for (int i = 0; i < g->nops; i++) {
        char label[80];
        op_label(&g->ops[i], label, sizeof label);
        int k = 0;
        while (k < h->n && strcmp(h->label[k], label)) k++;
        if (k == h->n) {
            memcpy(h->label[k], label, sizeof label);
            h->count[k] = 0;
            h->n++;
        }
        h->count[k]++;
    }
    return 0;
}

static void print_totals_text(const reef_graph *g, FILE *fp)
{
    fprintf(fp, "model %s: %d operators, %d tensors", g->name ? g->name : "?", g->nops, g->ntensors);
    if (g->nsubgraphs > 1) fprintf(fp, " (subgraph 0 of %d read; the others are ignored)", g->nsubgraphs);
    fprintf(fp, "\ninputs:");
    for (int i = 0; i < g->ninputs; i++) fprintf(fp, " %d (%s)", g->inputs[i], g->tensors[g->inputs[i]].name);
    fprintf(fp, "   outputs:");
    for (int i = 0; i < g->noutputs; i++) fprintf(fp, " %d (%s)", g->outputs[i], g->tensors[g->outputs[i]].name);
    fprintf(fp, "\nMACs: %" PRId64 "   parameter bytes: %zu\nops:", reef_graph_macs(g),
            reef_graph_param_bytes(g));
    histogram h;
    if (histogram_build(g, &h) == 0) {
        for (int k = 0; k < h.n; k++) fprintf(fp, " %s x%d%s", h.label[k], h.count[k], k + 1 < h.n ? "," : "");
        free(h.label);
        free(h.count);
    }
    char classes[1024] = "none recorded";
    if (g->classes.count) reef_class_names_list(&g->classes, classes, sizeof classes);
    fprintf(fp, "\nclasses: %s", classes);
    reef_error err;
    if (reef_graph_unsupported_ops(g, &err))
        fprintf(fp, "\n%s\n", err.msg);
    else
        fprintf(fp, "\nall operators are supported by reef's runtime\n");
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_int_list(reef_json *j, const char *key, const int32_t *list, int n)
{
    reef_json_key(j, key);
    reef_json_array(j);
    for (int i = 0; i < n; i++) reef_json_int(j, list[i]);
    reef_json_end(j);
}

static void print_ops_json(const reef_graph *g, reef_json *j)
{
    reef_json_key(j, "operators");
    reef_json_array(j);
    for (int i = 0; i < g->nops; i++) {
        const reef_op *op = &g->ops[i];
        char label[80], opts[96];
        op_label(op, label, sizeof label);
        options_text(op, opts, sizeof opts);
        reef_json_object(j);
        reef_json_kv_int(j, "index", i);
        reef_json_kv_string(j, "op", label);
        reef_json_kv_int(j, "builtin_code", op->builtin);
        reef_json_kv_int(j, "version", op->version);
        reef_json_kv_bool(j, "supported", reef_builtin_supported(op->builtin));
        json_int_list(j, "inputs", op->inputs, op->ninputs);
        json_int_list(j, "outputs", op->outputs, op->noutputs);
        reef_json_kv_string(j, "options", opts);
        reef_json_kv_int(j, "macs", reef_op_macs(g, op));
        reef_json_end(j);
    }
    reef_json_end(j);
}

static void print_tensor_json(const reef_tensor *t, int index, reef_json *j)
{
    reef_json_object(j);
    reef_json_kv_int(j, "index", index);
    reef_json_kv_string(j, "name", t->name);
    reef_json_kv_string(j, "type", reef_dtype_name(t->type));
    json_int_list(j, "shape", t->shape, t->rank);
    reef_json_key(j, "scale");
    reef_json_array(j);
    for (int q = 0; q < t->nquant; q++) reef_json_number(j, t->scale[q]);
    reef_json_end(j);
    reef_json_key(j, "zero_point");
    reef_json_array(j);
    for (int q = 0; q < t->nquant; q++) reef_json_int(j, t->zero_point[q]);
    reef_json_end(j);
    if (t->nquant > 1) reef_json_kv_int(j, "quantized_dimension", t->quant_dim);
    reef_json_kv_int(j, "bytes", (int64_t)(t->data ? t->data_size : tensor_bytes(t)));
    reef_json_kv_bool(j, "constant", t->data != NULL);
    reef_json_end(j);
}

static void print_totals_json(const reef_graph *g, reef_json *j)
{
    reef_json_kv_int(j, "macs", reef_graph_macs(g));
    reef_json_kv_int(j, "parameter_bytes", (int64_t)reef_graph_param_bytes(g));
    reef_json_key(j, "classes");  // the outputs' names; empty when the file records none
    reef_json_array(j);
    for (int k = 0; k < g->classes.count; k++) reef_json_string(j, reef_class_name(&g->classes, k));
    reef_json_end(j);
    reef_json_key(j, "op_histogram");
    reef_json_object(j);
    histogram h;
    if (histogram_build(g, &h) == 0) {
        for (int k = 0; k < h.n; k++) reef_json_kv_int(j, h.label[k], h.count[k]);
        free(h.label);
        free(h.count);
    }
    reef_json_end(j);
    reef_json_key(j, "unsupported");
    reef_json_array(j);
    for (int i = 0; i < g->nops; i++) {
        if (reef_builtin_supported(g->ops[i].builtin)) continue;
        char label[80];
        op_label(&g->ops[i], label, sizeof label);
        reef_json_object(j);
        reef_json_kv_int(j, "op", i);
        reef_json_kv_string(j, "name", label);
        reef_json_end(j);
    }
    reef_json_end(j);
}

/* Every op check refuses: text lines or the JSON list "refused". */
static void print_refused(const reef_graph *g, FILE *fp, reef_json *j, reef_op_check_fn check, void *ctx)
{
    int refused = 0;
    if (j) {
        reef_json_key(j, "refused");
        reef_json_array(j);
    }
    for (int i = 0; i < g->nops; i++) {
        char why[512] = "", label[80];
        if (!check(g, i, why, sizeof why, ctx)) continue;
        op_label(&g->ops[i], label, sizeof label);
        if (j) {
            reef_json_object(j);
            reef_json_kv_int(j, "op", i);
            reef_json_kv_string(j, "name", label);
            reef_json_kv_string(j, "reason", why);
            reef_json_end(j);
        } else {
            fprintf(fp, "%s  op %d %s: %s\n", refused ? "" : "\nops reef gen refuses as written:\n", i, label, why);
        }
        refused++;
    }
    if (j)
        reef_json_end(j);
    else if (!refused)
        fprintf(fp, "\nevery op lowers to reef's runtime steps as written (types, quantization, shapes)\n");
}

void reef_graph_print_checked(const reef_graph *g, FILE *fp, int json, reef_op_check_fn check, void *ctx)
{
    if (!json) {
        reef_graph_print(g, fp, 0);
        if (check) print_refused(g, fp, NULL, check, ctx);
        return;
    }
    reef_json j;
    reef_json_begin(&j, fp);
    reef_json_object(&j);
    reef_json_kv_string(&j, "model", g->name ? g->name : "");
    reef_json_kv_string(&j, "description", g->description ? g->description : "");
    reef_json_kv_int(&j, "subgraphs", g->nsubgraphs);
    json_int_list(&j, "inputs", g->inputs, g->ninputs);
    json_int_list(&j, "outputs", g->outputs, g->noutputs);
    print_ops_json(g, &j);
    reef_json_key(&j, "tensors");
    reef_json_array(&j);
    for (int i = 0; i < g->ntensors; i++) print_tensor_json(&g->tensors[i], i, &j);
    reef_json_end(&j);
    print_totals_json(g, &j);
    if (check) print_refused(g, fp, &j, check, ctx);
    reef_json_end(&j);
    reef_json_finish(&j);
}

void reef_graph_print(const reef_graph *g, FILE *fp, int json)
{
    if (json) {
        reef_graph_print_checked(g, fp, 1, NULL, NULL);
        return;
    }
    print_ops_text(g, fp);
    fputc('\n', fp);
    print_tensors_text(g, fp);
    fputc('\n', fp);
    print_totals_text(g, fp);
}
