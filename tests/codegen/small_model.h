/* A small int8 model built in code for the codegen tests, with random
 * weights: PAD, CONV_2D, DEPTHWISE_CONV_2D (multiplier 2), ADD,
 * MAX_POOL_2D, MEAN, RESHAPE, per-channel FULLY_CONNECTED, SOFTMAX. */
#ifndef REEF_TESTS_CODEGEN_SMALL_MODEL_H
#define REEF_TESTS_CODEGEN_SMALL_MODEL_H

#include "testing.h"

#include "tflite/graph.h"
#include "util/rng.h"

static int add_act(reef_graph *g, const char *name, int32_t n, int32_t h, int32_t w, int32_t c, float scale,
                   int64_t zp)
{
    reef_error err;
    int32_t shape[4] = {n, h, w, c};
    int t = reef_graph_add_tensor(g, name, REEF_INT8, c ? 4 : 2, c ? shape : (int32_t[]){n, h}, &err);
    assert_true(t >= 0);
    assert_int_equal(reef_graph_set_quant(g, t, 1, &scale, &zp, 0, &err), 0);
    return t;
}

static int add_weights(reef_graph *g, const char *name, int rank, const int32_t *shape, int qdim, reef_rng *r)
{
    reef_error err;
    int t = reef_graph_add_tensor(g, name, REEF_INT8, rank, shape, &err);
    assert_true(t >= 0);
    int64_t n = reef_tensor_elements(&g->tensors[t]);
    int8_t *w = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) w[i] = (int8_t)((int)reef_rng_below(r, 255) - 127);
    assert_int_equal(reef_graph_set_data(g, t, w, (size_t)n, &err), 0);
    free(w);
    int nq = shape[qdim];
    float scale[64];
    int64_t zp[64] = {0};
    for (int i = 0; i < nq; i++) scale[i] = 0.002f + 0.001f * (float)i;
    assert_int_equal(reef_graph_set_quant(g, t, nq, scale, zp, qdim, &err), 0);
    return t;
}

static int add_bias(reef_graph *g, const char *name, int32_t n, reef_rng *r)
{
    reef_error err;
    int t = reef_graph_add_tensor(g, name, REEF_INT32, 1, &n, &err);
    int32_t b[64];
    for (int i = 0; i < n; i++) b[i] = (int32_t)reef_rng_below(r, 2000) - 1000;
    assert_int_equal(reef_graph_set_data(g, t, b, (size_t)n * 4, &err), 0);
    return t;
}

static void add_op(reef_graph *g, int32_t code, int32_t *in, int nin, int32_t out, const reef_op_options *o)
{
    reef_error err;
    if (reef_graph_add_op(g, code, in, nin, &out, 1, o, &err) < 0) fail_msg("%s", err.msg);
}

/* input 1x8x8x2 -> PAD 1 -> CONV 3x3 VALID ReLU (4) -> { DW 3x3 s2 (x2: 8),
 * CONV 1x1 s2 (8) } -> ADD -> MAXPOOL 2x2 -> MEAN(1,2) -> RESHAPE 1x8 ->
 * FC 5 -> SOFTMAX. */
static void build_small(reef_graph *g, int with_unsupported)
{
    reef_error err;
    reef_rng r;
    reef_rng_seed(&r, 7);
    assert_int_equal(reef_graph_init(g, "small", &err), 0);
    reef_op_options o;
    int32_t in = add_act(g, "input", 1, 8, 8, 2, 0.05f, 3);
    int32_t padded = add_act(g, "padded", 1, 10, 10, 2, 0.05f, 3);
    int32_t pads_shape[2] = {4, 2}, pads[8] = {0, 0, 1, 1, 1, 1, 0, 0};
    int32_t pt = reef_graph_add_tensor(g, "pads", REEF_INT32, 2, pads_shape, &err);
    assert_int_equal(reef_graph_set_data(g, pt, pads, sizeof pads, &err), 0);
    add_op(g, REEF_OP_PAD, (int32_t[]){in, pt}, 2, padded, NULL);

    int32_t c1 = add_act(g, "conv1", 1, 8, 8, 4, 0.04f, -128);
    reef_op_options_init(&o), o.padding = REEF_PAD_VALID, o.activation = REEF_ACT_RELU;
    add_op(g, REEF_OP_CONV_2D,
           (int32_t[]){padded, add_weights(g, "w1", 4, (int32_t[]){4, 3, 3, 2}, 0, &r),
                       add_bias(g, "b1", 4, &r)},
           3, c1, &o);
    int32_t d = add_act(g, "dw", 1, 4, 4, 8, 0.03f, 2);
    reef_op_options_init(&o), o.stride_h = o.stride_w = 2, o.depth_multiplier = 2;
    add_op(g, REEF_OP_DEPTHWISE_CONV_2D,
           (int32_t[]){c1, add_weights(g, "w2", 4, (int32_t[]){1, 3, 3, 8}, 3, &r), add_bias(g, "b2", 8, &r)},
           3, d, &o);
    int32_t p = add_act(g, "proj", 1, 4, 4, 8, 0.02f, -5);
    reef_op_options_init(&o), o.stride_h = o.stride_w = 2, o.activation = REEF_ACT_RELU6;
    add_op(g, REEF_OP_CONV_2D,
           (int32_t[]){c1, add_weights(g, "w3", 4, (int32_t[]){8, 1, 1, 4}, 0, &r), add_bias(g, "b3", 8, &r)},
           3, p, &o);
    int32_t sum = add_act(g, "sum", 1, 4, 4, 8, 0.06f, 1);
    add_op(g, REEF_OP_ADD, (int32_t[]){d, p}, 2, sum, NULL);
    int32_t mp = add_act(g, "maxpool", 1, 2, 2, 8, 0.06f, 1);
    reef_op_options_init(&o), o.stride_h = o.stride_w = 2, o.filter_h = o.filter_w = 2;
    add_op(g, REEF_OP_MAX_POOL_2D, (int32_t[]){sum}, 1, mp, &o);
    int32_t mean = add_act(g, "mean", 1, 1, 1, 8, 0.05f, 0);
    int32_t axes_shape[1] = {2}, axes[2] = {1, 2};
    int32_t at = reef_graph_add_tensor(g, "axes", REEF_INT32, 1, axes_shape, &err);
    assert_int_equal(reef_graph_set_data(g, at, axes, sizeof axes, &err), 0);
    reef_op_options_init(&o), o.keep_dims = 1;
    add_op(g, REEF_OP_MEAN, (int32_t[]){mp, at}, 2, mean, &o);
    int32_t flat = add_act(g, "flat", 1, 8, 0, 0, 0.05f, 0);
    add_op(g, REEF_OP_RESHAPE, (int32_t[]){mean}, 1, flat, NULL);
    int32_t logits = add_act(g, "logits", 1, 5, 0, 0, 0.1f, -3);
    add_op(g, REEF_OP_FULLY_CONNECTED,
           (int32_t[]){flat, add_weights(g, "w4", 2, (int32_t[]){5, 8}, 0, &r), add_bias(g, "b4", 5, &r)}, 3,
           logits, NULL);
    int32_t out = add_act(g, "probs", 1, 5, 0, 0, 1.0f / 256, -128);
    if (with_unsupported) { /* two ops reef has no kernel for, and a bad ADD */
        int32_t l = add_act(g, "resized", 1, 5, 0, 0, 1.0f / 256, -128);
        add_op(g, 97 /* RESIZE_NEAREST_NEIGHBOR */, (int32_t[]){logits}, 1, l, NULL);
        int32_t t2 = add_act(g, "sliced", 1, 5, 0, 0, 1.0f / 128, 0);
        add_op(g, 45 /* STRIDED_SLICE */, (int32_t[]){l}, 1, t2, NULL);
        int32_t bad = add_act(g, "bad_add", 1, 4, 4, 8, 0.06f, 1);
        add_op(g, REEF_OP_ADD, (int32_t[]){sum, mp}, 2, bad, NULL);
    }
    add_op(g, REEF_OP_SOFTMAX, (int32_t[]){logits}, 1, out, NULL);
    assert_int_equal(reef_graph_set_io(g, &in, 1, &out, 1, &err), 0);
}

#endif
