/* A tiny synthetic model and dataset for the run tests: 8x8x1 images of two
 * classes (a bright square in the top-left corner or not, plus noise), a
 * network with every op kind fish-s uses (conv stem, MBConv with depthwise
 * and a residual ADD, head, global average pooling, classifier), weights
 * from a fixed seed (trained a few epochs when asked), and its int8 graph
 * from the quantizer. */
#ifndef REEF_TESTS_RUN_FIXTURE_H
#define REEF_TESTS_RUN_FIXTURE_H

#include "testing.h"

#include "data/dataset.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "nn/train.h"
#include "quant/quant.h"
#include "tflite/graph.h"
#include "util/rng.h"

#define FIX_H 8
#define FIX_W 8

static const char fixture_arch_text[] = "name tiny; input 8x8x1; stem k3 s2 c8 relu6; mbconv k3 e2 c8 s1 skip; "
                                        "head c16 relu6; gap; fc";

/* n samples in memory (free with reef_dataset_free). */
static inline void fixture_run_dataset(reef_dataset *ds, uint32_t n, uint64_t seed)
{
    static const char *classes[2] = {"empty", "square"};
    static const char *groups[1] = {"all"};
    reef_error err;
    memset(ds, 0, sizeof *ds);
    uint8_t *pixels = malloc((size_t)n * FIX_H * FIX_W);
    uint16_t *labels = malloc(n * sizeof *labels), *grp = calloc(n, sizeof *grp);
    const char **ids = malloc(n * sizeof *ids);
    assert_true(pixels && labels && grp && ids);
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < n; i++) {
        labels[i] = (uint16_t)(i % 2);
        ids[i] = labels[i] ? "square" : "empty";
        for (int y = 0; y < FIX_H; y++)
            for (int x = 0; x < FIX_W; x++) {
                int v = (int)(reef_rng_u32(&rng) % 64) + (labels[i] && y < 4 && x < 4 ? 150 : 20);
                pixels[((size_t)i * FIX_H + y) * FIX_W + x] = (uint8_t)v;
            }
    }
    ds->count = n, ds->height = FIX_H, ds->width = FIX_W, ds->channels = 1;
    ds->num_classes = 2, ds->num_groups = 1;
    ds->pixels = pixels, ds->labels = labels, ds->groups = grp;
    ds->class_names = classes, ds->group_names = groups, ds->ids = ids;
    if (reef_dataset_own(ds, pixels, &err) || reef_dataset_own(ds, labels, &err) || reef_dataset_own(ds, grp, &err) ||
        reef_dataset_own(ds, ids, &err))
        fail_msg("%s", err.msg);
}

/* The untrained float model with a normalization that fits the data. */
static inline void fixture_run_model(reef_model *m)
{
    reef_arch a;
    reef_error err;
    if (reef_arch_parse(fixture_arch_text, "fixture", &a, &err)) fail_msg("%s", err.msg);
    if (reef_model_build(m, &a, FIX_H, FIX_W, 1, 2, 7, &err)) fail_msg("%s", err.msg);
    m->norm.channels = 1, m->norm.mean[0] = 0.3f, m->norm.std[0] = 0.25f;
}

/* A few epochs on ds, so that accuracies mean something. */
static inline void fixture_run_train(reef_model *m, const reef_dataset *ds, int epochs)
{
    reef_train_cfg cfg;
    reef_trainer t;
    reef_epoch_stats st;
    reef_error err;
    reef_train_cfg_default(&cfg);
    cfg.epochs = epochs, cfg.batch = 8, cfg.threads = 1;
    if (reef_model_set_batch(m, cfg.batch, cfg.threads, &err) || reef_trainer_init(&t, m, ds, &cfg, &err))
        fail_msg("%s", err.msg);
    for (int e = 0; e < epochs; e++) assert_int_equal(reef_trainer_epoch(&t, &st, NULL, NULL, NULL), 0);
    reef_trainer_free(&t);
}

/* Its int8 graph, calibrated on ds. */
static inline void fixture_run_quantize(reef_model *m, const reef_dataset *ds, reef_graph *g)
{
    reef_quant_options o;
    reef_error err;
    reef_quant_options_default(&o);
    o.samples = (int)ds->count, o.agreement = 0;
    if (reef_quantize(m, ds, &o, g, NULL, &err)) fail_msg("%s", err.msg);
}

#endif
