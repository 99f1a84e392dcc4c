/* reef's in-memory model graph: a TFLite subgraph, decoded. The .tflite
 * reader produces it, `reef quantize` builds it, and the .tflite writer,
 * the host interpreter and the C generator consume it. It mirrors the TFLite
 * schema (tensor, operator, builtin options) so that nothing is lost on a
 * round trip; layouts are TFLite's: activations NHWC, conv filters OHWI,
 * depthwise filters 1HW(C*M), fully-connected weights (OUT, IN). */
#ifndef REEF_TFLITE_GRAPH_H
#define REEF_TFLITE_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/classes.h"
#include "util/err.h"

/* TFLite TensorType values (schema.fbs). */
typedef enum reef_dtype {
    REEF_FLOAT32 = 0,
    REEF_FLOAT16 = 1,
    REEF_INT32 = 2,
    REEF_UINT8 = 3,
    REEF_INT64 = 4,
    REEF_BOOL = 6,
    REEF_INT16 = 7,
    REEF_INT8 = 9,
} reef_dtype;

/* TFLite BuiltinOperator values (schema.fbs) for the ops reef knows by
 * name. Other codes are kept as they are and reported as unsupported. */
typedef enum reef_builtin {
    REEF_OP_ADD = 0,
    REEF_OP_AVERAGE_POOL_2D = 1,
    REEF_OP_CONCATENATION = 2,
    REEF_OP_CONV_2D = 3,
    REEF_OP_DEPTHWISE_CONV_2D = 4,
    REEF_OP_DEQUANTIZE = 6,
    REEF_OP_FULLY_CONNECTED = 9,
    REEF_OP_LOGISTIC = 14,
    REEF_OP_MAX_POOL_2D = 17,
    REEF_OP_MUL = 18,
    REEF_OP_RELU = 19,
    REEF_OP_RELU_N1_TO_1 = 20,
    REEF_OP_RELU6 = 21,
    REEF_OP_RESHAPE = 22,
    REEF_OP_RESIZE_BILINEAR = 23,
    REEF_OP_SOFTMAX = 25,
    REEF_OP_TANH = 28,
    REEF_OP_PAD = 34,
    REEF_OP_STRIDED_SLICE = 45,
    REEF_OP_SPLIT = 49,
    REEF_OP_MEAN = 40,
    REEF_OP_SUB = 41,
    REEF_OP_TRANSPOSE = 39,
    REEF_OP_SQUEEZE = 43,
    REEF_OP_SLICE = 65,
    REEF_OP_TRANSPOSE_CONV = 67,
    REEF_OP_MAXIMUM = 55,
    REEF_OP_ARG_MAX = 56,
    REEF_OP_PADV2 = 60,
    REEF_OP_EXPAND_DIMS = 70,
    REEF_OP_MINIMUM = 57,
    REEF_OP_PRELU = 54,
    REEF_OP_REDUCE_MAX = 82,
    REEF_OP_PACK = 83,
    REEF_OP_UNPACK = 88,
    REEF_OP_RESIZE_NEAREST_NEIGHBOR = 97,
    REEF_OP_LEAKY_RELU = 98,
    REEF_OP_SPLIT_V = 102,
    REEF_OP_QUANTIZE = 114,
    REEF_OP_HARD_SWISH = 117,
} reef_builtin;

/* TFLite Padding and ActivationFunctionType values. */
typedef enum { REEF_PAD_SAME = 0, REEF_PAD_VALID = 1 } reef_padding;
typedef enum {
    REEF_ACT_NONE = 0,
    REEF_ACT_RELU = 1,
    REEF_ACT_RELU_N1_TO_1 = 2,
    REEF_ACT_RELU6 = 3,
} reef_fused_act;

#define REEF_MAX_RANK 6
/* Name of the Model.metadata entry whose buffer holds the class names. */
#define REEF_TFLITE_CLASS_NAMES "reef_class_names"
/* TFLite Micro's CONCATENATION takes up to 10 inputs (kMaxInputNum). */
#define REEF_MAX_OP_IO 10

typedef struct reef_tensor {
    char *name;
    reef_dtype type;
    int rank;
    int32_t shape[REEF_MAX_RANK];
    /* Quantization: real = scale * (q - zero_point). nquant is 0 (none),
     * 1 (per tensor) or shape[quant_dim] (per channel). */
    int nquant;
    float *scale;        /* (nquant) */
    int64_t *zero_point; /* (nquant) */
    int quant_dim;
    /* Constant data (weights, biases, shapes), little-endian as in the
     * file, or NULL for activations. */
    const uint8_t *data;
    size_t data_size;
} reef_tensor;

typedef struct reef_op_options {
    /* CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D */
    reef_padding padding;
    int stride_w, stride_h;
    int dilation_w, dilation_h;  /* conv only; 1 when absent */
    int filter_w, filter_h;      /* pools only */
    int depth_multiplier;        /* depthwise only */
    /* every op with a fused activation */
    reef_fused_act activation;
    /* FULLY_CONNECTED */
    int keep_num_dims;
    /* CONV_2D, FULLY_CONNECTED: the TensorType of the bias a bias-less 16x8
     * op accumulates as (0 FLOAT32, the default: int64; 2 INT32) */
    int quantized_bias_type;
    /* SOFTMAX */
    float beta;
    /* RESHAPE (new_shape option, when given), SQUEEZE dims */
    int nnew_shape;
    int32_t new_shape[REEF_MAX_RANK];
    /* MEAN */
    int keep_dims;
    /* CONCATENATION, PACK, UNPACK */
    int axis;
    /* SPLIT, SPLIT_V num_splits; PACK values_count; UNPACK num */
    int count;
    /* RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR */
    int align_corners, half_pixel_centers;
    /* STRIDED_SLICE */
    int begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask, offset;
    /* LEAKY_RELU */
    float alpha;
} reef_op_options;

typedef struct reef_op {
    int32_t builtin;          /* reef_builtin or another TFLite code */
    int32_t version;
    char *custom_code;        /* for CUSTOM ops, else NULL */
    int ninputs, noutputs;
    int32_t inputs[REEF_MAX_OP_IO];  /* tensor indices, -1 = optional absent */
    int32_t outputs[REEF_MAX_OP_IO];
    reef_op_options opt;
} reef_op;

typedef struct reef_graph {
    char *name;               /* model name (used for generated C symbols) */
    char *description;
    int ntensors;
    reef_tensor *tensors;
    int nops;
    reef_op *ops;
    int ninputs, noutputs;
    int32_t inputs[REEF_MAX_OP_IO];
    int32_t outputs[REEF_MAX_OP_IO];
    int nsubgraphs;           /* in the file read; only subgraph 0 is read */
    /* The outputs' class names, as metadata "reef_class_names" (count 0:
     * none, e.g. a file from before reef wrote them, or not reef's). The
     * blob belongs to the graph: never reef_class_names_free it. */
    reef_class_names classes;
    void *owner_;             /* file bytes / allocations; private */
} reef_graph;

/* Reads a .tflite file; every offset and index is validated, and an error
 * names the file and what is wrong. Constant data is 16-byte aligned and
 * its size is checked against the tensor's shape and type; options of the
 * ops reef knows are checked (strides, filter sizes and dilations >= 1).
 * Operators reef does not know are kept by code (see
 * reef_graph_unsupported_ops). On failure g is left empty (nothing to
 * free, though reef_graph_free is harmless). */
int reef_tflite_read(const char *path, reef_graph *g, reef_error *err);
/* Same, from bytes in memory (copied; the caller keeps its buffer). */
int reef_tflite_read_buffer(const uint8_t *data, size_t size, const char *name,
                            reef_graph *g, reef_error *err);
/* Writes g as a .tflite file (schema version 3), atomically. */
int reef_tflite_write(const char *path, const reef_graph *g, reef_error *err);
/* Serializes to a malloc'd buffer (caller frees). */
int reef_tflite_serialize(const reef_graph *g, uint8_t **data, size_t *size, reef_error *err);
void reef_graph_free(reef_graph *g);

/* Helpers */
const char *reef_builtin_name(int32_t builtin);   /* "CONV_2D", or "UNKNOWN" */
const char *reef_dtype_name(reef_dtype t);
int64_t reef_tensor_elements(const reef_tensor *t);
/* Multiply-accumulates of one op (0 for ops without them). */
int64_t reef_op_macs(const reef_graph *g, const reef_op *op);

/* Name and whether reef's runtime runs it (CONV_2D, DEPTHWISE_CONV_2D,
 * FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, SOFTMAX, RESHAPE,
 * PAD, QUANTIZE, DEQUANTIZE). */
int reef_builtin_supported(int32_t builtin);
/* Number of ops of g the runtime cannot run (0 = all supported). When there
 * are some, err lists every one at once: "3 unsupported operators: LOGISTIC
 * (op 4), ...", so a command can refuse the model with that message. */
int reef_graph_unsupported_ops(const reef_graph *g, reef_error *err);
/* Total MACs and bytes of constant data. */
int64_t reef_graph_macs(const reef_graph *g);
size_t reef_graph_param_bytes(const reef_graph *g);
/* Prints what `reef inspect` shows: ops, tensors, totals, unsupported ops;
 * as text tables, or as one JSON object when json is nonzero. */
void reef_graph_print(const reef_graph *g, FILE *fp, int json);

/* Whether op i of g runs as it is written (its types, quantization,
 * shapes, options), beyond its builtin being one reef runs: returns 1 and
 * writes the reason into why when it does not. `reef inspect` passes the
 * lowering's own check (src/codegen: reef_lower_op_check). */
typedef int (*reef_op_check_fn)(const reef_graph *g, int op, char *why, size_t size, void *ctx);
/* reef_graph_print, then every op check refuses, all at once, with its
 * index and reason (text: after the totals; JSON: "refused", a list of
 * {op, name, reason}). */
void reef_graph_print_checked(const reef_graph *g, FILE *fp, int json, reef_op_check_fn check, void *ctx);

/* ---- building a graph in code ------------------------------------------
 *   reef_graph g; reef_graph_init(&g, "fish", &err);
 *   int32_t shape[4] = {1, 32, 32, 1};
 *   int in = reef_graph_add_tensor(&g, "input", REEF_INT8, 4, shape, &err);
 *   reef_graph_set_quant(&g, in, 1, &scale, &zp, 0, &err);
 *   ... reef_graph_set_data(&g, w, weights, bytes, &err);
 *   reef_op_options o; reef_op_options_init(&o); o.stride_w = o.stride_h = 2;
 *   int32_t ins[3] = {in, w, b}, outs[1] = {out};
 *   reef_graph_add_op(&g, REEF_OP_CONV_2D, ins, 3, outs, 1, &o, &err);
 *   reef_graph_set_io(&g, &in, 1, &probs, 1, &err);
 *   reef_tflite_write("fish.tflite", &g, &err); reef_graph_free(&g);
 * Everything given is copied. Functions return 0 (add_*: the new index) or
 * -1 with err set; on failure the graph stays valid and freeable. */
int reef_graph_init(reef_graph *g, const char *name, reef_error *err);
int reef_graph_add_tensor(reef_graph *g, const char *name, reef_dtype type, int rank,
                          const int32_t *shape, reef_error *err);
/* nquant scales and zero points: 1 (per tensor) or shape[quant_dim]. */
int reef_graph_set_quant(reef_graph *g, int tensor, int nquant, const float *scale,
                         const int64_t *zero_point, int quant_dim, reef_error *err);
/* Constant data, little-endian; size must be elements * type size. */
int reef_graph_set_data(reef_graph *g, int tensor, const void *data, size_t size, reef_error *err);
/* Defaults: SAME padding, strides/dilations/filter/depth multiplier 1,
 * no activation, beta 1. */
void reef_op_options_init(reef_op_options *opt);
/* opt may be NULL (defaults); version 1. */
int reef_graph_add_op(reef_graph *g, int32_t builtin, const int32_t *inputs, int ninputs,
                      const int32_t *outputs, int noutputs, const reef_op_options *opt, reef_error *err);
int reef_graph_set_io(reef_graph *g, const int32_t *inputs, int ninputs, const int32_t *outputs,
                      int noutputs, reef_error *err);
int reef_graph_set_description(reef_graph *g, const char *description, reef_error *err);
/* Copies c into the graph (c->count 0 clears them). */
int reef_graph_set_class_names(reef_graph *g, const reef_class_names *c, reef_error *err);

#endif
