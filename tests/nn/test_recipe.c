/* The recipe an architecture spec carries: `recipe KEY VALUE` lines parsed
 * and checked (caret errors), applied by `reef train --arch` and overridden
 * by explicit flags; the shipped fish-nas carries its epochs. */
#include "testing.h"

#include "nn/arch.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "nn/train.h"
#include "util/rng.h"

static void test_recipe_lines_parse(void **state)
{
    (void)state;
    reef_arch a;
    reef_error err;
    const char *spec = "name t\ninput 8x8x1\nstem k3 s1 c4\ngap\nfc\nrecipe epochs 7\nrecipe augment flip,gamma=0.2\n";
    if (reef_arch_parse(spec, "t.arch", &a, &err)) fail_msg("%s", err.msg);
    assert_int_equal(a.nrecipe, 2);
    assert_string_equal(a.recipe[0].key, "epochs");
    assert_string_equal(a.recipe[0].value, "7");
    assert_int_equal(a.recipe[1].line, 7);
    // the network text stays the network's
    char text[1024];
    reef_arch_format(&a, text, sizeof text);
    assert_null(strstr(text, "recipe"));
    // the shipped fish-nas says how long to train it
    assert_int_equal(reef_arch_resolve("fish-nas", &a, &err), 0);
    int found = 0;
    for (int i = 0; i < a.nrecipe; i++) found |= !strcmp(a.recipe[i].key, "epochs") && atoi(a.recipe[i].value) >= 40;
    assert_true(found);
}

static void expect_error(const char *spec, const char *what, const char *caret_line)
{
    reef_arch a;
    reef_error err;
    assert_int_equal(reef_arch_parse(spec, "r.arch", &a, &err), -1);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, what));
    assert_non_null(strstr(err.msg, caret_line));
}

static void test_recipe_caret_errors(void **state)
{
    (void)state;
    const char *head = "name t\nstem k3 s1 c4\nfc\n";
    char spec[512];
    snprintf(spec, sizeof spec, "%srecipe epochs sixty\n", head);
    expect_error(spec, "r.arch:4:15: epochs wants a whole number", "\n  recipe epochs sixty\n                ^^^^^");
    snprintf(spec, sizeof spec, "%srecipe colour blue\n", head);
    expect_error(spec, "r.arch:4:8: unknown recipe setting 'colour'", "\n         ^^^^^^");
    snprintf(spec, sizeof spec, "%srecipe augment flip,sparkle\n", head);
    expect_error(spec, "unknown augmentation 'sparkle'", "\n                 ^^^^^^^^^^^^");
    snprintf(spec, sizeof spec, "%srecipe epochs\n", head);
    expect_error(spec, "r.arch:4:1: recipe wants a setting and one value", "\n  ^^^^^^");
    snprintf(spec, sizeof spec, "%srecipe lr 3e-3 5\n", head);
    expect_error(spec, "r.arch:4:16: recipe wants a setting and one value", "^");
}

/* reef train applies the spec's recipe, and flags override it. */
static void test_train_applies_recipe(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char dir[128], path[256], cmd[2048], ckpt[256];
    static char out[65536];
    testing_tmpdir(dir, sizeof dir, "recipe");
    // a tiny dataset
    enum { N = 48 };
    static uint8_t pixels[N * 64];
    static uint16_t labels[N], groups[N];
    static const char *classes[] = {"a", "b"}, *gnames[] = {"g"}, *ids[N];
    reef_rng rng;
    reef_rng_seed(&rng, 3);
    for (int i = 0; i < N * 64; i++) pixels[i] = (uint8_t)reef_rng_below(&rng, 256);
    for (int i = 0; i < N; i++) labels[i] = (uint16_t)(i % 2), groups[i] = 0, ids[i] = "x";
    reef_dataset ds = {.count = N, .height = 8, .width = 8, .channels = 1, .num_classes = 2, .num_groups = 1,
                       .pixels = pixels, .labels = labels, .groups = groups, .class_names = classes,
                       .group_names = gnames, .ids = ids};
    reef_error err;
    snprintf(path, sizeof path, "%s/d.ds", dir);
    assert_int_equal(reef_dataset_save(path, &ds, &err), 0);
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", dir);
    const char *arch = "'name t; input 8x8x1; stem k3 s1 c4; gap; fc; recipe epochs 3; recipe augment shift=1,gamma; "
                       "recipe lr 0.02'";
    snprintf(cmd, sizeof cmd, "%s train --arch %s --train %s -o %s --batch 16 --json", bin, arch, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"epochs\":3"));
    reef_model m;
    reef_ckpt_train ct;
    assert_int_equal(reef_ckpt_load(ckpt, &m, &ct, &err), 0);
    assert_int_equal(ct.cfg.epochs, 3);
    assert_int_equal(ct.cfg.aug.shift, 1);
    assert_true(ct.cfg.aug.gamma > 0.39f && ct.cfg.aug.gamma < 0.41f);
    assert_int_equal(ct.cfg.aug.flip, 0);
    assert_true(ct.cfg.opt.lr > 0.0199f && ct.cfg.opt.lr < 0.0201f);
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    // flags win over the recipe; the rest of the recipe stays
    snprintf(cmd, sizeof cmd, "%s train --arch %s --train %s -o %s --batch 16 --epochs 1 --augment flip --json", bin,
             arch, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"epochs\":1"));
    assert_int_equal(reef_ckpt_load(ckpt, &m, &ct, &err), 0);
    assert_int_equal(ct.cfg.epochs, 1);
    assert_int_equal(ct.cfg.aug.flip, 1);
    assert_int_equal(ct.cfg.aug.shift, 0);
    assert_true(ct.cfg.opt.lr > 0.0199f && ct.cfg.opt.lr < 0.0201f);
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    // choosing sgd on the command line keeps the spec's explicit lr
    snprintf(cmd, sizeof cmd, "%s train --arch %s --train %s -o %s --batch 16 --epochs 1 --optimizer sgd --json", bin,
             arch, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_int_equal(reef_ckpt_load(ckpt, &m, &ct, &err), 0);
    assert_int_equal(ct.cfg.opt.kind, REEF_OPT_SGD);
    assert_true(ct.cfg.opt.lr > 0.0199f && ct.cfg.opt.lr < 0.0201f);
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    // a malformed recipe line: the caret error, exit 1, no checkpoint written
    snprintf(cmd, sizeof cmd, "rm -f %s; %s train --arch 'name t; input 8x8x1; stem k3 s1 c4; gap; fc; recipe epochs 0' "
             "--train %s -o %s", ckpt, bin, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "--arch:1:60: epochs wants a whole number from 1"));
    assert_int_equal(access(ckpt, F_OK), -1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The quantization-aware fine-tuning keys: parsed from a spec (caret
 * errors for bad values), applied by reef train and overridden by flags,
 * recorded in the checkpoint; --resume adds it to a trained model once. */
static void test_qat_recipe(void **state)
{
    (void)state;
    const char *head = "name t\nstem k3 s1 c4\nfc\n";
    char spec[512];
    snprintf(spec, sizeof spec, "%srecipe qat-epochs -1\n", head);
    expect_error(spec, "r.arch:4:19: qat-epochs wants a whole number from 0 (off) to 1000",
                 "\n  recipe qat-epochs -1\n                    ^^");
    snprintf(spec, sizeof spec, "%srecipe input-norm pooled\n", head);
    expect_error(spec, "r.arch:4:19: input-norm is channel, shared or shared-mean", "\n                    ^^^^^^");
    snprintf(spec, sizeof spec, "%srecipe qat-lr 5\n", head);
    expect_error(spec, "r.arch:4:15: qat-lr must be a finite number from 1e-08 to 1", "\n                ^");
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char dir[128], path[256], cmd[2048], ckpt[256];
    static char out[65536];
    testing_tmpdir(dir, sizeof dir, "recipe-qat");
    enum { N = 48 };
    static uint8_t pixels[N * 64];
    static uint16_t labels[N], groups[N];
    static const char *classes[] = {"a", "b"}, *gnames[] = {"g"}, *ids[N];
    reef_rng rng;
    reef_rng_seed(&rng, 5);
    for (int i = 0; i < N * 64; i++) pixels[i] = (uint8_t)reef_rng_below(&rng, 256);
    for (int i = 0; i < N; i++) labels[i] = (uint16_t)(i % 2), groups[i] = 0, ids[i] = "x";
    reef_dataset ds = {.count = N, .height = 8, .width = 8, .channels = 1, .num_classes = 2, .num_groups = 1,
                       .pixels = pixels, .labels = labels, .groups = groups, .class_names = classes,
                       .group_names = gnames, .ids = ids};
    reef_error err;
    snprintf(path, sizeof path, "%s/d.ds", dir);
    assert_int_equal(reef_dataset_save(path, &ds, &err), 0);
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", dir);
    const char *arch = "'name t; input 8x8x1; stem k3 s1 c4 relu6; gap; fc; recipe epochs 2; recipe qat-epochs 3; "
                       "recipe qat-lr 0.0005'";
    snprintf(cmd, sizeof cmd, "%s train --arch %s --train %s -o %s --batch 16", bin, arch, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "quantization-aware fine-tuning: 3 epochs"));
    assert_non_null(strstr(out, "qat 3/3"));
    reef_model m;
    reef_ckpt_train ct;
    assert_int_equal(reef_ckpt_load(ckpt, &m, &ct, &err), 0);
    assert_int_equal(ct.cfg.qat_epochs, 3);
    assert_int_equal(ct.cfg.qat_done, 1);
    assert_true(ct.cfg.qat_lr > 0.000499f && ct.cfg.qat_lr < 0.000501f);
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    // the flag wins over the spec; 0 turns it off (and nothing is recorded)
    snprintf(cmd, sizeof cmd, "%s train --arch %s --train %s -o %s --batch 16 --qat-epochs 0", bin, arch, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_null(strstr(out, "quantization-aware"));
    assert_int_equal(reef_ckpt_load(ckpt, &m, &ct, &err), 0);
    assert_int_equal(ct.cfg.qat_epochs, 0);
    assert_int_equal(ct.cfg.qat_done, 0);
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    // --resume fine-tunes the trained model once
    snprintf(cmd, sizeof cmd, "%s train --resume %s --train %s -o %s --qat-epochs 1", bin, ckpt, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "qat 1/1"));
    assert_int_equal(reef_ckpt_load(ckpt, &m, &ct, &err), 0);
    assert_int_equal(ct.cfg.qat_done, 1);
    assert_int_equal(ct.epochs_done, 2);
    reef_optim_free(&ct.opt);
    reef_model_free(&m);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "quantization-aware fine-tuning already"));
    // a bad flag value names the flag
    snprintf(cmd, sizeof cmd, "%s train --arch %s --train %s -o %s --qat-lr -1", bin, arch, path, ckpt);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "--qat-lr: qat-lr must be a finite number"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipe_lines_parse),
        cmocka_unit_test(test_recipe_caret_errors),
        cmocka_unit_test(test_train_applies_recipe),
        cmocka_unit_test(test_qat_recipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
