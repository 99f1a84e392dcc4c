/* `reef inspect`: text and JSON on an MLPerf model, an unsupported op
 * listed with exit 0, and a damaged file refused with exit 1. */
#include "testing.h"

#include "models.h"
#include "tflite/graph.h"

static char out[1 << 20];

static void test_inspect_kws(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char path[1024], cmd[4096];
    if (!bin || !testing_shared_path(path, sizeof path, mlperf_models[0].file)) {
        skip();
        return;
    }
    snprintf(cmd, sizeof cmd, "%s inspect --model %s", bin, path);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "MACs: 2656768"));
    assert_non_null(strstr(out, "CONV_2D x5, DEPTHWISE_CONV_2D x4"));
    assert_non_null(strstr(out, "all operators are supported"));
    snprintf(cmd, sizeof cmd, "%s inspect --json %s", bin, path);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"macs\":2656768"));
    assert_non_null(strstr(out, "\"unsupported\""));
    assert_non_null(strstr(out, "input_1"));
}

static void test_inspect_unsupported_and_damaged(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) {
        skip();
        return;
    }
    reef_graph g;
    reef_error err;
    assert_int_equal(reef_graph_init(&g, "odd", &err), 0);
    int32_t shape[2] = {1, 4};
    int x = reef_graph_add_tensor(&g, "x", REEF_INT8, 2, shape, &err);
    int y = reef_graph_add_tensor(&g, "y", REEF_INT8, 2, shape, &err);
    int z = reef_graph_add_tensor(&g, "z", REEF_INT8, 2, shape, &err);
    assert_int_equal(reef_graph_add_op(&g, 67 /* TRANSPOSE_CONV */, &x, 1, &y, 1, NULL, &err), 0);
    assert_int_equal(reef_graph_add_op(&g, 150 /* GELU */, &y, 1, &z, 1, NULL, &err), 1);
    assert_int_equal(reef_graph_set_io(&g, &x, 1, &z, 1, &err), 0);
    char dir[256], path[512], cmd[2048];
    testing_tmpdir(dir, sizeof dir, "inspect");
    snprintf(path, sizeof path, "%s/odd.tflite", dir);
    assert_int_equal(reef_tflite_write(path, &g, &err), 0);
    reef_graph_free(&g);
    snprintf(cmd, sizeof cmd, "%s inspect --model %s", bin, path);
    assert_int_equal(testing_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "2 unsupported operators: TRANSPOSE_CONV (op 0), builtin code 150 (op 1)"));

    FILE *fp = fopen(path, "r+b"); /* damage the identifier */
    assert_non_null(fp);
    fseek(fp, 4, SEEK_SET);
    fputs("NOPE", fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s inspect --model %s", bin, path);
    assert_int_equal(testing_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "file identifier is 'NOPE'"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect_kws),
        cmocka_unit_test(test_inspect_unsupported_and_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
