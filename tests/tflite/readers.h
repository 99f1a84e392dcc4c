/* What the tests of the second readers (test_second_reader.c: Arm NN;
 * test_tfjs_reader.c: TensorFlow Lite) share: how their outputs are compared
 * with reef's, and a network reef quantized itself. */
#ifndef REEF_TESTS_TFLITE_READERS_H
#define REEF_TESTS_TFLITE_READERS_H

#include "testing.h"

#include "data/dataset.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/rng.h"

static inline int argmax(const int8_t *v, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

typedef struct agreement {
    int inputs, same_class, max_diff;
} agreement;

/* fish-nas with random weights, quantized by reef on random pictures. */
static inline void quantized_fish_nas(reef_graph *g)
{
    reef_error err;
    reef_arch a;
    reef_model m;
    if (reef_arch_resolve("fish-nas", &a, &err) || reef_model_build(&m, &a, 32, 32, 1, 2, 3, &err))
        fail_msg("%s", err.msg);
    static const char *names[2] = {"no_fish", "fish"};  // so the files carry reef's metadata too
    if (reef_class_names_pack(&m.classes, names, 2, &err)) fail_msg("%s", err.msg);
    enum { N = 32 };
    static uint8_t pixels[N * 32 * 32];
    static uint16_t labels[N], groups[N];
    static const char *group[1] = {"all"}, *ids[N];
    reef_rng rng;
    reef_rng_seed(&rng, 5);
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)reef_rng_below(&rng, 256);
    for (int i = 0; i < N; i++) labels[i] = (uint16_t)(i % 2), ids[i] = "x";
    reef_dataset ds = {.count = N, .height = 32, .width = 32, .channels = 1, .num_classes = 2, .num_groups = 1,
                       .pixels = pixels, .labels = labels, .groups = groups, .class_names = names,
                       .group_names = group, .ids = ids};
    reef_quant_options o;
    reef_quant_options_default(&o);
    o.samples = N, o.agreement = 0;
    reef_quant_report rep;
    if (reef_quantize(&m, &ds, &o, g, &rep, &err)) fail_msg("%s", err.msg);
    reef_quant_report_free(&rep);
    reef_model_free(&m);
}

#endif
