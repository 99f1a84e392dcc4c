/* Class names in models (issue 17, defect 4). A checkpoint (section CLSN)
 * and reef's .tflite (metadata "reef_class_names") carry the names of the
 * classes they were trained on; eval, run, quantize, personalize, report
 * and train (--val, --resume) refuse a dataset with other names, naming
 * the files and both lists; the same names in another order are mapped,
 * with a note; files from before the names still load, with a warning.
 *
 * Fixture: 12 PNG pictures of two classes (fish, nofish) prepped at 8x8, a
 * tiny model trained and quantized on them; made from it with libreef:
 * the same data with its classes listed in the other order (swapped.ds),
 * with other names (other.ds), and the model without names (old.*). */
#include "testing.h"

#include "data/dataset.h"
#include "fixtures.h"
#include "nn/checkpoint.h"
#include "tflite/graph.h"

static const char tiny_arch[] = "stem k3 s2 c4 relu6; gap; fc";

typedef struct fixture {
    char dir[256];
    char ds[300], swapped[300], other[300], ckpt[300], tflite[300], old_ckpt[300], old_tflite[300], plan[300];
} fixture;

#include "cli_fixture.h"

/* A refusal names the data file, its classes, the model file and its classes. */
static void expect_refused(int status, const char *out, const fixture *f, const char *model)
{
    expect(status, out, 1, f->other);
    expect(status, out, 1, "(cat, dog)");
    expect(status, out, 1, model);
    expect(status, out, 1, "(fish, nofish)");
}

/* src's samples saved to path with class names `names`; with swap, the
 * two labels exchanged, so every picture keeps its meaning. */
static void save_relabelled(const char *src, const char *path, const char *const names[2], int swap)
{
    reef_dataset ds;
    reef_error err;
    if (reef_dataset_load(src, &ds, &err)) fail_msg("%s", err.msg);
    uint16_t *labels = malloc(ds.count * sizeof *labels);
    for (uint32_t i = 0; i < ds.count; i++) labels[i] = (uint16_t)(swap ? 1 - ds.labels[i] : ds.labels[i]);
    reef_dataset out = ds;
    out.labels = labels;
    out.class_names = (const char **)names;
    if (reef_dataset_save(path, &out, &err)) fail_msg("%s", err.msg);
    free(labels);
    reef_dataset_free(&ds);
}

/* The model as a reef from before class names wrote it. */
static void save_without_names(const fixture *f)
{
    reef_error err;
    reef_model m;
    if (reef_ckpt_load(f->ckpt, &m, NULL, &err)) fail_msg("%s", err.msg);
    reef_class_names_free(&m.classes);
    if (reef_ckpt_save(f->old_ckpt, &m, NULL, NULL, 1, -1, &err)) fail_msg("%s", err.msg);
    reef_model_free(&m);
    reef_graph g;
    if (reef_tflite_read(f->tflite, &g, &err)) fail_msg("%s", err.msg);
    memset(&g.classes, 0, sizeof g.classes);
    if (reef_tflite_write(f->old_tflite, &g, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
}

static int setup(void **state)
{
    if (!testing_reef_bin()) return 0; /* each test skips */
    fixture *f = calloc(1, sizeof *f);
    testing_tmpdir(f->dir, sizeof f->dir, "cli-classes");
#define PATH(field, name) snprintf(f->field, sizeof f->field, "%s/" name, f->dir)
    PATH(ds, "a.ds"), PATH(swapped, "swapped.ds"), PATH(other, "other.ds"), PATH(ckpt, "m.ckpt");
    PATH(tflite, "m.tflite"), PATH(old_ckpt, "old.ckpt"), PATH(old_tflite, "old.tflite"), PATH(plan, "m.plan");
#undef PATH
    char path[600], out[8192];
    snprintf(path, sizeof path, "%s/images", f->dir);
    two_class_pictures(path);
    if (reef(out, sizeof out, "prep --format folders --root '%s/images' --size 8x8 -o '%s'", f->dir, f->ds))
        fail_msg("prep: %s", out);
    if (reef(out, sizeof out, "train --arch '%s' --train '%s' --epochs 15 --lr 0.03 --batch 4 -o '%s' --json", tiny_arch, f->ds,
             f->ckpt))
        fail_msg("train: %s", out);
    if (reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o '%s'", f->ckpt, f->ds, f->tflite))
        fail_msg("quantize: %s", out);
    static const char *const swapped[2] = {"nofish", "fish"}, *const other[2] = {"cat", "dog"};
    save_relabelled(f->ds, f->swapped, swapped, 1);
    save_relabelled(f->ds, f->other, other, 0);
    save_without_names(f);
    *state = f;
    return 0;
}

/* The names travel: train -> checkpoint -> quantize -> .tflite -> inspect;
 * a CLSN section that does not fit the model is refused. */
static void test_names_are_carried(void **state)
{
    FIXTURE(f);
    reef_error err;
    reef_model m;
    if (reef_ckpt_load(f->ckpt, &m, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(m.classes.count, 2);
    assert_string_equal(reef_class_name(&m.classes, 0), "fish");
    assert_string_equal(reef_class_name(&m.classes, 1), "nofish");
    reef_graph g;
    if (reef_tflite_read(f->tflite, &g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(g.classes.count, 2);
    assert_memory_equal(g.classes.blob, "fish\0nofish", 12);
    reef_graph_free(&g);
    expect(reef(out, sizeof out, "inspect --model '%s' --json", f->tflite), out, 0, "\"classes\":[\"fish\",\"nofish\"]");
    expect(reef(out, sizeof out, "inspect --model '%s'", f->tflite), out, 0, "classes: fish, nofish");
    /* three names for two outputs */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", f->dir);
    static const char *const three[3] = {"a", "b", "c"};
    reef_class_names_free(&m.classes);
    assert_int_equal(reef_class_names_pack(&m.classes, three, 3, &err), 0);
    if (reef_ckpt_save(bad, &m, NULL, NULL, 1, -1, &err)) fail_msg("%s", err.msg);
    reef_model_free(&m);
    assert_int_equal(reef_ckpt_load(bad, &m, NULL, &err), -1);
    if (!strstr(err.msg, "bad.ckpt: section CLSN holds 3 class names for the model's 2 classes"))
        fail_msg("message: %s", err.msg);
    expect(reef(out, sizeof out, "eval --model '%s' --data '%s'", bad, f->ds), out, 1, "section CLSN");
    unlink(bad);
}

/* Other names: every command that puts a dataset through a model refuses
 * it, naming both files and both lists, before any work or output. */
static void test_other_names_are_refused(void **state)
{
    FIXTURE(f);
    char o[400];
    snprintf(o, sizeof o, "%s/out", f->dir);
    expect_refused(reef(out, sizeof out, "eval --model '%s' --data '%s'", f->ckpt, f->other), out, f, f->ckpt);
    expect_refused(reef(out, sizeof out, "eval --model '%s' --data '%s'", f->tflite, f->other), out, f, f->tflite);
    expect_refused(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o '%s'", f->ckpt, f->other, o), out, f,
                   f->ckpt);
    assert_int_equal(access(o, F_OK), -1);
    expect_refused(reef(out, sizeof out, "run --model '%s' --data '%s' --target host", f->tflite, f->other), out, f,
                   f->tflite);
    expect_refused(reef(out, sizeof out, "train --resume '%s' --train '%s' --epochs 19 -o '%s'", f->ckpt, f->other, o),
                   out, f, f->ckpt);
    expect_refused(reef(out, sizeof out, "train --arch '%s' --train '%s' --val '%s' --epochs 1 -o '%s'", tiny_arch,
                        f->ds, f->other, o),
                   out, f, o);
    assert_int_equal(access(o, F_OK), -1);
    expect(reef(out, sizeof out, "personalize plan --model '%s' --ram 1M -o '%s'", f->tflite, f->plan), out, 0, "");
    expect_refused(reef(out, sizeof out, "personalize --model '%s' --plan '%s' --site '%s' --labelled 4 --source '%s'",
                        f->tflite, f->plan, f->other, f->ds),
                   out, f, f->tflite);
    expect_refused(reef(out, sizeof out, "personalize --model '%s' --plan '%s' --site '%s' --labelled 4 --source '%s'",
                        f->tflite, f->plan, f->ds, f->other),
                   out, f, f->tflite);
}

/* Accuracy and agreement lines of a command's output, for comparing two
 * runs (the paths in the first line differ). */
static void results(const char *out, char *dst, size_t size)
{
    const char *at = strstr(out, "\naccuracy ");
    if (!at) fail_msg("no accuracy in:\n%s", out);
    snprintf(dst, size, "%s", at);
}

/* The line of out that starts with start. */
static void line_with(const char *out, const char *start, char *dst, size_t size)
{
    const char *at = strstr(out, start);
    if (!at) fail_msg("no line '%s...' in:\n%s", start, out);
    snprintf(dst, size, "%.*s", (int)strcspn(at, "\n"), at);
}

/* The same names in another order: mapped, said, and the figures are
 * those of the data in the model's own order. */
static void test_reordered_names_are_mapped(void **state)
{
    FIXTURE(f);
    char want[16384], got[16384];
    const char *models[2] = {f->ckpt, f->tflite};
    for (int k = 0; k < 2; k++) {
        /* the fixture's model tells the classes apart, so labels left in
         * the data's order would score 0% */
        expect(reef(out, sizeof out, "eval --model '%s' --data '%s'", models[k], f->ds), out, 0,
               "accuracy 100.00% (12 of 12)");
        if (strstr(out, "note:") || strstr(out, "warning:")) fail_msg("a note on matching classes:\n%s", out);
        results(out, want, sizeof want);
        expect(reef(out, sizeof out, "eval --model '%s' --data '%s' 2>/dev/null", models[k], f->swapped), out, 0,
               "accuracy");
        results(out, got, sizeof got);
        assert_string_equal(got, want);
        expect(reef(out, sizeof out, "eval --model '%s' --data '%s'", models[k], f->swapped), out, 0,
               "lists the classes of model");
        expect(reef(out, sizeof out, "eval --model '%s' --data '%s'", models[k], f->swapped), out, 0,
               "(nofish, fish; the model: fish, nofish)");
    }
    char q[400];
    snprintf(q, sizeof q, "%s/q.tflite", f->dir);
    expect(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o '%s' 2>/dev/null", f->ckpt, f->ds, q), out, 0,
           "agree");
    line_with(out, "on the ", want, sizeof want);
    expect(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o '%s' 2>/dev/null", f->ckpt, f->swapped, q), out,
           0, "agree");
    line_with(out, "on the ", got, sizeof got);
    assert_string_equal(got, want);
    /* one firmware build (the slow part): the model scores 100% on a.ds above */
    expect(reef(out, sizeof out, "run --model '%s' --data '%s' --target host --json", f->tflite, f->swapped), out, 0,
           "another order");
    expect(0, out, 0, "\"accuracy\":1,");
    unlink(q);
}

/* Files from before the names: they load, with a warning, and are not checked. */
static void test_old_models_load_with_a_warning(void **state)
{
    FIXTURE(f);
    expect(reef(out, sizeof out, "eval --model '%s' --data '%s'", f->old_ckpt, f->other), out, 0,
           "carries no class names");
    expect(reef(out, sizeof out, "eval --model '%s' --data '%s'", f->old_tflite, f->ds), out, 0,
           "carries no class names");
    expect(reef(out, sizeof out, "eval --model '%s' --data '%s' --json 2>/dev/null", f->old_tflite, f->ds), out, 0,
           "{\"model\"");
    char r[400];
    snprintf(r, sizeof r, "%s/r.ckpt", f->dir);
    /* old.ckpt has no training state: quantize it, and resume from a copy of
     * the named checkpoint made nameless instead */
    expect(reef(out, sizeof out, "quantize --model '%s' --calib '%s' -o %s/o.tflite", f->old_ckpt, f->ds, f->dir), out,
           0, "carries no class names");
    reef_graph g;
    reef_error err;
    snprintf(r, sizeof r, "%s/o.tflite", f->dir);
    if (reef_tflite_read(r, &g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(g.classes.count, 0);  // nothing invented
    reef_graph_free(&g);
    unlink(r);
    /* train --resume from a checkpoint with training state but no names:
     * it trains on, with the warning, and the result takes the training
     * data's names */
    char nameless[400];
    snprintf(nameless, sizeof nameless, "%s/nameless.ckpt", f->dir);
    snprintf(r, sizeof r, "%s/r.ckpt", f->dir);
    reef_model m;
    reef_ckpt_train ct;
    if (reef_ckpt_load(f->ckpt, &m, &ct, &err)) fail_msg("%s", err.msg);
    assert_true(ct.has_train);
    reef_class_names_free(&m.classes);
    if (reef_ckpt_save(nameless, &m, &ct.cfg, &ct.opt, ct.epochs_done, ct.val_accuracy, &err)) fail_msg("%s", err.msg);
    const int done = ct.epochs_done;
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    if (reef_ckpt_load(nameless, &m, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(m.classes.count, 0);
    reef_model_free(&m);
    expect(reef(out, sizeof out, "train --resume '%s' --train '%s' --epochs %d -o '%s'", nameless, f->ds, done + 1, r),
           out, 0, "carries no class names");
    if (reef_ckpt_load(r, &m, &ct, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ct.epochs_done, done + 1);  // it trained on
    assert_int_equal(m.classes.count, 2);
    assert_string_equal(reef_class_name(&m.classes, 0), "fish");
    assert_string_equal(reef_class_name(&m.classes, 1), "nofish");
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    unlink(nameless), unlink(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_are_carried),
        cmocka_unit_test(test_other_names_are_refused),
        cmocka_unit_test(test_reordered_names_are_mapped),
        cmocka_unit_test(test_old_models_load_with_a_warning),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
