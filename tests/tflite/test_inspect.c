/* `reef inspect`: text and JSON on an MLPerf model, an unsupported op
 * listed with exit 0, a damaged file refused with exit 1, and ops of a
 * supported builtin that reef gen refuses as written (16x8 with an int16
 * bias, an int16 zero point) listed with index and reason. */
#include "testing.h"

#include "models.h"
#include "tflite/graph.h"

static char out[1 << 20];

/* Runs `reef inspect ARGS PATH` into out and checks its exit status. */
static void inspect(const char *bin, const char *args, const char *path, int want_status)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s inspect %s %s", bin, args, path);
    assert_int_equal(testing_run(cmd, out, sizeof out), want_status);
}

/* Writes g as DIR/NAME.tflite in a fresh temporary folder and frees it. */
static void write_model(reef_graph *g, const char *name, char *dir, size_t dir_size,
                        char *path, size_t path_size)
{
    reef_error err;
    testing_tmpdir(dir, dir_size, name);
    snprintf(path, path_size, "%s/%s.tflite", dir, name);
    assert_int_equal(reef_tflite_write(path, g, &err), 0);
    reef_graph_free(g);
}

static void test_inspect_kws(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    char path[1024];
    if (!bin || !testing_shared_path(path, sizeof path, mlperf_models[0].file)) {
        skip();
        return;
    }
    inspect(bin, "--model", path, 0);
    assert_non_null(strstr(out, "MACs: 2656768"));
    assert_non_null(strstr(out, "CONV_2D x5, DEPTHWISE_CONV_2D x4"));
    assert_non_null(strstr(out, "all operators are supported"));
    assert_non_null(strstr(out, "every op lowers to reef's runtime steps as written"));
    inspect(bin, "--json", path, 0);
    assert_non_null(strstr(out, "\"macs\":2656768"));
    assert_non_null(strstr(out, "\"unsupported\""));
    assert_non_null(strstr(out, "\"refused\":[]"));
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
    assert_int_equal(reef_graph_add_op(&g, 26 /* SPACE_TO_DEPTH */, &x, 1, &y, 1, NULL, &err), 0);
    assert_int_equal(reef_graph_add_op(&g, 150 /* GELU */, &y, 1, &z, 1, NULL, &err), 1);
    assert_int_equal(reef_graph_set_io(&g, &x, 1, &z, 1, &err), 0);
    char dir[256], path[512];
    write_model(&g, "odd", dir, sizeof dir, path, sizeof path);
    inspect(bin, "--model", path, 0);
    assert_non_null(strstr(out, "2 unsupported operators: SPACE_TO_DEPTH (op 0), builtin code 150 (op 1)"));

    FILE *fp = fopen(path, "r+b"); /* damage the identifier */
    assert_non_null(fp);
    fseek(fp, 4, SEEK_SET);
    fputs("NOPE", fp);
    fclose(fp);
    inspect(bin, "--model", path, 1);
    assert_non_null(strstr(out, "file identifier is 'NOPE'"));
    assert_int_equal(testing_rm_tree(dir), 0);
}

/* x (int16) -> FC (int16 bias) -> y -> FC (int64 bias) -> z -> FC (int64
 * bias, output zero point 5) -> w: ops 0 and 2 refused, op 1 lowers. */
static void test_inspect_refused_16x8(void **state)
{
    (void)state;
    const char *bin = testing_reef_bin();
    if (!bin) {
        skip();
        return;
    }
    reef_graph g;
    reef_error err;
    assert_int_equal(reef_graph_init(&g, "s16", &err), 0);
    int32_t shape[2] = {1, 2}, wshape[2] = {2, 2}, bshape[1] = {2};
    float scale = 0.01f;
    int64_t zp = 0, zp5 = 5, zeros[1] = {0}, b64[2] = {7, -7};
    int16_t b16[2] = {7, -7};
    int8_t w[4] = {1, -2, 3, -4};
    int t[4];
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        t[i] = reef_graph_add_tensor(&g, name, REEF_INT16, 2, shape, &err);
        assert_int_equal(reef_graph_set_quant(&g, t[i], 1, &scale, i == 3 ? &zp5 : &zp, 0, &err), 0);
    }
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", k);
        int wt = reef_graph_add_tensor(&g, name, REEF_INT8, 2, wshape, &err);
        assert_int_equal(reef_graph_set_quant(&g, wt, 1, &scale, zeros, 0, &err), 0);
        assert_int_equal(reef_graph_set_data(&g, wt, w, 4, &err), 0);
        snprintf(name, sizeof name, "b%d", k);
        int bt = reef_graph_add_tensor(&g, name, k ? REEF_INT64 : REEF_INT16, 1, bshape, &err);
        assert_int_equal(reef_graph_set_data(&g, bt, k ? (const void *)b64 : (const void *)b16, k ? 16 : 4, &err), 0);
        int ins[3] = {t[k], wt, bt};
        assert_int_equal(reef_graph_add_op(&g, REEF_OP_FULLY_CONNECTED, ins, 3, &t[k + 1], 1, NULL, &err), k);
    }
    assert_int_equal(reef_graph_set_io(&g, &t[0], 1, &t[3], 1, &err), 0);
    char dir[256], path[512];
    write_model(&g, "s16", dir, sizeof dir, path, sizeof path);
    inspect(bin, "--model", path, 0);
    assert_non_null(strstr(out, "all operators are supported"));
    assert_non_null(strstr(out, "ops reef gen refuses as written:"));
    assert_non_null(strstr(out, "op 0 FULLY_CONNECTED: fully connected (16x8): tensor 5 'b0' is int16, expected int64"));
    assert_null(strstr(out, "op 1 FULLY_CONNECTED"));
    assert_non_null(strstr(out, "op 2 FULLY_CONNECTED: tensor 3 't3' is int16 with zero point 5"));
    inspect(bin, "--json --model", path, 0);
    assert_non_null(strstr(out, "\"refused\":[{\"op\":0,\"name\":\"FULLY_CONNECTED\",\"reason\":\"fully connected (16x8): tensor 5 'b0' is int16"));
    assert_int_equal(testing_rm_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect_kws),
        cmocka_unit_test(test_inspect_unsupported_and_damaged),
        cmocka_unit_test(test_inspect_refused_16x8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
