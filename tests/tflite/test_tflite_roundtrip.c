/* The writer: MLPerf models and a graph built in code are written, read
 * back and compared field by field; writing the re-read graph gives the
 * same bytes; constant data lies 16-byte aligned in the file; and flatc
 * (when installed) decodes reef's output with TFLite's own schema. */
#include "testing.h"

#include "graph_compare.h"
#include "models.h"
#include "tflite/internal.h"
#include "util/io.h"

/* Reads, serializes, re-reads and compares; checks byte-stable rewrite. */
static void roundtrip(const reef_graph *g, uint8_t **bytes, size_t *size)
{
    reef_error err;
    if (reef_tflite_serialize(g, bytes, size, &err)) fail_msg("%s", err.msg);
    reef_graph back;
    char name[256]; /* the reader names the graph after the file */
    snprintf(name, sizeof name, "%s.tflite", g->name);
    if (reef_tflite_read_buffer(*bytes, *size, name, &back, &err)) fail_msg("%s", err.msg);
    compare_graphs(g, &back);
    uint8_t *again;
    size_t again_size;
    if (reef_tflite_serialize(&back, &again, &again_size, &err)) fail_msg("%s", err.msg);
    assert_int_equal(again_size, *size);
    assert_memory_equal(again, *bytes, *size);
    free(again);
    reef_graph_free(&back);
}

/* Walks Model.buffers of a file with the reader's own checked accessors:
 * every non-empty data vector starts 16-byte aligned; buffer 0 is empty. */
static void check_buffer_alignment(const uint8_t *bytes, size_t size, int expected_nonempty)
{
    reef_error err;
    fbr r = {bytes, size, "written", &err};
    fbr_table model, buf;
    fbr_vec buffers, data;
    uint32_t root = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 | (uint32_t)bytes[3] << 24;
    assert_int_equal(fbr_table_at(&r, root, &model, "model"), 0);
    assert_int_equal(fbr_vector(&r, &model, 4, 4, &buffers, "buffers"), 0);
    int nonempty = 0;
    for (uint32_t i = 0; i < buffers.count; i++) {
        assert_int_equal(fbr_vector_table(&r, &buffers, i, &buf, "buffer"), 0);
        assert_int_equal(fbr_vector(&r, &buf, 0, 1, &data, "data"), 0);
        if (i == 0) assert_int_equal(data.count, 0);
        if (data.count) {
            assert_int_equal(data.data % 16, 0);
            nonempty++;
        }
    }
    assert_int_equal(nonempty, expected_nonempty);
}

static int count_constants(const reef_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->ntensors; i++) n += g->tensors[i].data != NULL;
    return n;
}

static void test_mlperf_roundtrip(void **state)
{
    (void)state;
    for (int k = 0; k < MLPERF_NMODELS; k++) {
        char path[1024];
        if (!testing_shared_path(path, sizeof path, mlperf_models[k].file)) {
            skip();
            return;
        }
        reef_graph g;
        reef_error err;
        if (reef_tflite_read(path, &g, &err)) fail_msg("%s", err.msg);
        uint8_t *bytes;
        size_t size;
        roundtrip(&g, &bytes, &size);
        check_buffer_alignment(bytes, size, count_constants(&g));
        printf("%s: read and rewritten, %zu bytes\n", mlperf_models[k].key, size);
        free(bytes);
        reef_graph_free(&g);
    }
}

/* A graph that uses every op whose options reef decodes, a custom op, an op
 * with a code over 127, per-channel quantization and a scalar. */
static void build_all_ops(reef_graph *g)
{
    reef_error err;
    assert_int_equal(reef_graph_init(g, "all_ops", &err), 0);
    int32_t s_act[4] = {1, 8, 8, 4}, s_w[4] = {4, 3, 3, 4}, s_b[1] = {4}, s_fc[2] = {10, 256}, s_out[2] = {1, 10};
    int x = reef_graph_add_tensor(g, "x", REEF_INT8, 4, s_act, &err);
    int w = reef_graph_add_tensor(g, "w", REEF_INT8, 4, s_w, &err);
    int b = reef_graph_add_tensor(g, "b", REEF_INT32, 1, s_b, &err);
    int y = reef_graph_add_tensor(g, "y", REEF_INT8, 4, s_act, &err);
    int fw = reef_graph_add_tensor(g, "fc_w", REEF_INT8, 2, s_fc, &err);
    int out = reef_graph_add_tensor(g, "out", REEF_INT8, 2, s_out, &err);
    int scalar = reef_graph_add_tensor(g, "scalar", REEF_FLOAT32, 0, NULL, &err);
    assert_true(x >= 0 && w >= 0 && b >= 0 && y >= 0 && fw >= 0 && out >= 0 && scalar >= 0);
    float sc[4] = {0.01f, 0.02f, 0.03f, 0.04f}, s1 = 0.5f;
    int64_t zp4[4] = {0, 0, 0, 0}, zp1 = -3;
    assert_int_equal(reef_graph_set_quant(g, w, 4, sc, zp4, 0, &err), 0);
    assert_int_equal(reef_graph_set_quant(g, x, 1, &s1, &zp1, 0, &err), 0);
    int8_t wdata[144];
    for (int i = 0; i < 144; i++) wdata[i] = (int8_t)(i * 7 - 50);
    int32_t bdata[4] = {1, -2, 300000, -4};
    static int8_t fdata[2560];
    for (int i = 0; i < 2560; i++) fdata[i] = (int8_t)(i % 251);
    float one = 1.0f;
    assert_int_equal(reef_graph_set_data(g, w, wdata, sizeof wdata, &err), 0);
    assert_int_equal(reef_graph_set_data(g, b, bdata, sizeof bdata, &err), 0);
    assert_int_equal(reef_graph_set_data(g, fw, fdata, sizeof fdata, &err), 0);
    assert_int_equal(reef_graph_set_data(g, scalar, &one, 4, &err), 0);
    assert_int_equal(reef_graph_set_data(g, b, bdata, 3, &err), -1); /* wrong size */

    int32_t conv_in[3] = {x, w, b}, io1[1] = {y}, xy[2] = {x, y}, fc_in[3] = {y, fw, -1}, o1[1] = {out};
    reef_op_options o;
    reef_op_options_init(&o);
    o.stride_w = 2, o.stride_h = 1, o.padding = REEF_PAD_VALID, o.activation = REEF_ACT_RELU6;
    o.dilation_w = 2;
    assert_true(reef_graph_add_op(g, REEF_OP_CONV_2D, conv_in, 3, io1, 1, &o, &err) >= 0);
    o.depth_multiplier = 1;
    assert_true(reef_graph_add_op(g, REEF_OP_DEPTHWISE_CONV_2D, conv_in, 3, io1, 1, &o, &err) >= 0);
    reef_op_options_init(&o);
    o.filter_w = 3, o.filter_h = 2, o.stride_w = 2;
    assert_true(reef_graph_add_op(g, REEF_OP_AVERAGE_POOL_2D, &x, 1, io1, 1, &o, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_MAX_POOL_2D, &x, 1, io1, 1, &o, &err) >= 0);
    reef_op_options_init(&o);
    o.activation = REEF_ACT_RELU, o.keep_num_dims = 1;
    assert_true(reef_graph_add_op(g, REEF_OP_FULLY_CONNECTED, fc_in, 3, o1, 1, &o, &err) >= 0);
    reef_op_options_init(&o);
    o.beta = 0.5f;
    assert_true(reef_graph_add_op(g, REEF_OP_SOFTMAX, &out, 1, o1, 1, &o, &err) >= 0);
    reef_op_options_init(&o);
    o.axis = 3;
    assert_true(reef_graph_add_op(g, REEF_OP_CONCATENATION, xy, 2, io1, 1, &o, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_ADD, xy, 2, io1, 1, NULL, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_MUL, xy, 2, io1, 1, NULL, &err) >= 0);
    reef_op_options_init(&o);
    o.nnew_shape = 2, o.new_shape[0] = 1, o.new_shape[1] = -1;
    assert_true(reef_graph_add_op(g, REEF_OP_RESHAPE, &y, 1, o1, 1, &o, &err) >= 0);
    o.nnew_shape = 1, o.new_shape[0] = 0;
    assert_true(reef_graph_add_op(g, REEF_OP_SQUEEZE, &y, 1, o1, 1, &o, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_RESHAPE, &y, 1, o1, 1, NULL, &err) >= 0);
    reef_op_options_init(&o);
    o.keep_dims = 1;
    assert_true(reef_graph_add_op(g, REEF_OP_MEAN, xy, 2, io1, 1, &o, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_PAD, xy, 2, io1, 1, NULL, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_QUANTIZE, &x, 1, io1, 1, NULL, &err) >= 0);
    assert_true(reef_graph_add_op(g, REEF_OP_DEQUANTIZE, &x, 1, io1, 1, NULL, &err) >= 0);
    assert_true(reef_graph_add_op(g, 67 /* TRANSPOSE_CONV */, &x, 1, io1, 1, NULL, &err) >= 0);
    assert_true(reef_graph_add_op(g, 150 /* GELU */, &x, 1, io1, 1, NULL, &err) >= 0);
    int custom = reef_graph_add_op(g, 32, &x, 1, io1, 1, NULL, &err);
    assert_true(custom >= 0);
    g->ops[custom].custom_code = "MyOp"; /* a literal: the graph never frees it */
    int32_t bad = 100;
    assert_int_equal(reef_graph_add_op(g, REEF_OP_ADD, xy, 2, &bad, 1, NULL, &err), -1);
    assert_int_equal(reef_graph_set_io(g, &x, 1, &out, 1, &err), 0);
    assert_int_equal(reef_graph_set_description(g, "reef test graph", &err), 0);
    reef_class_names classes;
    static const char *const names[2] = {"no_fish", "fish"};
    assert_int_equal(reef_class_names_pack(&classes, names, 2, &err), 0);
    assert_int_equal(reef_graph_set_class_names(g, &classes, &err), 0);
    reef_class_names_free(&classes);
}

static void test_built_graph_roundtrip(void **state)
{
    (void)state;
    reef_graph g;
    build_all_ops(&g);
    uint8_t *bytes;
    size_t size;
    roundtrip(&g, &bytes, &size);
    check_buffer_alignment(bytes, size, 5); /* 4 constants and the class names */
    reef_error err;
    assert_int_equal(reef_graph_unsupported_ops(&g, &err), 3); /* TRANSPOSE_CONV GELU CUSTOM */
    assert_non_null(strstr(err.msg, "TRANSPOSE_CONV (op 16)"));
    assert_non_null(strstr(err.msg, "builtin code 150 (op 17)"));
    assert_non_null(strstr(err.msg, "CUSTOM:MyOp (op 18)"));
    /* The built graph's ops count MACs: conv 1*8*8*4 outputs x 3*3*4 */
    assert_int_equal(reef_op_macs(&g, &g.ops[0]), 256 * 36);
    assert_int_equal(reef_op_macs(&g, &g.ops[1]), 256 * 9);
    assert_int_equal(reef_op_macs(&g, &g.ops[4]), 10 * 256);
    free(bytes);
    reef_graph_free(&g);
}

/* reef_tflite_write is atomic and leaves only the target file. */
static void test_write_file(void **state)
{
    (void)state;
    reef_graph g, back;
    build_all_ops(&g);
    char dir[256], path[512];
    testing_tmpdir(dir, sizeof dir, "tflite-write");
    snprintf(path, sizeof path, "%s/all_ops.tflite", dir);
    reef_error err;
    if (reef_tflite_write(path, &g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(testing_count_files(dir), 1);
    if (reef_tflite_read(path, &back, &err)) fail_msg("%s", err.msg);
    assert_string_equal(back.name, "all_ops");
    compare_graphs(&g, &back);
    reef_graph_free(&back);
    g.ops[0].inputs[0] = 99; /* a bad graph is refused, nothing written */
    snprintf(path, sizeof path, "%s/bad.tflite", dir);
    assert_int_equal(reef_tflite_write(path, &g, &err), -1);
    assert_non_null(strstr(err.msg, "tensor index 99 is out of range"));
    assert_int_equal(testing_count_files(dir), 1);
    reef_graph_free(&g);
    snprintf(path, sizeof path, "%s/all_ops.tflite", dir);
    unlink(path);
    rmdir(dir);
}

/* Removes all whitespace in place. */
static void compact(char *s)
{
    char *out = s;
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t') *out++ = *s;
    *out = '\0';
}

/* flatc with TFLite's schema.fbs decodes what reef wrote. */
static void test_flatc_decodes(void **state)
{
    (void)state;
    const char *src = getenv("REEF_SOURCE");
    char schema[1024], dir[256], cmd[4096], json_path[600];
    snprintf(schema, sizeof schema, "%s/tests/tflite/schema.fbs", src ? src : "../..");
    if (system("flatc --version >/dev/null 2>&1") != 0 || access(schema, R_OK) != 0) {
        printf("[  SKIPPED ] flatc or %s is not there (scripts/deps.sh installs flatbuffers-compiler)\n", schema);
        skip();
        return;
    }
    reef_graph g;
    build_all_ops(&g);
    testing_tmpdir(dir, sizeof dir, "tflite-flatc");
    char path[512];
    snprintf(path, sizeof path, "%s/m.tflite", dir);
    reef_error err;
    if (reef_tflite_write(path, &g, &err)) fail_msg("%s", err.msg);
    snprintf(cmd, sizeof cmd, "cd %s && flatc --json --strict-json --raw-binary %s -- m.tflite 2>&1", dir, schema);
    assert_int_equal(system(cmd), 0);
    snprintf(json_path, sizeof json_path, "%s/m.json", dir);
    uint8_t *json;
    size_t json_size;
    if (reef_read_file(json_path, &json, &json_size, &err)) fail_msg("%s", err.msg);
    char *text = realloc(json, json_size + 1);
    text[json_size] = '\0';
    /* key fields as TFLite's schema names them (whitespace ignored) */
    const char *expect[] = {"\"version\": 3", "\"description\": \"reef test graph\"", "\"builtin_code\": \"CONV_2D\"",
                            "\"deprecated_builtin_code\": 127", "\"builtin_code\": \"GELU\"",
                            "\"custom_code\": \"MyOp\"", "\"builtin_options_type\": \"Conv2DOptions\"",
                            "\"stride_w\": 2", "\"dilation_w_factor\": 2", "\"fused_activation_function\": \"RELU6\"",
                            "\"builtin_options_type\": \"ReducerOptions\"", "\"keep_dims\": true",
                            "\"builtin_options_type\": \"QuantizeOptions\"", "\"beta\": 0.5", "\"name\": \"fc_w\"",
                            "\"zero_point\": [-3]", "\"quantized_dimension\": 0", "\"filter_height\": 2",
                            "\"new_shape\": [1, -1]", "\"type\": \"INT32\"", "\"squeeze_dims\": [0]",
                            "\"metadata\": [{\"name\": \"reef_class_names\", \"buffer\": 5}]"};
    compact(text);
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s", expect[i]);
        compact(want);
        if (!strstr(text, want)) fail_msg("flatc's JSON lacks %s", expect[i]);
    }
    free(text);
    unlink(json_path);
    unlink(path);
    rmdir(dir);
    reef_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlperf_roundtrip),
        cmocka_unit_test(test_built_graph_roundtrip),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_flatc_decodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
