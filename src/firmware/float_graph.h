/* The float model as a float32 TFLite-style graph, for the float build
 * (`reef report`'s float column): batch norm folded into the weighted
 * layers (reef_fold_bn, the quantizer's folding), the same ops and
 * paddings as the int8 graph of src/quant, float32 everywhere. Input
 * (1, H, W, C) normalized floats x = (p/255 - mean)/std; output the
 * (1, classes) logits (no softmax: argmax is the same). */
#ifndef REEF_FIRMWARE_FLOAT_GRAPH_H
#define REEF_FIRMWARE_FLOAT_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "tflite/graph.h"
#include "util/err.h"

/* Builds g from m (inference mode). g is empty on failure. */
int reef_float_graph_from_model(const reef_model *m, reef_graph *g, reef_error *err);

/* The float input of one sample: out (H*W*C) = (p/255 - mean[c]) / std[c]. */
void reef_float_input(const reef_norm *norm, const uint8_t *pixels, size_t count, float *out);

#endif
