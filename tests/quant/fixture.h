/* Test fixtures for the quantizer: a synthetic image set that a tiny
 * network learns in a few epochs, and that network, trained. */
#ifndef REEF_TESTS_QUANT_FIXTURE_H
#define REEF_TESTS_QUANT_FIXTURE_H

#include "testing.h"

#include "data/dataset.h"
#include "nn/model.h"
#include "nn/train.h"
#include "util/rng.h"

#define FIX_SIZE 16

/* A tiny MBConv network with every layer kind the quantizer handles:
 * conv+BN+ReLU6, depthwise, projection without activation, residual add,
 * average pooling, global average pooling, dropout, fc. */
static const char fixture_arch[] = "name tiny-q\n"
                                   "input 16x16x1\n"
                                   "stem k3 s1 c8 relu6\n"
                                   "mbconv k3 e2 c8 s1 skip\n"
                                   "avgpool k2 s2\n"
                                   "mbconv k3 e3 c12 s2\n"
                                   "head c16 relu6\n"
                                   "gap\n"
                                   "dropout 0.1\n"
                                   "fc\n";

static const char *fixture_classes[] = {"empty", "blob"};
static const char *fixture_groups[] = {"dark", "light"};
static const char *fixture_id = "synthetic";

/* count 16x16 gray images: noise on a background of level 60 (group 0) or
 * 120 (group 1); class 1 adds a faint 4x4 square somewhere (hard
 * enough that the network is not perfect). */
static inline void fixture_dataset(reef_dataset *ds, uint32_t count, uint64_t seed)
{
    reef_error err;
    memset(ds, 0, sizeof *ds);
    ds->count = count, ds->height = ds->width = FIX_SIZE, ds->channels = 1;
    ds->num_classes = 2, ds->num_groups = 2;
    uint8_t *px = malloc((size_t)count * FIX_SIZE * FIX_SIZE);
    uint16_t *labels = malloc(count * sizeof *labels), *groups = malloc(count * sizeof *groups);
    const char **ids = malloc(count * sizeof *ids);
    assert_true(px && labels && groups && ids);
    reef_rng r;
    reef_rng_seed(&r, seed);
    for (uint32_t i = 0; i < count; i++) {
        labels[i] = (uint16_t)(reef_rng_u32(&r) & 1);
        groups[i] = (uint16_t)(reef_rng_u32(&r) & 1);
        ids[i] = fixture_id;
        uint8_t *img = px + (size_t)i * FIX_SIZE * FIX_SIZE;
        const int bg = groups[i] ? 120 : 60;
        for (int k = 0; k < FIX_SIZE * FIX_SIZE; k++) img[k] = (uint8_t)(bg + (int)reef_rng_below(&r, 40));
        if (labels[i]) {
            const int y0 = (int)reef_rng_below(&r, FIX_SIZE - 4), x0 = (int)reef_rng_below(&r, FIX_SIZE - 4);
            for (int y = y0; y < y0 + 4; y++)
                for (int x = x0; x < x0 + 4; x++) img[y * FIX_SIZE + x] = (uint8_t)(bg + 30 + reef_rng_below(&r, 40));
        }
    }
    ds->pixels = px, ds->labels = labels, ds->groups = groups, ds->ids = ids;
    ds->class_names = fixture_classes, ds->group_names = fixture_groups;
    assert_int_equal(reef_dataset_own(ds, px, &err), 0);
    assert_int_equal(reef_dataset_own(ds, labels, &err), 0);
    assert_int_equal(reef_dataset_own(ds, groups, &err), 0);
    assert_int_equal(reef_dataset_own(ds, (void *)ids, &err), 0);
}

/* The tiny network trained for `epochs` on train (untrained when 0). */
static inline void fixture_model(reef_model *m, const reef_dataset *train, int epochs)
{
    reef_arch a;
    reef_error err;
    if (reef_arch_parse(fixture_arch, "fixture", &a, &err)) fail_msg("%s", err.msg);
    if (reef_model_build(m, &a, FIX_SIZE, FIX_SIZE, 1, 2, 7, &err)) fail_msg("%s", err.msg);
    reef_train_cfg cfg;
    reef_train_cfg_default(&cfg);
    cfg.batch = 32, cfg.threads = 1, cfg.epochs = epochs > 0 ? epochs : 1;
    reef_norm_from_dataset(&m->norm, train);
    if (reef_model_set_batch(m, cfg.batch, cfg.threads, &err)) fail_msg("%s", err.msg);
    if (epochs <= 0) return;
    reef_trainer t;
    if (reef_trainer_init(&t, m, train, &cfg, &err)) fail_msg("%s", err.msg);
    for (int e = 0; e < epochs; e++) {
        reef_epoch_stats st;
        reef_trainer_epoch(&t, &st, NULL, NULL, NULL);
    }
    reef_trainer_free(&t);
}

/* Gives every batch-norm layer non-trivial statistics (so folding is
 * actually exercised by an untrained model). */
static inline void fixture_random_bn(reef_model *m, uint64_t seed)
{
    reef_rng r;
    reef_rng_seed(&r, seed);
    for (int bi = 0; bi < m->nblocks; bi++)
        for (int li = 0; li < m->blocks[bi].nlayers; li++) {
            reef_layer *L = &m->blocks[bi].layers[li];
            if (!L->has_bn) continue;
            for (int o = 0; o < L->dims.oc; o++) {
                L->gamma[o] = 0.5f + reef_rng_uniform(&r);
                L->beta[o] = reef_rng_uniform(&r) - 0.5f;
                L->run_mean[o] = 0.4f * (reef_rng_uniform(&r) - 0.5f);
                L->run_var[o] = 0.2f + 2.0f * reef_rng_uniform(&r);
            }
        }
}

#endif
