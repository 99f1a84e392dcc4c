/* The commands: `reef run` (host and qemu-m4: the JSON keys, the
 * same accuracy as the quantizer's host predictions), `reef infer --target
 * qemu-m4` (the same bytes as the host), `reef report` (float and int8
 * rows), and bad input refused with a nonzero exit and a clear message. */
#include "fixture_run.h"

#include <math.h>

#include "nn/checkpoint.h"
#include "nn/metrics.h"
#include "util/io.h"

static char dir[256];
static char out[1 << 16];
static double int8_accuracy; /* of the quantizer's host predictions on test.ds */

/* The number after "key": in a JSON text (NAN when absent or null). */
static double json_number(const char *text, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p || !strncmp(p + strlen(pat), "null", 4)) return NAN;
    return strtod(p + strlen(pat), NULL);
}

static void save_all(void)
{
    reef_dataset ds, other;
    reef_model m;
    reef_graph g;
    reef_error err;
    char path[400];
    fixture_run_dataset(&ds, 24, 5);
    fixture_run_model(&m);
    fixture_run_train(&m, &ds, 8);
    fixture_run_quantize(&m, &ds, &g);
    uint16_t pred[24];
    reef_metrics mt;
    if (reef_int8_predict(&g, &ds, NULL, 24, pred, &err) || reef_metrics_compute(&mt, &ds, pred, &err))
        fail_msg("%s", err.msg);
    int8_accuracy = mt.accuracy;
    reef_metrics_free(&mt);
    snprintf(path, sizeof path, "%s/test.ds", dir);
    if (reef_dataset_save(path, &ds, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/tiny.ckpt", dir);
    if (reef_ckpt_save(path, &m, NULL, NULL, 0, -1, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/tiny.tflite", dir);
    if (reef_tflite_write(path, &g, &err)) fail_msg("%s", err.msg);
    /* the same pixels seen as 4x16 images: must be refused */
    other = ds, other.height = 4, other.width = 16, other.owner_ = NULL;
    snprintf(path, sizeof path, "%s/wide.ds", dir);
    if (reef_dataset_save(path, &other, &err)) fail_msg("%s", err.msg);
    reef_graph_free(&g);
    reef_model_free(&m);
    reef_dataset_free(&ds);
}

static int setup(void **state)
{
    (void)state;
    testing_tmpdir(dir, sizeof dir, "run-cli");
    save_all();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testing_rm_tree(dir);
}

static void test_run_host_and_qemu(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' run --target host --model %s/tiny.tflite --data %s/test.ds --json", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_true(fabs(json_number(out, "accuracy") - int8_accuracy) < 1e-9);
    assert_true(isnan(json_number(out, "instructions")));
    assert_non_null(strstr(out, "\"outputs_match_host\":true"));

    snprintf(cmd, sizeof cmd, "'%s' run --target qemu-m4 --model %s/tiny.tflite --data %s/test.ds --json --work %s/w",
             bin, dir, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("%s", out);
    assert_true(fabs(json_number(out, "accuracy") - int8_accuracy) < 1e-9);
    static const char *keys[] = {"instructions", "cycles_modeled", "time_ms_modeled", "energy_mj_modeled",
                                 "flash_bytes", "ram_bytes"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        double v = json_number(out, keys[k]);
        if (!(v > 0)) fail_msg("%s is %g", keys[k], v);
    }
    assert_true(json_number(out, "ram_bytes") < 640 * 1024 && json_number(out, "flash_bytes") < 2048 * 1024);
}

/* --background running-diff: the firmware keeps the running background
 * and feeds the model the difference; the host interpreter is fed the
 * differences reef computes on the host, so equal outputs on every sample
 * (exit 0) mean the target computed the same differences bit for bit (a
 * firmware that skipped the step would see raw frames and differ). */
static void test_run_background(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096];
    for (int qemu = 0; qemu < 2; qemu++) {
        snprintf(cmd, sizeof cmd, "'%s' run --target %s --model %s/tiny.tflite --data %s/test.ds --json "
                 "--background running-diff", bin, qemu ? "qemu-m4" : "host", dir, dir);
        int rc = testing_run(cmd, out, sizeof out);
        if (rc) fail_msg("%s", out);
        assert_non_null(strstr(out, "\"outputs_match_host\":true"));
    }
    snprintf(cmd, sizeof cmd, "'%s' run --target host --model %s/tiny.tflite --data %s/test.ds --background median",
             bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "--background wants running-diff"));
}

static void test_run_refuses_bad_input(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' run --target host --model %s/tiny.tflite --data %s/wide.ds", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "wide.ds: images are 4x16x1 but the model"));
    snprintf(cmd, sizeof cmd, "'%s' run --target qemu-m4 --model %s/test.ds --data %s/test.ds", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    snprintf(cmd, sizeof cmd, "'%s' run --target mars --model %s/tiny.tflite --data %s/test.ds", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown --target 'mars'"));
    snprintf(cmd, sizeof cmd, "'%s' report --float %s/missing.ckpt --int8 %s/tiny.tflite --data %s/test.ds", bin, dir,
             dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "missing.ckpt"));
}

static void test_infer_qemu_equals_host(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096], path[400];
    int8_t in[FIX_H * FIX_W];
    for (int i = 0; i < FIX_H * FIX_W; i++) in[i] = (int8_t)(i * 7 - 100);
    snprintf(path, sizeof path, "%s/in.bin", dir);
    reef_error err;
    if (reef_write_file(path, in, sizeof in, &err)) fail_msg("%s", err.msg);
    snprintf(cmd, sizeof cmd, "'%s' infer --model %s/tiny.tflite --input %s -o %s/host.bin && "
                              "'%s' infer --model %s/tiny.tflite --target qemu-m4 --input %s -o %s/m4.bin --json && "
                              "cmp %s/host.bin %s/m4.bin",
             bin, dir, path, dir, bin, dir, path, dir, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_true(json_number(out, "instructions") > 0);
    /* the seconds are the emulator's wall time, and say so */
    assert_non_null(strstr(out, "\"seconds_measure\":\"emulator wall time on this host\""));
}

static void test_report(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' report --float %s/tiny.ckpt --int8 %s/tiny.tflite --data %s/test.ds --json", bin,
             dir, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("%s", out);
    const char *f = strstr(out, "\"float\":{"), *q = strstr(out, "\"int8\":{"), *p = strstr(out, "\"paper\":{");
    assert_true(f && q && p && f < q && q < p);
    /* the emulated float build equals the host float path bit for bit */
    assert_true(fabs(json_number(f, "accuracy") - json_number(f, "accuracy_host")) < 1e-9);
    assert_true(fabs(json_number(q, "accuracy") - int8_accuracy) < 1e-9);
    assert_true(json_number(f, "flash_weights_bytes") > json_number(q, "flash_weights_bytes"));
    assert_true(json_number(f, "accuracy") > 0.9 && json_number(q, "accuracy") > 0.9); /* an easy task */
    assert_true(json_number(f, "energy_mj_modeled") > 0 && json_number(q, "energy_mj_modeled") > 0);
    assert_true(fabs(json_number(p, "time_ms") - 248) < 1e-9);
    /* modeled figures carry their expected error; the paper's are measured */
    assert_non_null(strstr(q, "\"time_modeled_error\":\"+-9.8% against 8 board measurements\""));
    assert_non_null(strstr(q, "\"energy_modeled_error\":\"+-8.5% against 8 board measurements\""));
    assert_non_null(strstr(p, "\"kind\":\"measured"));
    snprintf(cmd, sizeof cmd, "'%s' report --float %s/tiny.ckpt --int8 %s/tiny.tflite --data %s/test.ds --target host",
             bin, dir, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "| reef int8 |"));
    assert_non_null(strstr(out, "| int8 (paper) | 97.78% (measured) | 483.82 (measured) | 70.32 (measured) | 4.83 (measured) "
                                "| 118 (measured) | 0.57 (measured) | - |"));
}

/* reef report --memory: every mode built and run on qemu-m4; fast runs
 * nothing in place, min at least as small an arena at no fewer
 * instructions; a missing model is named, with a nonzero exit. */
static void test_report_memory(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' report --memory --int8 %s/tiny.tflite --data %s/test.ds --limit 6 --json", bin, dir,
             dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("%s", out);
    const char *f = strstr(out, "{\"mode\":\"fast\""), *b = strstr(out, "{\"mode\":\"balanced\""),
               *m = strstr(out, "{\"mode\":\"min\"");
    assert_true(f && b && m && f < b && b < m);
    assert_true(json_number(f, "in_place_steps") == 0);
    assert_true(json_number(f, "arena_bytes") == json_number(f, "arena_layer_by_layer_bytes"));
    assert_true(json_number(m, "arena_bytes") <= json_number(f, "arena_bytes"));
    assert_true(json_number(b, "arena_bytes") <= json_number(f, "arena_bytes"));
    assert_true(json_number(f, "instructions") > 0 && json_number(m, "instructions") >= json_number(f, "instructions"));
    assert_true(json_number(m, "ram_bytes") > json_number(m, "arena_bytes"));
    snprintf(cmd, sizeof cmd, "'%s' report --memory --int8 %s/missing.tflite --data %s/test.ds", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "missing.tflite"));
    snprintf(cmd, sizeof cmd, "'%s' report --memory --int8 %s/tiny.tflite", bin, dir); /* no --data */
    assert_int_equal(testing_run(cmd, out, sizeof out), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_host_and_qemu),
        cmocka_unit_test(test_run_refuses_bad_input),
        cmocka_unit_test(test_run_background),
        cmocka_unit_test(test_report_memory),
        cmocka_unit_test(test_infer_qemu_equals_host),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
