/* Field-by-field comparison of two graphs, failing at the first difference
 * with what differs. The model name is not compared (the reader takes it
 * from the file name). */
#ifndef REEF_TESTS_TFLITE_GRAPH_COMPARE_H
#define REEF_TESTS_TFLITE_GRAPH_COMPARE_H

#include "testing.h"
#include "tflite/graph.h"

static inline void compare_tensor(const reef_tensor *a, const reef_tensor *b, int i)
{
    if (strcmp(a->name, b->name)) fail_msg("tensor %d: name '%s' vs '%s'", i, a->name, b->name);
    if (a->type != b->type || a->rank != b->rank) fail_msg("tensor %d: type or rank differs", i);
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d]) fail_msg("tensor %d: dimension %d differs", i, d);
    if (a->nquant != b->nquant) fail_msg("tensor %d: %d vs %d scales", i, a->nquant, b->nquant);
    if (a->nquant && a->quant_dim != b->quant_dim) fail_msg("tensor %d: quantized dimension differs", i);
    for (int q = 0; q < a->nquant; q++)
        if (memcmp(&a->scale[q], &b->scale[q], sizeof(float)) || a->zero_point[q] != b->zero_point[q])
            fail_msg("tensor %d: quantization %d differs", i, q);
    if ((a->data == NULL) != (b->data == NULL) || a->data_size != b->data_size)
        fail_msg("tensor %d: constant data %zu vs %zu bytes", i, a->data_size, b->data_size);
    if (a->data_size && memcmp(a->data, b->data, a->data_size)) fail_msg("tensor %d: constant bytes differ", i);
}

static inline void compare_op(const reef_op *a, const reef_op *b, int i)
{
    if (a->builtin != b->builtin || a->version != b->version)
        fail_msg("op %d: code %d v%d vs %d v%d", i, a->builtin, a->version, b->builtin, b->version);
    if ((a->custom_code == NULL) != (b->custom_code == NULL) ||
        (a->custom_code && strcmp(a->custom_code, b->custom_code)))
        fail_msg("op %d: custom code differs", i);
    if (a->ninputs != b->ninputs || a->noutputs != b->noutputs ||
        memcmp(a->inputs, b->inputs, (size_t)a->ninputs * sizeof(int32_t)) ||
        memcmp(a->outputs, b->outputs, (size_t)a->noutputs * sizeof(int32_t)))
        fail_msg("op %d: inputs or outputs differ", i);
    /* every field of the options (all 4-byte, so no padding) */
    if (memcmp(&a->opt, &b->opt, sizeof a->opt)) fail_msg("op %d (%s): options differ", i, reef_builtin_name(a->builtin));
}

static inline void compare_graphs(const reef_graph *a, const reef_graph *b)
{
    assert_int_equal(a->ntensors, b->ntensors);
    assert_int_equal(a->nops, b->nops);
    assert_int_equal(a->ninputs, b->ninputs);
    assert_int_equal(a->noutputs, b->noutputs);
    assert_memory_equal(a->inputs, b->inputs, (size_t)a->ninputs * sizeof(int32_t));
    assert_memory_equal(a->outputs, b->outputs, (size_t)a->noutputs * sizeof(int32_t));
    if (a->description && b->description) assert_string_equal(a->description, b->description);
    assert_int_equal(a->classes.count, b->classes.count);
    assert_int_equal(a->classes.size, b->classes.size);
    if (a->classes.size) assert_memory_equal(a->classes.blob, b->classes.blob, a->classes.size);
    for (int i = 0; i < a->ntensors; i++) compare_tensor(&a->tensors[i], &b->tensors[i], i);
    for (int i = 0; i < a->nops; i++) compare_op(&a->ops[i], &b->ops[i], i);
}

#endif
