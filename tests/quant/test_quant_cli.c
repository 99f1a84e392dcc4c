/* `reef quantize` and `reef eval` on its output: JSON, the same accuracy as
 * the library's int8 predictions, `reef gen` accepting the model; and bad
 * input (corrupt or truncated checkpoint, missing data, bad options)
 * refused with a nonzero exit and no output file left. */
#include "fixture.h"

#include <math.h>

#include "nn/checkpoint.h"
#include "quant/quant.h"
#include "util/io.h"

static char out[1 << 17];
static char dir[256];

/* dir/train.ds, dir/test.ds, dir/tiny.ckpt (trained) */
static int setup(void **state)
{
    (void)state;
    reef_dataset train, test;
    reef_model m;
    reef_error err;
    char path[400];
    testing_tmpdir(dir, sizeof dir, "quant-cli");
    fixture_dataset(&train, 512, 31);
    fixture_dataset(&test, 200, 32);
    fixture_model(&m, &train, 8);
    snprintf(path, sizeof path, "%s/train.ds", dir);
    if (reef_dataset_save(path, &train, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/test.ds", dir);
    if (reef_dataset_save(path, &test, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/tiny.ckpt", dir);
    if (reef_ckpt_save(path, &m, NULL, NULL, 0, -1, &err)) fail_msg("%s", err.msg);
    reef_model_free(&m);
    reef_dataset_free(&train);
    reef_dataset_free(&test);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testing_rm_tree(dir);
}

/* The "accuracy" number of a JSON report. */
static double json_accuracy(const char *text)
{
    const char *p = strstr(text, "\"accuracy\":");
    assert_non_null(p);
    return strtod(p + strlen("\"accuracy\":"), NULL);
}

static void test_quantize_eval(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096], path[400];
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/tiny.ckpt --calib %s/train.ds -n 100 --method mse -o %s/tiny.tflite --json",
             bin, dir, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("  %.300s...\n", out);
    assert_non_null(strstr(out, "\"method\":\"mse\""));
    assert_non_null(strstr(out, "\"samples\":100"));
    assert_non_null(strstr(out, "\"op\":\"DEPTHWISE_CONV_2D\""));
    assert_non_null(strstr(out, "\"agreement\":"));
    assert_non_null(strstr(out, "\"pixel_minus_128\":true"));
    // the table form
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/tiny.ckpt --calib %s/train.ds -n 100 -o %s/tiny2.tflite", bin, dir,
             dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "calibration: minmax, 100 samples"));
    assert_non_null(strstr(out, "weight scales"));

    // reef eval on the .tflite: the library's int8 accuracy, same report keys
    snprintf(cmd, sizeof cmd, "%s eval --model %s/tiny.tflite --data %s/test.ds --json", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("  %.300s...\n", out);
    assert_non_null(strstr(out, "\"format\":\"int8\""));
    assert_non_null(strstr(out, "\"confusion\":"));
    assert_non_null(strstr(out, "\"groups\":"));
    const double cli_acc = json_accuracy(out);
    reef_graph g;
    reef_dataset test;
    reef_error err;
    snprintf(path, sizeof path, "%s/tiny.tflite", dir);
    if (reef_tflite_read(path, &g, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/test.ds", dir);
    if (reef_dataset_load(path, &test, &err)) fail_msg("%s", err.msg);
    uint16_t pred[200];
    if (reef_int8_predict(&g, &test, NULL, 0, pred, &err)) fail_msg("%s", err.msg);
    int ok = 0;
    for (uint32_t i = 0; i < test.count; i++) ok += pred[i] == test.labels[i];
    assert_float_equal(cli_acc, (double)ok / test.count, 1e-9);
    // ... and the float checkpoint's report has the same keys
    snprintf(cmd, sizeof cmd, "%s eval --model %s/tiny.ckpt --data %s/test.ds --json", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    printf("  float %.3f, int8 %.3f (eval --json)\n", json_accuracy(out), cli_acc);
    assert_true(json_accuracy(out) > 0.75 && fabs(json_accuracy(out) - cli_acc) < 0.03);
    assert_non_null(strstr(out, "\"format\":\"float\""));
    // text report
    snprintf(cmd, sizeof cmd, "%s eval --model %s/tiny.tflite --data %s/test.ds", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "(int8 tiny) on"));
    // reef gen takes it
    snprintf(cmd, sizeof cmd, "%s gen --model %s/tiny.tflite -o %s/c", bin, dir, dir);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    snprintf(path, sizeof path, "%s/c", dir);
    assert_int_equal(testing_count_files(path), 2);
    reef_graph_free(&g);
    reef_dataset_free(&test);
}

/* Each bad run: nonzero exit, a message, no output file. */
static void refused(const char *cmd, int want_status, const char *want_msg)
{
    char path[400];
    snprintf(path, sizeof path, "%s/bad.tflite", dir);
    unlink(path);
    int rc = testing_run(cmd, out, sizeof out);
    printf("  exit %d: %s", rc, out);
    assert_int_equal(rc, want_status);
    assert_non_null(strstr(out, want_msg));
    assert_int_equal(access(path, F_OK), -1);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) skip();
    char cmd[4096], path[400];
    uint8_t *ck;
    size_t size;
    reef_error err;
    snprintf(path, sizeof path, "%s/tiny.ckpt", dir);
    if (reef_read_file(path, &ck, &size, &err)) fail_msg("%s", err.msg);
    // a flipped byte in the weights
    ck[size / 2] ^= 0x40;
    snprintf(path, sizeof path, "%s/flipped.ckpt", dir);
    if (reef_write_file(path, ck, size, &err)) fail_msg("%s", err.msg);
    ck[size / 2] ^= 0x40;
    snprintf(cmd, sizeof cmd, "%s quantize --model %s --calib %s/train.ds -o %s/bad.tflite", bin, path, dir, dir);
    refused(cmd, 1, "flipped.ckpt");
    // truncated
    snprintf(path, sizeof path, "%s/short.ckpt", dir);
    if (reef_write_file(path, ck, size - 100, &err)) fail_msg("%s", err.msg);
    snprintf(cmd, sizeof cmd, "%s quantize --model %s --calib %s/train.ds -o %s/bad.tflite", bin, path, dir, dir);
    refused(cmd, 1, "short.ckpt");
    free(ck);
    // not a checkpoint at all
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/train.ds --calib %s/train.ds -o %s/bad.tflite", bin, dir, dir, dir);
    refused(cmd, 1, "train.ds");
    // missing calibration data
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/tiny.ckpt --calib %s/nope.ds -o %s/bad.tflite", bin, dir, dir, dir);
    refused(cmd, 1, "nope.ds");
    // output folder that does not exist
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/tiny.ckpt --calib %s/train.ds -o %s/no/bad.tflite", bin, dir, dir,
             dir);
    refused(cmd, 1, "bad.tflite");
    // options
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/tiny.ckpt --calib %s/train.ds --method kl -o %s/bad.tflite", bin,
             dir, dir, dir);
    refused(cmd, 2, "minmax, percentile or mse");
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/tiny.ckpt --calib %s/train.ds -n 0 -o %s/bad.tflite", bin, dir,
             dir, dir);
    refused(cmd, 2, "--samples");
    snprintf(cmd, sizeof cmd, "%s quantize --model %s/tiny.ckpt --calib %s/train.ds", bin, dir, dir);
    refused(cmd, 2, "required");
    // eval of a damaged .tflite
    snprintf(path, sizeof path, "%s/tiny.tflite", dir);
    if (reef_read_file(path, &ck, &size, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/cut.tflite", dir);
    if (reef_write_file(path, ck, size / 2, &err)) fail_msg("%s", err.msg);
    free(ck);
    snprintf(cmd, sizeof cmd, "%s eval --model %s --data %s/test.ds", bin, path, dir);
    refused(cmd, 1, "cut.tflite");
    assert_int_equal(testing_count_files(dir), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_quantize_eval), cmocka_unit_test(test_bad_input)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
