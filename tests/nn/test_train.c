/* Trainer, architecture specs, checkpoints: overfitting a tiny set,
 * bit-identical reruns, resume = uninterrupted run, checkpoint round trip
 * and corruption, and the error messages for bad specs and data. */
#include "testing.h"

#include <math.h>
#include <zlib.h>

#include "nn/arch.h"
#include "nn/checkpoint.h"
#include "nn/metrics.h"
#include "nn/model.h"
#include "nn/train.h"
#include "util/io.h"

/* ---- a dataset built in memory --------------------------------------------- */

typedef struct mem_ds {
    reef_dataset ds;
    uint8_t *pixels;
    uint16_t *labels, *groups;
} mem_ds;

static const char *class_names[] = {"a", "b", "c", "d"};
static const char *group_names[] = {"g0", "g1"};

/* count random images h x w x 1 with random labels from k classes. */
static void mem_ds_make(mem_ds *d, uint32_t count, int h, int w, int k, uint64_t seed)
{
    reef_rng rng;
    reef_rng_seed(&rng, seed);
    d->pixels = malloc((size_t)count * h * w);
    d->labels = malloc(count * sizeof *d->labels);
    d->groups = malloc(count * sizeof *d->groups);
    for (size_t i = 0; i < (size_t)count * h * w; i++) d->pixels[i] = (uint8_t)reef_rng_below(&rng, 256);
    for (uint32_t i = 0; i < count; i++) d->labels[i] = (uint16_t)(i % k), d->groups[i] = (uint16_t)(i % 2);
    memset(&d->ds, 0, sizeof d->ds);
    d->ds.count = count, d->ds.height = h, d->ds.width = w, d->ds.channels = 1;
    d->ds.num_classes = k, d->ds.num_groups = 2;
    d->ds.pixels = d->pixels, d->ds.labels = d->labels, d->ds.groups = d->groups;
    d->ds.class_names = class_names, d->ds.group_names = group_names;
}

static void mem_ds_free(mem_ds *d)
{
    free(d->pixels);
    free(d->labels);
    free(d->groups);
}

static const char *tiny_spec = "name tiny; input 8x8x1; stem k3 s1 c8; mbconv k3 e2 c8 s1; mbconv k3 e2 c12 s2; gap; fc";

static void tiny_cfg(reef_train_cfg *cfg, int epochs, int threads)
{
    reef_train_cfg_default(cfg);
    cfg->epochs = epochs, cfg->batch = 8, cfg->threads = threads;
    cfg->opt.lr = 1e-2f;
    cfg->label_smoothing = 0;
    cfg->aug = (reef_augment){0};
}

static void build_tiny(reef_model *m, const reef_train_cfg *cfg, const reef_dataset *ds)
{
    reef_arch a;
    reef_error err;
    if (reef_arch_parse(tiny_spec, "tiny", &a, &err)) fail_msg("%s", err.msg);
    if (reef_model_build(m, &a, 8, 8, 1, (int)ds->num_classes, cfg->seed, &err)) fail_msg("%s", err.msg);
    reef_norm_from_dataset(&m->norm, ds);
    assert_int_equal(reef_model_set_batch(m, cfg->batch, cfg->threads, &err), 0);
}

/* Trains `epochs` more epochs of t. */
static void run_epochs(reef_trainer *t, int epochs)
{
    for (int e = 0; e < epochs; e++) {
        reef_epoch_stats st;
        assert_int_equal(reef_trainer_epoch(t, &st, NULL, NULL, NULL), 0);
    }
}

/* ---- tests --------------------------------------------------------------------- */

static void test_overfit_tiny_set(void **state)
{
    (void)state;
    mem_ds d;
    mem_ds_make(&d, 24, 8, 8, 4, 11);  // random pixels, so only memorizing works
    reef_train_cfg cfg;
    tiny_cfg(&cfg, 80, 2);
    reef_model m;
    build_tiny(&m, &cfg, &d.ds);
    reef_trainer t;
    reef_error err;
    assert_int_equal(reef_trainer_init(&t, &m, &d.ds, &cfg, &err), 0);
    double before = reef_evaluate(&m, &d.ds, NULL, NULL);
    run_epochs(&t, cfg.epochs);
    double loss, after = reef_evaluate(&m, &d.ds, NULL, &loss);
    printf("  tiny set: accuracy %.3f -> %.3f, loss %.4f\n", before, after, loss);
    assert_true(after == 1.0);
    assert_true(loss < 0.1);
    reef_trainer_free(&t);
    reef_model_free(&m);
    mem_ds_free(&d);
}

/* mixup: on two constant images (0 -> class a, 255 -> class b) the
 * training inputs are blends strictly between the two, every row still
 * constant; without it every row is one of the two. The recipe key parses
 * and round-trips through the checkpoint text. */
static double mixed_rows(float mixup)
{
    mem_ds d;
    mem_ds_make(&d, 16, 8, 8, 2, 3);
    for (uint32_t i = 0; i < 16; i++) {
        memset(d.pixels + (size_t)i * 64, i % 2 ? 255 : 0, 64);
        d.labels[i] = (uint16_t)(i % 2);
    }
    reef_train_cfg cfg;
    tiny_cfg(&cfg, 1, 1);
    cfg.batch = 16;  // one batch: m.input holds all 16 training inputs
    cfg.mixup = mixup;
    reef_model m;
    build_tiny(&m, &cfg, &d.ds);
    const float lo = (0.0f - m.norm.mean[0]) / m.norm.std[0], hi = (1.0f - m.norm.mean[0]) / m.norm.std[0];
    reef_trainer t;
    reef_error err;
    assert_int_equal(reef_trainer_init(&t, &m, &d.ds, &cfg, &err), 0);
    run_epochs(&t, 1);
    int inside = 0;
    for (int r = 0; r < cfg.batch; r++) {
        const float *x = m.input + (size_t)r * 64;
        for (int k = 1; k < 64; k++) assert_float_equal(x[k], x[0], 1e-5);
        assert_true(x[0] >= lo - 1e-4f && x[0] <= hi + 1e-4f);
        inside += x[0] > lo + 1e-3f && x[0] < hi - 1e-3f;
    }
    reef_trainer_free(&t);
    reef_model_free(&m);
    mem_ds_free(&d);
    return inside;
}

static void test_mixup(void **state)
{
    (void)state;
    assert_true(mixed_rows(0) == 0);
    assert_true(mixed_rows(1.0f) >= 4);  // a partner of the other class (p = 1/2) gives l ~ U(0, 1) inside
    reef_train_cfg cfg, back;
    reef_train_cfg_default(&cfg);
    assert_int_equal(reef_train_cfg_set(&cfg, "mixup", "0.4", NULL, 0), 0);
    assert_int_equal(reef_train_cfg_set(&cfg, "mixup", "-1", NULL, 0), -1);
    char text[4096];
    reef_train_cfg_format(&cfg, text, sizeof text);
    assert_non_null(strstr(text, "mixup=0.4"));
    reef_error err;
    reef_train_cfg_default(&back);
    assert_int_equal(reef_train_cfg_parse(&back, text, &err), 0);
    assert_float_equal(back.mixup, 0.4f, 1e-7);
    reef_train_cfg_default(&cfg);
    reef_train_cfg_format(&cfg, text, sizeof text);
    assert_null(strstr(text, "mixup"));  // off: a checkpoint keeps its old bytes
}

/* Trains the tiny model for `epochs` and returns a copy of its weights. */
static float *train_copy(const reef_dataset *ds, int epochs, int threads, uint64_t seed, size_t *n)
{
    reef_train_cfg cfg;
    tiny_cfg(&cfg, epochs, threads);
    cfg.seed = seed;
    cfg.aug = (reef_augment){.flip = 1, .shift = 1, .brightness = 0.1f, .contrast = 0.1f};
    reef_model m;
    build_tiny(&m, &cfg, ds);
    reef_trainer t;
    reef_error err;
    assert_int_equal(reef_trainer_init(&t, &m, ds, &cfg, &err), 0);
    run_epochs(&t, epochs);
    float *w = malloc((m.nparams + m.nstats) * sizeof *w);
    memcpy(w, m.params, m.nparams * sizeof *w);
    memcpy(w + m.nparams, m.stats, m.nstats * sizeof *w);
    *n = m.nparams + m.nstats;
    reef_trainer_free(&t);
    reef_model_free(&m);
    return w;
}

static void test_same_seed_same_weights(void **state)
{
    (void)state;
    mem_ds d;
    mem_ds_make(&d, 37, 8, 8, 3, 5);  // 37: the last batch is short
    size_t n1, n2, n3;
    float *a = train_copy(&d.ds, 3, 2, 9, &n1), *b = train_copy(&d.ds, 3, 2, 9, &n2);
    float *c = train_copy(&d.ds, 3, 2, 10, &n3);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof *a);            // bit-identical
    assert_memory_not_equal(a, c, n1 * sizeof *a);        // and the seed matters
    free(a), free(b), free(c);
    mem_ds_free(&d);
}

/* A checkpoint test's setup: a temporary folder with m.ckpt in it, count
 * random 8x8 images from k classes and the tiny model built for them. */
typedef struct ckpt_case {
    char dir[256], path[300];
    mem_ds d;
    reef_train_cfg cfg;
    reef_model m;
} ckpt_case;

static void ckpt_case_make(ckpt_case *c, const char *tmp_name, uint32_t count, int k, int epochs, int threads)
{
    testing_tmpdir(c->dir, sizeof c->dir, tmp_name);
    snprintf(c->path, sizeof c->path, "%s/m.ckpt", c->dir);
    mem_ds_make(&c->d, count, 8, 8, k, 6);
    tiny_cfg(&c->cfg, epochs, threads);
    build_tiny(&c->m, &c->cfg, &c->d.ds);
}

static void ckpt_case_free(ckpt_case *c)
{
    reef_model_free(&c->m);
    mem_ds_free(&c->d);
    unlink(c->path);
    rmdir(c->dir);
}

static void test_checkpoint_round_trip_and_resume(void **state)
{
    (void)state;
    ckpt_case c;
    ckpt_case_make(&c, "nn-ckpt", 30, 3, 4, 2);
    reef_trainer t;
    reef_error err;
    assert_int_equal(reef_trainer_init(&t, &c.m, &c.d.ds, &c.cfg, &err), 0);
    run_epochs(&t, 2);
    if (reef_ckpt_save(c.path, &c.m, &t.cfg, &t.opt, t.epochs_done, 0.5, &err)) fail_msg("%s", err.msg);
    // Round trip: same spec, weights, statistics, normalization, predictions.
    reef_model r;
    reef_ckpt_train ct;
    if (reef_ckpt_load(c.path, &r, &ct, &err)) fail_msg("%s", err.msg);
    assert_int_equal(r.nparams, c.m.nparams);
    assert_memory_equal(r.params, c.m.params, c.m.nparams * sizeof(float));
    assert_memory_equal(r.stats, c.m.stats, c.m.nstats * sizeof(float));
    assert_memory_equal(&r.norm, &c.m.norm, sizeof c.m.norm);
    assert_string_equal(r.arch.name, "tiny");
    assert_true(ct.has_train);
    assert_int_equal(ct.epochs_done, 2);
    assert_int_equal(ct.cfg.batch, 8);
    assert_int_equal(ct.opt.step, t.opt.step);
    assert_memory_equal(ct.opt.v, t.opt.v, c.m.nparams * sizeof(float));
    assert_int_equal(reef_model_set_batch(&r, 8, 1, &err), 0);
    uint16_t p1[30], p2[30];
    reef_evaluate(&c.m, &c.d.ds, p1, NULL);
    reef_evaluate(&r, &c.d.ds, p2, NULL);
    assert_memory_equal(p1, p2, sizeof p1);
    // Resume: 2 + 2 epochs equal 4 straight.
    run_epochs(&t, 2);
    assert_int_equal(reef_model_set_batch(&r, 8, 2, &err), 0);
    reef_trainer rt;
    assert_int_equal(reef_trainer_init(&rt, &r, &c.d.ds, &ct.cfg, &err), 0);
    reef_optim_free(&rt.opt);
    rt.opt = ct.opt;
    rt.epochs_done = ct.epochs_done;
    run_epochs(&rt, 2);
    assert_memory_equal(r.params, c.m.params, c.m.nparams * sizeof(float));
    reef_trainer_free(&rt);
    reef_trainer_free(&t);
    reef_model_free(&r);
    ckpt_case_free(&c);
}

static void expect_load_error(const uint8_t *data, size_t size, const char *want)
{
    reef_model m;
    reef_error err;
    assert_int_equal(reef_ckpt_load_buffer(data, size, "x.ckpt", &m, NULL, &err), -1);
    if (!strstr(err.msg, want)) fail_msg("expected '%s' in: %s", want, err.msg);
}

/* A small model saved as a checkpoint, and the file's bytes (the caller
 * frees them and the case). */
static uint8_t *saved_checkpoint(ckpt_case *c, const char *name, size_t *size)
{
    reef_error err;
    uint8_t *data;
    ckpt_case_make(c, name, 8, 2, 1, 1);
    assert_int_equal(reef_ckpt_save(c->path, &c->m, NULL, NULL, 0, -1, &err), 0);
    assert_int_equal(reef_read_file(c->path, &data, size, &err), 0);
    return data;
}

static void test_checkpoint_corruption(void **state)
{
    (void)state;
    ckpt_case c;
    size_t size;
    uint8_t *data = saved_checkpoint(&c, "nn-corrupt", &size);
    reef_error err;
    reef_model ok;
    assert_int_equal(reef_ckpt_load_buffer(data, size, "x.ckpt", &ok, NULL, &err), 0);
    reef_model_free(&ok);
    // Every single flipped byte (header or payload) is caught.
    for (size_t i = 0; i < size; i += 1 + size / 300) {
        data[i] ^= 0x20;
        reef_model bad;
        if (reef_ckpt_load_buffer(data, size, "x.ckpt", &bad, NULL, &err) == 0)
            fail_msg("flipped byte %zu of %zu was not detected", i, size);
        data[i] ^= 0x20;
    }
    expect_load_error(data, size / 2, "truncated");
    expect_load_error(data, 20, "truncated");
    expect_load_error(data + 1, size - 1, "not a reef checkpoint");
    data[size - 5] ^= 1;
    expect_load_error(data, size, "corrupt");
    free(data);
    ckpt_case_free(&c);
}

/* Patches one u32 of a saved checkpoint's SHAP section (h, w, c, classes,
 * ...) and re-seals the CRC, as a crafted file would. */
static void craft_shape_field(uint8_t *data, size_t size, int field, uint32_t value)
{
    uint8_t *shap = NULL;
    for (size_t i = 32; i + 32 <= size && !shap; i += 8) /* sections start 8-aligned */
        if (!memcmp(data + i, "SHAP", 4)) shap = data + i;
    assert_non_null(shap);
    for (int b = 0; b < 4; b++) /* little-endian, after the 16-byte section header */
        shap[16 + 4 * field + b] = (uint8_t)(value >> 8 * b);
    uint32_t crc = (uint32_t)crc32(0L, data + 32, (uInt)(size - 32));
    for (int b = 0; b < 4; b++) data[24 + b] = (uint8_t)(crc >> 8 * b);
}

/* Replaces text of a saved checkpoint's SPEC section by text of the same
 * length and re-seals the CRC, as a crafted file would. */
static void craft_spec_text(uint8_t *data, size_t size, const char *old, const char *new_text)
{
    size_t n = strlen(old);
    assert_int_equal(strlen(new_text), n);
    uint8_t *at = NULL;
    for (size_t i = 32; i + n <= size && !at; i++)
        if (!memcmp(data + i, old, n)) at = data + i;
    assert_non_null(at);
    memcpy(at, new_text, n);
    uint32_t crc = (uint32_t)crc32(0L, data + 32, (uInt)(size - 32));
    for (int b = 0; b < 4; b++) data[24 + b] = (uint8_t)(crc >> 8 * b);
}

/* Fuzz finding: a crafted spec asking for far more weights than the file
 * holds made the load allocate and initialise them first (> 20 s for the
 * fuzzer's input). The build is bounded by the parameters the file really
 * holds and refused before allocating, naming the file (the reproducer is
 * bench/fuzz/seeds/checkpoint/slow-spec-beyond-file). */
static void test_checkpoint_spec_beyond_file(void **state)
{
    (void)state;
    ckpt_case c;
    size_t size;
    uint8_t *data = saved_checkpoint(&c, "nn-spec", &size);
    craft_spec_text(data, size, "mbconv k3 e2 c8 s1 skip", "mbconv k3 e2 c4096 s1  ");
    expect_load_error(data, size, "x.ckpt: the spec 'tiny' needs");
    expect_load_error(data, size, "parameters, but the file holds only");
    free(data);
    ckpt_case_free(&c);
}

/* Crafted shapes with a valid CRC (fuzz findings: 1.2e9 classes made the
 * build allocate gigabytes; a height of -2^31+1 overflowed int sizes) are
 * refused before the model is built. */
static void test_checkpoint_crafted_shape(void **state)
{
    (void)state;
    ckpt_case c;
    size_t size;
    uint8_t *data = saved_checkpoint(&c, "nn-shape", &size);
    const struct { int field; uint32_t value; const char *want; } cases[] = {
        {3, 0x46fffd02u, "classes, but the file holds only"},
        {0, 0x80000001u, "each side 1 to 4096"},
        {1, 0, "each side 1 to 4096"},
        {2, 0xffffffffu, "each side 1 to 4096"},
        /* a plausible height the spec contradicts: the file is at fault, not the data */
        {0, 16, "x.ckpt: inconsistent file: section SHAP gives images of 16x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *copy = malloc(size);
        memcpy(copy, data, size);
        craft_shape_field(copy, size, cases[i].field, cases[i].value);
        expect_load_error(copy, size, cases[i].want);
        free(copy);
    }
    free(data);
    ckpt_case_free(&c);
}

/* An arch spec asking for layers whose tensors would overflow int sizes is
 * refused by the build with the line named. */
static void test_oversized_layers_refused(void **state)
{
    (void)state;
    reef_arch a;
    reef_error err;
    assert_int_equal(reef_arch_parse("name big\nstem k3 s1 c4096\nconv k3 c4096\ngap\nfc\n", "big.arch",
                                     &a, &err), 0);
    reef_model m;
    assert_int_equal(reef_model_build(&m, &a, 32, 32, 1, 2, 1, &err), -1);
    if (!strstr(err.msg, "big: line 3") || !strstr(err.msg, "more than")) fail_msg("%s", err.msg);
    /* each layer within bounds, the whole too many parameters (was > 20 s) */
    char spec[4096];
    int n = snprintf(spec, sizeof spec, "name many\nstem k3 s1 c4096\n");
    for (int i = 0; i < 8; i++) n += snprintf(spec + n, sizeof spec - (size_t)n, "conv k1 c4096\n");
    snprintf(spec + n, sizeof spec - (size_t)n, "gap\nfc\n");
    assert_int_equal(reef_arch_parse(spec, "many.arch", &a, &err), 0);
    assert_int_equal(reef_model_build(&m, &a, 8, 8, 1, 2, 1, &err), -1);
    if (!strstr(err.msg, "many: ") || !strstr(err.msg, "parameters (at most")) fail_msg("%s", err.msg);
}

/* The learning rate never exceeds the peak, on runs of every length from
 * 1 to 400 steps (tiny runs logged 20x the peak during warm-up), and the
 * warm-up still ramps on a long run. */
static void test_schedule_never_overshoots(void **state)
{
    (void)state;
    reef_optim_cfg cfg;
    reef_optim_cfg_default(&cfg);
    const reef_sched_kind scheds[3] = {REEF_SCHED_COSINE, REEF_SCHED_ONECYCLE, REEF_SCHED_CONSTANT};
    for (int s = 0; s < 3; s++) {
        cfg.sched = scheds[s];
        for (int64_t total = 1; total <= 400; total++)
            for (int64_t step = 0; step < total; step++) {
                float lr = reef_schedule_lr(&cfg, step, total);
                if (!(lr >= 0 && lr <= cfg.lr * (1 + 1e-6f)))
                    fail_msg("schedule %d, step %lld of %lld: lr %g, peak %g", s, (long long)step, (long long)total,
                             (double)lr, (double)cfg.lr);
            }
    }
    cfg.sched = REEF_SCHED_COSINE;
    assert_true(reef_schedule_lr(&cfg, 0, 1000) < 0.05f * cfg.lr); /* ramps over 50 steps */
    assert_true(fabsf(reef_schedule_lr(&cfg, 49, 1000) - cfg.lr) < 1e-6f * cfg.lr);
}

/* A checkpoint whose weights hold a NaN or an infinity (a diverged run,
 * or a crafted file with a valid CRC) is refused naming the value. */
static void test_checkpoint_nonfinite_weights(void **state)
{
    (void)state;
    ckpt_case c;
    ckpt_case_make(&c, "nn-nan", 8, 2, 1, 1);
    reef_error err;
    const float bad[2] = {NAN, INFINITY};
    for (int k = 0; k < 2; k++) {
        float keep = c.m.params[5];
        c.m.params[5] = bad[k];
        assert_int_equal(reef_ckpt_save(c.path, &c.m, NULL, NULL, 0, -1, &err), 0);
        c.m.params[5] = keep;
        reef_model m;
        assert_int_equal(reef_ckpt_load(c.path, &m, NULL, &err), -1);
        if (!strstr(err.msg, "m.ckpt") || !strstr(err.msg, "parameter 5 is not a finite number"))
            fail_msg("%s", err.msg);
    }
    ckpt_case_free(&c);
}

static void expect_parse_error(const char *spec, const char *want1, const char *want2)
{
    reef_arch a;
    reef_error err;
    assert_int_equal(reef_arch_parse(spec, "net.arch", &a, &err), -1);
    if (!strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2))) fail_msg("expected '%s' in:\n%s", want1, err.msg);
}

/* Every block kind, at the edges of its attributes' ranges, survives
 * format -> parse -> format unchanged (fuzz finding: the formatter wrote
 * "avgpool k5 s5", whose stride the parser refused). */
static void test_arch_format_round_trip(void **state)
{
    (void)state;
    const char *specs[] = {
        "name edges\ninput 64x48x3\nstem k15 s4 c4096 relu\nconv k1 s1 c1 none\ndwconv k15 s4 relu6\n"
        "mbconv k3 e16 c8 s2 noskip\nmbconv k5 e1 c8 s1 skip relu\nhead k1 c1280 relu6\navgpool k15 s15\n"
        "maxpool k2 s1\nmaxpool k5\ndropout 0.25\ngap\nfc c32 relu\nfc\n",
        "name pools\nstem k3 s2 c8\navgpool k5\nmaxpool k9 s9\ngap\nfc\n",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        reef_arch a, back;
        reef_error err;
        if (reef_arch_parse(specs[i], "edges.arch", &a, &err)) fail_msg("%s", err.msg);
        char text[2048], again[2048];
        assert_true(reef_arch_format(&a, text, sizeof text) < (int)sizeof text);
        if (reef_arch_parse(text, "formatted.arch", &back, &err)) fail_msg("%s\nof:\n%s", err.msg, text);
        reef_arch_format(&back, again, sizeof again);
        assert_string_equal(text, again);
        assert_int_equal(back.nblocks, a.nblocks);
        for (int b = 0; b < a.nblocks; b++) {
            assert_int_equal(back.blocks[b].kind, a.blocks[b].kind);
            assert_int_equal(back.blocks[b].kernel, a.blocks[b].kernel);
            assert_int_equal(back.blocks[b].stride, a.blocks[b].stride);
            assert_int_equal(back.blocks[b].out_c, a.blocks[b].out_c);
        }
    }
}

static void test_arch_specs(void **state)
{
    (void)state;
    reef_error err;
    reef_arch a, b;
    const char *names[] = {"fish-s", "fish-m"};
    size_t params[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(reef_arch_resolve(names[i], &a, &err), 0);
        reef_model m;
        assert_int_equal(reef_model_build(&m, &a, 32, 32, 1, 2, 1, &err), 0);
        params[i] = m.nparams;
        printf("  %s: %zu parameters, %.3f M MACs, peak activation %lld floats\n", names[i], m.nparams,
               reef_model_macs(&m) / 1e6, (long long)reef_model_peak_activation(&m));
        // Canonical text round-trips.
        char text[4096];
        reef_arch_format(&m.arch, text, sizeof text);
        assert_int_equal(reef_arch_parse(text, "formatted", &b, &err), 0);
        assert_int_equal(b.nblocks, m.arch.nblocks);
        for (int k = 0; k < b.nblocks; k++) {
            assert_int_equal(b.blocks[k].kind, m.arch.blocks[k].kind);
            assert_int_equal(b.blocks[k].kernel, m.arch.blocks[k].kernel);
            assert_int_equal(b.blocks[k].out_c, m.arch.blocks[k].out_c);
            assert_int_equal(b.blocks[k].skip, m.arch.blocks[k].skip);
        }
        reef_model_free(&m);
    }
    assert_true(params[0] <= 25000);
    assert_true(params[1] > 2 * params[0]);
    // Errors point at the offending token.
    /* an attribute given twice is refused, not silently overridden */
    expect_parse_error("name a\nstem k3 k5 s2 c8\ngap\nfc\n", "net.arch:2:9: given twice", "'k3'");
    expect_parse_error("name a\nstem k3 c8 relu relu6\ngap\nfc\n", "given twice", "'relu'");
    expect_parse_error("name a\nstem c8\nmbconv k3 e6 c8 skip noskip\ngap\nfc\n", "given twice", "'skip'");
    expect_parse_error("stem k3 s2 c16\nmbconv k3 q5 c16\nfc", "net.arch:2:11: unknown attribute 'q5' for mbconv",
                       "\n  mbconv k3 q5 c16\n            ^^");
    expect_parse_error("stem k3 s2 c16\nmbconv kx c16\nfc", "net.arch:2:8: expected a whole number after 'k'", "^^");
    expect_parse_error("stem k3 c16\nconvv k3 c8\nfc", "net.arch:2:1: unknown statement 'convv'", NULL);
    expect_parse_error("input 32x32\nstem c8\nfc", "net.arch:1:7: input wants HxWxC", NULL);
    expect_parse_error("stem k3 c16\ndropout 1.5\nfc", "net.arch:2:9: dropout wants a probability", NULL);
    expect_parse_error("stem k3 c16\nmbconv k3 e6\nfc", "net.arch:2:1: mbconv needs an output channel count", NULL);
    expect_parse_error("stem k3 c16; gap", "the last layer must be the fc classifier", NULL);
    // A skip that cannot be.
    assert_int_equal(reef_arch_parse("stem c8; mbconv k3 c16 skip; gap; fc", "x", &a, &err), 0);
    reef_model m;
    assert_int_equal(reef_model_build(&m, &a, 8, 8, 1, 2, 1, &err), -1);
    assert_non_null(strstr(err.msg, "skip needs stride 1"));
}

static void test_data_must_fit(void **state)
{
    (void)state;
    reef_arch a;
    reef_error err;
    reef_model m;
    assert_int_equal(reef_arch_resolve("fish-s", &a, &err), 0);
    assert_int_equal(reef_model_build(&m, &a, 28, 28, 1, 10, 1, &err), -1);
    assert_non_null(strstr(err.msg, "28x28x1"));
    assert_non_null(strstr(err.msg, "32x32x1"));
    // A model built for 2 classes refuses 3-class data, naming both.
    assert_int_equal(reef_model_build(&m, &a, 32, 32, 1, 2, 1, &err), 0);
    mem_ds d;
    mem_ds_make(&d, 6, 32, 32, 3, 1);
    assert_int_equal(reef_check_dataset_fits(&m, &d.ds, "val.ds", &err), -1);
    assert_non_null(strstr(err.msg, "val.ds: 3 classes but the model 'fish-s' has 2 outputs"));
    // The same check serves int8 models (any input rank) and refuses
    // empty data: d is 32x32x1, 6 samples, 3 classes.
    const int32_t nhwc[4] = {1, 32, 32, 1}, flat[2] = {1, 1024}, hw_swapped[4] = {1, 16, 64, 1};
    assert_int_equal(reef_dataset_check_fits(&d.ds, "d.ds", nhwc, 4, 3, "q", &err), 0);
    assert_int_equal(reef_dataset_check_fits(&d.ds, "d.ds", flat, 2, 3, "q", &err), 0);
    assert_int_equal(reef_dataset_check_fits(&d.ds, "d.ds", hw_swapped, 4, 3, "q", &err), -1);
    assert_non_null(strstr(err.msg, "d.ds: images are 32x32x1 but the model 'q' takes 1x16x64x1 (1024 values)"));
    d.ds.count = 0;
    assert_int_equal(reef_dataset_check_fits(&d.ds, "d.ds", nhwc, 4, 3, "q", &err), -1);
    assert_non_null(strstr(err.msg, "d.ds: no samples"));
    reef_model_free(&m);
    mem_ds_free(&d);
}

static void test_metrics(void **state)
{
    (void)state;
    mem_ds d;
    mem_ds_make(&d, 6, 2, 2, 3, 1);  // labels 0 1 2 0 1 2, groups 0 1 0 1 0 1
    const uint16_t pred[6] = {0, 1, 1, 0, 2, 2};
    reef_metrics mt;
    reef_error err;
    assert_int_equal(reef_metrics_compute(&mt, &d.ds, pred, &err), 0);
    assert_int_equal(mt.correct, 4);
    assert_float_equal(mt.accuracy, 4.0 / 6.0, 1e-12);
    assert_int_equal(mt.confusion[1 * 3 + 2], 1);  // true 1 predicted 2
    assert_int_equal(mt.confusion[2 * 3 + 1], 1);
    assert_int_equal(mt.group_correct[0], 1);       // samples 0, 2, 4: right, wrong, wrong
    assert_int_equal(mt.group_correct[1], 3);       // samples 1, 3, 5: all right
    reef_metrics_free(&mt);
    mem_ds_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arch_specs),
        cmocka_unit_test(test_arch_format_round_trip),
        cmocka_unit_test(test_data_must_fit),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_overfit_tiny_set),
        cmocka_unit_test(test_mixup),
        cmocka_unit_test(test_same_seed_same_weights),
        cmocka_unit_test(test_checkpoint_round_trip_and_resume),
        cmocka_unit_test(test_checkpoint_corruption),
        cmocka_unit_test(test_checkpoint_crafted_shape),
        cmocka_unit_test(test_checkpoint_spec_beyond_file),
        cmocka_unit_test(test_oversized_layers_refused),
        cmocka_unit_test(test_checkpoint_nonfinite_weights),
        cmocka_unit_test(test_schedule_never_overshoots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
