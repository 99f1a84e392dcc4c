/* The four MLPerf Tiny reference models (../shared/models) and what
 * ../shared/models/README.md and manifest.csv say about them. */
#ifndef REEF_TESTS_TFLITE_MODELS_H
#define REEF_TESTS_TFLITE_MODELS_H

#include <stdint.h>

typedef struct op_count {
    int32_t builtin;
    int count;
} op_count;

typedef struct mlperf_model {
    const char *key;
    const char *file;          /* under ../shared */
    int in_rank, out_rank;
    int32_t in_shape[4], out_shape[4];
    double in_scale, out_scale;
    int in_zp, out_zp;
    double anchor_macs;        /* ../shared/notes/anchors.md */
    double anchor_tol;         /* half a unit of its last digit */
    int64_t macs;              /* counted by reef_graph_macs, pinned */
    op_count ops[8];           /* histogram; count 0 ends it */
} mlperf_model;

static const mlperf_model mlperf_models[] = {
    {"kws", "models/models/kws_ref_model.tflite", 4, 2, {1, 49, 10, 1}, {1, 12}, 0.584702909, 0.00390625, 83, -128,
     2.66e6, 0.005e6, 2656768,
     {{3, 5}, {4, 4}, {1, 1}, {22, 1}, {9, 1}, {25, 1}}},
    {"vww", "models/models/vww_96_int8.tflite", 4, 2, {1, 96, 96, 3}, {1, 2}, 0.00392156886, 0.00390625, -128,
     -128, 7.49e6, 0.005e6, 7489664,
     {{3, 14}, {4, 13}, {1, 1}, {22, 1}, {9, 1}, {25, 1}}},
    {"ic", "models/models/pretrainedResnet_quant.tflite", 4, 2, {1, 32, 32, 3}, {1, 10}, 1.0, 0.00390625, -128,
     -128, 12.5e6, 0.05e6, 12501632,
     {{3, 9}, {0, 3}, {1, 1}, {22, 1}, {9, 1}, {25, 1}}},
    {"ad", "models/models/ad01_int8.tflite", 2, 2, {1, 640}, {1, 640}, 0.391015232, 0.364498466, 89, 96, 0.26e6, 0.005e6, 264192,
     {{9, 10}}},
};
#define MLPERF_NMODELS 4

#endif
